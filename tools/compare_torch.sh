#!/usr/bin/env bash
# Runs `tgraph bench --json` and the peer's PyTorch benchmark (torch_bench.py) one after the other
# with the same thread count, and prints torch_ms / tgraph_ms per matched benchmark (> 1: tgraph
# is faster). PyTorch runs with glibc's malloc tuned as in the peer README (its best case here).
# --rounds K alternates the two K times (the machine is shared and noisy: compare ratios measured
# side by side) and reports, per benchmark, the median over rounds of the per-round medians.
#   usage: tools/compare_torch.sh [--threads N] [--reps N] [--warmup N] [--rounds K] [PATH/torch_bench.py]
# The peer script path may also come from $TORCH_BENCH (default ../shared/peer/torch_bench.py,
# relative to the repository); the build directory from $BUILD_DIR (default build). Needs Debian's
# /usr/bin/python3 with python3-torch and python3-numpy; without them, says so and prints
# tgraph's side only.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=1 REPS=10 WARMUP=3 ROUNDS=1
PEER=${TORCH_BENCH:-../shared/peer/torch_bench.py}
PY=/usr/bin/python3
while [ $# -gt 0 ]; do
  case "$1" in
    --threads|--reps|--warmup|--rounds)
      [ $# -ge 2 ] || { echo "compare_torch.sh: $1 needs a value" >&2; exit 2; }
      case "$2" in ''|*[!0-9]*) echo "compare_torch.sh: $1 expects a non-negative integer, got '$2'" >&2; exit 2 ;; esac
      case "$1" in --threads) THREADS=$2 ;; --reps) REPS=$2 ;; --warmup) WARMUP=$2 ;; --rounds) ROUNDS=$2 ;; esac
      shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "compare_torch.sh: unknown argument '$1'" >&2; exit 2 ;;
    *) PEER=$1; shift ;;
  esac
done
[ "$ROUNDS" -ge 1 ] || { echo "compare_torch.sh: --rounds must be at least 1" >&2; exit 2; }
bash tools/build.sh
TGRAPH=${BUILD_DIR:-build}/tools/tgraph
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

TORCH_OK=1
if [ ! -f "$PEER" ]; then
  echo "compare_torch.sh: peer benchmark '$PEER' not found; showing tgraph only" >&2
  TORCH_OK=0
elif ! "$PY" -c 'import torch, numpy' 2> /dev/null; then
  echo "compare_torch.sh: PyTorch is not importable by $PY (Debian: apt-get install -y python3-torch python3-numpy);" \
    "showing tgraph only" >&2
  TORCH_OK=0
fi
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r/$ROUNDS: tgraph bench --threads $THREADS" >&2
  "$TGRAPH" bench --json --threads "$THREADS" --reps "$REPS" --warmup "$WARMUP" > "$TMP/tgraph.$r.json" ||
    echo "compare_torch.sh: some tgraph benchmarks failed (see above); comparing the rest" >&2
  if [ "$TORCH_OK" = 1 ]; then
    echo "== round $r/$ROUNDS: torch_bench.py --threads $THREADS (malloc tuned)" >&2
    MALLOC_MMAP_THRESHOLD_=1000000000 MALLOC_TRIM_THRESHOLD_=1000000000 MALLOC_TOP_PAD_=1000000000 \
      "$PY" "$PEER" --threads "$THREADS" --reps "$REPS" --warmup "$WARMUP" --json > "$TMP/torch.out"
    # the JSON is the last line that starts with '{' (torch may print warnings)
    grep '^{' "$TMP/torch.out" | tail -n 1 > "$TMP/torch.$r.json"
  fi
done

# The report needs only Python's standard library.
"$PY" - "$TMP" "$ROUNDS" "$TORCH_OK" "$THREADS" << 'PYEOF'
import json, statistics, sys
tmp, rounds, torch_ok, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
tg = [{r["name"]: r for r in json.load(open(f"{tmp}/tgraph.{i}.json"))} for i in range(1, rounds + 1)]
th = [json.load(open(f"{tmp}/torch.{i}.json")) for i in range(1, rounds + 1)] if torch_ok else []

