#!/usr/bin/env bash
# The main job on a shipped default: build mechlens, create the small demo model from its config,
# describe it, then run it on a batch of prompts with every hook cached and show what each hook holds.
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
