#!/usr/bin/env bash
# Parity of one model config: mechlens builds and runs the model with every hook cached, then the
# independent PyTorch reference recomputes every hook and compares (equal-length and padded batches).
# usage: run_parity.sh MECHLENS_BIN PYTHON CONFIG.json WORK_DIR
set -euo pipefail
mechlens=$1 python=$2 config=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$config" .json)
mkdir -p "$work"
"$mechlens" init --config "$config" --out "$work/$name.safetensors" --force >/dev/null
for prompts in prompts_equal prompts_ragged; do
  "$mechlens" run --checkpoint "$work/$name.safetensors" --tokens-file "$here/$prompts.txt" \
    --cache '*' --save-cache "$work/$name.$prompts.cache.safetensors" --force >/dev/null
  "$python" "$here/reference_forward.py" "$work/$name.safetensors" "$work/$name.$prompts.cache.safetensors" --tol 1e-5
done
