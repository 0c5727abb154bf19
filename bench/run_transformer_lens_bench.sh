#!/usr/bin/env bash
# mechlens against TransformerLens (installed by scripts/setup_python.sh) on the same weights and
# prompts, one thread each by default (THREADS=N for more): run_with_cache and three patching sweeps,
# as ratios, with each sweep's time against its work at the machine's GEMM rate.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MECHLENS_BUILD_DIR:-$root/build}
MECHLENS_BUILD_TARGET=transformer_lens_bench bash "$root/scripts/build.sh"
python=$(bash "$root/scripts/setup_python.sh")
threads=${THREADS:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
OMP_NUM_THREADS=$threads MECHLENS_NUM_THREADS=$threads TQDM_DISABLE=1 \
  "$python" "$root/bench/transformer_lens_bench.py" "$build/bench/transformer_lens_bench" "$work" "$@"
