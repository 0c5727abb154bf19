#!/usr/bin/env bash
# The main job on a shipped default: build mechlens, create the small demo model from its config,
# describe it, run it on a batch of prompts with every hook cached and show what each hook holds,
# then record every layer's attention maps into an HDF5 file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
MECHLENS_BUILD_TARGET=mechlens bash "$root/scripts/build.sh"
build_dir=${MECHLENS_BUILD_DIR:-$root/build}
mechlens="$build_dir/src/cli/mechlens"
out="$build_dir/demo"
mkdir -p "$out"

echo "== mechlens init: a 3-layer model from data/configs/demo_small.json"
"$mechlens" init --config "$root/data/configs/demo_small.json" --out "$out/demo_small.safetensors"
echo
echo "== mechlens info: config, parameters and every hook point"
"$mechlens" info "$out/demo_small.safetensors"
echo
echo "== mechlens run: a padded batch of 3 prompts, every hook cached"
"$mechlens" run --checkpoint "$out/demo_small.safetensors" --tokens-file "$root/data/prompts/demo_prompts.txt" \
  --top-k 3 --cache '*' --save-cache "$out/demo_cache.safetensors"
echo
echo "== mechlens record: attention maps of every layer into HDF5 (docs/RECORD_FORMAT.md)"
"$mechlens" record --checkpoint "$out/demo_small.safetensors" --tokens "$root/data/prompts/demo_prompts.txt" \
  --hooks 'blocks.*.attn.hook_pattern' --out "$out/demo_patterns.h5"
echo "== reading it back with h5py"
python=/usr/bin/python3  # Debian's, with python3-h5py (a virtualenv's python3 may lack it)
[ -x "$python" ] || python=python3
"$python" - "$out/demo_patterns.h5" <<'PY'
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    for name, dataset in f["acts"].items():
        print(f"  {name}: {dataset.shape} {dataset.dtype} dims={dataset.attrs['dims']}")
PY
