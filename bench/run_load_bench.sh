#!/usr/bin/env bash
# A multi-GB checkpoint of Mistral-7B's layer shapes (random, bfloat16, sharded; --layers of them,
# default 4: 2.3 GB) loaded and run by mechlens in bf16 and f32, each in its own process, and by
# Hugging Face transformers (the reference environment's PyPI torch) the same way: load time, peak
# resident memory against the file size, forward tokens/s, as a Markdown table with ratios.
# usage: run_load_bench.sh [--layers L] [--tokens N] [--dir DIR]   (DIR keeps the checkpoint)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MECHLENS_BUILD_DIR:-$root/build}
layers=4 tokens=128 dir=""
while [ $# -gt 0 ]; do
  case $1 in
    --layers) layers=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
MECHLENS_BUILD_TARGET=load_bench bash "$root/scripts/build.sh"
python=$(bash "$root/scripts/setup_python.sh")
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
if [ -z "$dir" ]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
fi
"$python" "$root/bench/load_baseline.py" "$dir/model" make --layers "$layers"
results=$(mktemp)
for dtype in bf16 f32; do
  "$build/bench/load_bench" "$dir/model" "$dtype" --tokens "$tokens" >>"$results"
  "$python" "$root/bench/load_baseline.py" "$dir/model" time "$dtype" --tokens "$tokens" >>"$results"
done
"$python" - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"checkpoint: {rows[0]['file_gb']:.2f} GB on disk (bfloat16), prompt of {rows[0]['tokens']} tokens\n")
print("| dtype | tool | load | peak RSS by the end of loading (/ file size) | peak RSS after a forward (/ file size) | forward tokens/s | mechlens / transformers |")
print("|---|---|---|---|---|---|---|")
for dtype in ("bf16", "f32"):
    ours = next(r for r in rows if r["tool"] == "mechlens" and r["dtype"] == dtype)
    ref = next(r for r in rows if r["tool"] == "transformers" and r["dtype"] == dtype)
    for r in (ours, ref):
        ratio = f"{ours['tokens_per_s'] / ref['tokens_per_s']:.2f}x" if r is ours else ""
        print(f"| {dtype} | {r['tool']} | {r['load_s']:.1f} s | {r['load_peak_rss_gb']:.2f} GB "
              f"({r['load_peak_rss_gb'] / r['file_gb']:.2f}) | {r['peak_rss_gb']:.2f} GB "
              f"({r['peak_rss_gb'] / r['file_gb']:.2f}) | {r['tokens_per_s']:.1f} | {ratio} |")
PY
rm -f "$results"
