#!/bin/sh
# Builds the libFuzzer harnesses (fuzz_npy: tg_npy_read_mem, fuzz_checkpoint: tg_checkpoint_load)
# with clang + ASan + UBSan against engine/*.c and ops/*.c, then runs each for a bounded time.
# Exits non-zero if a build fails or a harness finds a crash, a leak or undefined behaviour;
# the input that triggered it is kept as $OUT/<harness>-{crash,leak,oom,timeout}-*.
#
# Usage: tests/fuzz/run.sh [seconds per harness, default 30]
# Env:   OUT (build and working-corpus directory, default build-fuzz/ in the repository),
#        CC (default clang), JOBS (parallel compiles, default nproc).
#
# The seeds in corpus_npy/ and corpus_checkpoint/ are valid files: tg_npy_write and
# tg_checkpoint_save output, and numpy 1.24's np.save (format 1.0/2.0/3.0), np.savez and
# np.savez_compressed of the graph fuzz_checkpoint.c loads into. They are only read; new
# inputs go to the working corpus under $OUT. npy.dict and checkpoint.dict give libFuzzer the
# format's tokens.
set -eu

secs=${1:-30}
case $secs in '' | *[!0-9]*) echo "usage: $0 [seconds]" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/build-fuzz}
cc=${CC:-clang}
jobs=${JOBS:-$(nproc)}

# The library is instrumented for coverage (fuzzer-no-link); only the harnesses link libFuzzer.
san="address,undefined"
cflags="-std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -I$root/engine -I/usr/include/graphviz"
libs="-lblis -lfftw3 -lfftw3f -lcgraph -lgvc -lzip -lm -lpthread"

# Waits for the background compiles; any failure fails the script.
pids=""
wait_all() {
	for p in $pids; do wait "$p" || { echo "compile failed" >&2; exit 1; }; done
	pids=""
}

mkdir -p "$out/obj"
rm -f "$out"/obj/*.o
echo "building the library objects in $out/obj"
n=0
for f in "$root"/engine/*.c "$root"/ops/*.c; do
	o="$out/obj/$(basename "$(dirname "$f")")_$(basename "$f" .c).o"
	# shellcheck disable=SC2086
	$cc $cflags -fsanitize=fuzzer-no-link,$san -fno-sanitize-recover=all -c "$f" -o "$o" &
	pids="$pids $!"
	n=$((n + 1))
	if [ $((n % jobs)) -eq 0 ]; then wait_all; fi
done
wait_all
for h in npy checkpoint; do
	echo "linking fuzz_$h"
	# shellcheck disable=SC2086
	$cc $cflags -fsanitize=fuzzer,$san -fno-sanitize-recover=all -o "$out/fuzz_$h" "$here/fuzz_$h.c" "$out"/obj/*.o $libs
done

status=0
for h in npy checkpoint; do
	mkdir -p "$out/corpus_$h"
	echo "fuzzing $h for $secs s"
	if ! "$out/fuzz_$h" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$out/$h-" -dict="$here/$h.dict" \
		"$out/corpus_$h" "$here/corpus_$h"; then
		echo "fuzz_$h FAILED: see $out/$h-{crash,leak,oom,timeout}-*" >&2
		status=1
	fi
done
exit $status
