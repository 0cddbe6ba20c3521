#!/bin/sh
# Builds the libFuzzer harnesses (fuzz_npy: tg_npy_read_mem, fuzz_checkpoint: tg_checkpoint_load,
# fuzz_cli: the `tgraph` command line) with clang + ASan + UBSan against engine/, ops/ and models/
# (and tools/ for fuzz_cli), then runs each for a bounded time.
# Exits non-zero if a build fails or a harness finds a crash, a leak or undefined behaviour;
# the input that triggered it is kept as $OUT/<harness>-{crash,leak,oom,timeout}-*.
#
# Usage: tests/fuzz/run.sh [seconds per harness, default 30]
# Env:   OUT (build and working-corpus directory, default build-fuzz/ in the repository),
#        CC (default clang), JOBS (parallel compiles, default nproc).
#
# The seeds in corpus_npy/ and corpus_checkpoint/ are valid files: tg_npy_write and
# tg_checkpoint_save output, and numpy 1.24's np.save (format 1.0/2.0/3.0), np.savez and
# np.savez_compressed of the graph fuzz_checkpoint.c loads into. The seeds in corpus_cli/ are
# command lines, arguments separated by NUL bytes. Seeds are only read; new inputs go to the
# working corpus under $OUT. npy.dict, checkpoint.dict and cli.dict give libFuzzer the tokens.
set -eu

secs=${1:-30}
case $secs in '' | *[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/build-fuzz}
mkdir -p "$out"
out=$(cd "$out" && pwd)   # absolute: fuzz_cli changes its working directory
cc=${CC:-clang}
jobs=${JOBS:-$(nproc)}

# The library is instrumented for coverage (fuzzer-no-link); only the harnesses link libFuzzer.
san="address,undefined"
cflags="-std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -I$root/engine -I$root/tools -I/usr/include/graphviz"
libs="-lblis -lfftw3 -lfftw3f -lcgraph -lgvc -lzip -lm -lpthread"

# Waits for the background compiles; any failure fails the script.
pids=""
wait_all() {
	for p in $pids; do wait "$p" || { echo "compile failed" >&2; exit 1; }; done
	pids=""
}

# The library goes to obj/, the command-line tool to obj_cli/ (its main renamed tgraph_main, which
# fuzz_cli calls), so only fuzz_cli links the tool.
mkdir -p "$out/obj" "$out/obj_cli"
rm -f "$out"/obj/*.o "$out"/obj_cli/*.o
echo "building the library and tool objects in $out/obj, $out/obj_cli"
n=0
for f in "$root"/engine/*.c "$root"/ops/*.c "$root"/models/*.c "$root"/tools/*.c; do
	d=$(basename "$(dirname "$f")")
	o="$out/obj/${d}_$(basename "$f" .c).o"
	extra=""
	if [ "$d" = tools ]; then
		o="$out/obj_cli/$(basename "$f" .c).o"
		extra="-Dmain=tgraph_main"
	fi
	# shellcheck disable=SC2086
	$cc $cflags $extra -fsanitize=fuzzer-no-link,$san -fno-sanitize-recover=all -c "$f" -o "$o" &
	pids="$pids $!"
	n=$((n + 1))
	if [ $((n % jobs)) -eq 0 ]; then wait_all; fi
done
wait_all
harnesses="npy checkpoint cli"
for h in $harnesses; do
	echo "linking fuzz_$h"
	tool=""
	if [ "$h" = cli ]; then tool="$out/obj_cli/*.o"; fi
	# shellcheck disable=SC2086
	$cc $cflags -fsanitize=fuzzer,$san -fno-sanitize-recover=all -o "$out/fuzz_$h" "$here/fuzz_$h.c" $tool "$out"/obj/*.o $libs
done

status=0
for h in $harnesses; do
	mkdir -p "$out/corpus_$h"
	# the tool prints on every call: libFuzzer keeps its own (and the sanitizers') reports
	quiet=""
	if [ "$h" = cli ]; then quiet="-close_fd_mask=3"; fi
	echo "fuzzing $h for $secs s"
	# shellcheck disable=SC2086
	if ! "$out/fuzz_$h" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$out/$h-" -dict="$here/$h.dict" \
		$quiet "$out/corpus_$h" "$here/corpus_$h"; then
		echo "fuzz_$h FAILED: see $out/$h-{crash,leak,oom,timeout}-*" >&2
		status=1
	fi
done
exit $status
