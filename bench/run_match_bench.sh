#!/usr/bin/env bash
# Matching scores of a 12-layer x 12-head d_model 768 model over 1,000 tokens: mechlens against the
# same computation in plain PyTorch (Debian's python3-torch) on the same saved weights.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MECHLENS_BUILD_DIR:-$root/build}
MECHLENS_BUILD_TARGET=match_bench bash "$root/scripts/build.sh"
python=/usr/bin/python3
[ -x "$python" ] || python=python3
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bench/match_bench" "$work"
"$python" "$root/bench/match_baseline.py" "$work"
