#!/usr/bin/env bash
# Linear-probe training throughput: mechlens's probe against the same probe written directly in plain
# PyTorch (Debian's python3-torch) on the same saved features, as a ratio.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MECHLENS_BUILD_DIR:-$root/build}
MECHLENS_BUILD_TARGET=probe_bench bash "$root/scripts/build.sh"
python=/usr/bin/python3
[ -x "$python" ] || python=python3
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build/bench/probe_bench" "$work" "$@" | tee "$work/ours.jsonl"
"$python" "$root/bench/probe_baseline.py" "$work" "$work/ours.jsonl"
