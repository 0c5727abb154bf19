#!/usr/bin/env bash
# Runs a parity script (default transformer_lens_parity.py) with the reference environment's python
# (MECHLENS_REFERENCE_PYTHON, set by scripts/test.sh); exit 77 (skipped) when there is none.
# usage: run_transformer_lens_parity.sh MECHLENS_BIN WORK_DIR [SCRIPT]
set -euo pipefail
python=${MECHLENS_REFERENCE_PYTHON:-}
if [ -z "$python" ] || [ ! -x "$python" ]; then
  echo "skipped: no reference environment (run scripts/setup_python.sh and set MECHLENS_REFERENCE_PYTHON)"
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$2" && mkdir -p "$2"
TQDM_DISABLE=1 "$python" "$here/${3:-transformer_lens_parity.py}" "$1" "$2"