def merged(runs, key):
    """Median over rounds of the medians, min of the mins, max of the maxes; None if missing."""
    rs = [r[key] for r in runs if isinstance(r.get(key), dict)]
    if not rs or len(rs) != len(runs):
        return None
    gf = [r["gflops"] for r in rs if r.get("gflops") is not None]
    return dict(median_ms=statistics.median(r["median_ms"] for r in rs), min_ms=min(r["min_ms"] for r in rs),
                max_ms=max(r["max_ms"] for r in rs), rounds=[r["median_ms"] for r in rs],
                gflops=statistics.median(gf) if gf else None, peak_bytes=rs[0].get("peak_bytes"))

def ms(r):
    return f'{r["median_ms"]:9.2f} ({r["min_ms"]:.1f}-{r["max_ms"]:.1f})'

print(f"tgraph, {threads} thread(s), {rounds} round(s): median ms (min-max)")
for name in tg[0]:
    r = merged(tg, name)
    if r:
        gf = f'{r["gflops"]:8.2f} GFLOP/s' if r["gflops"] is not None else ""
        peak = f'peak {r["peak_bytes"] / 2**20:8.1f} MiB' if r["peak_bytes"] is not None else ""
        print(f'  {name:30s} {ms(r):28s} {gf:17s} {peak}')
sg, step = merged(tg, "matmul_sgemm_1024"), merged(tg, "unet_train_step_b128")
if sg and sg["gflops"] and step and step["gflops"]:
    gflop = step["gflops"] * step["median_ms"] * 1e-3
    print(f'physical limit: U-Net step {gflop:.2f} GFLOP / square sgemm {sg["gflops"]:.1f} GFLOP/s = '
          f'{gflop / sg["gflops"] * 1e3:.0f} ms (tgraph median {step["median_ms"]:.0f} ms)')
if not torch_ok:
    print("\nno PyTorch comparison (see the message above)")
    sys.exit(0)
pairs = [
    ("unet_train_step_b128", "a_unet_fwd_bwd_adam_b128", "U-Net fwd+bwd+Adam"),
    ("unet_fwd_b128", "a_unet_fwd_only_nograd_b128", "U-Net forward"),
    ("conv2d_3x3_16_fwd_b128", "c_conv3x3_16to16_fwd_128x16x64x64_f32", "conv 3x3 16->16 fwd"),
    ("conv2d_3x3_16_fwd_bwd_b128", "c_conv3x3_16to16_fwd_bwd_128x16x64x64_f32", "conv 3x3 16->16 fwd+bwd"),
    ("diffuse_fwd_b128_f64", "b_fft_diffusion_rfft2_fwd_128x64x64_f64", "diffusion fwd vs torch rfft2"),
    ("diffuse_fwd_b128_f64", "b_fft_diffusion_complex_fft2_fwd_128x64x64_f64", "diffusion fwd vs torch fft2"),
    ("diffuse_fwd_bwd_b128_f64", "b_fft_diffusion_rfft2_fwd_bwd_128x64x64_f64", "diffusion fwd+bwd vs torch rfft2"),
    ("diffuse_fwd_bwd_b128_f64", "b_fft_diffusion_complex_fft2_fwd_bwd_128x64x64_f64", "diffusion fwd+bwd vs torch fft2"),
]
print(f'\ntorch {th[0].get("torch_version")} ({th[0].get("torch_num_threads")} threads) vs tgraph ({threads}): '
      "ratio = torch median / tgraph median (> 1: tgraph faster)")
print(f'  {"benchmark":34s} {"tgraph ms (min-max)":28s} {"torch ms (min-max)":28s} {"ratio":>6s} '
      f'{"min/min":>8s}  per-round ratios')
for mine, theirs, label in pairs:
    a, b = merged(tg, mine), merged(th, theirs)
    if not a or not b:
        print(f'  {label:34s} missing: {mine if not a else theirs}')
        continue
    per = [y / x for x, y in zip(a["rounds"], b["rounds"])]
    print(f'  {label:34s} {ms(a):28s} {ms(b):28s} {statistics.median(per):6.2f} {b["min_ms"] / a["min_ms"]:8.2f}  '
          + " ".join(f"{p:.2f}" for p in per))
PYEOF
