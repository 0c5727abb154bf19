#!/usr/bin/env bash
# Activation patching sweeps (resid_pre, head_z by position) on the shipped 3-layer logic model and on
# a 12-layer d_model 768 model: mechlens's batched sweep against (a) its own one-forward-per-index loop
# and (b) a TransformerLens-style plain-PyTorch loop (Debian's python3-torch), same prompts, same run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${MECHLENS_BUILD_DIR:-$root/build}
MECHLENS_BUILD_TARGET=patch_bench bash "$root/scripts/build.sh"
python=/usr/bin/python3
[ -x "$python" ] || python=python3
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for size in small large; do
  "$build/bench/patch_bench" "$size" "$work"
  if [ "$size" = small ]; then
    "$python" "$root/bench/patch_baseline.py" "$work" resid_pre
    "$python" "$root/bench/patch_baseline.py" "$work" head_z
  else
    "$python" "$root/bench/patch_baseline.py" "$work" resid_pre --max-runs 64
    "$python" "$root/bench/patch_baseline.py" "$work" head_z --positions=-4: --max-runs 48
  fi
  echo
done
