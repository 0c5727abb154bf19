#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole ctest suite (unit tests, CLI
# checks, parity with the plain-PyTorch reference and with TransformerLens, the viewer in headless
# Chromium, the notebooks executed). Extra arguments go to ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
# The test environment (TransformerLens venv, Chromium, notebook packages, tokenizer and encoder
# files) is mostly downloading: it installs in the background while the build compiles.
paths=$(mktemp -d)
trap 'rm -rf "$paths"' EXIT
(
  set -e
  bash "$root/scripts/setup_python.sh" >"$paths/python"
  bash "$root/scripts/setup_browser.sh"
  bash "$root/scripts/setup_notebooks.sh"
  bash "$root/scripts/setup_tokenizers.sh" gpt2 >"$paths/gpt2"
  bash "$root/scripts/setup_tokenizers.sh" mistral >"$paths/mistral"
  bash "$root/scripts/setup_minilm.sh" >"$paths/minilm"
) &
test_setup=$!
bash "$root/scripts/build.sh"
wait "$test_setup" || { echo "test.sh: installing the test environment failed (messages above)" >&2; exit 1; }
MECHLENS_REFERENCE_PYTHON=$(cat "$paths/python")
MECHLENS_GPT2_TOKENIZER=$(cat "$paths/gpt2")
MECHLENS_MISTRAL_TOKENIZER=$(cat "$paths/mistral")
MECHLENS_MINILM=$(cat "$paths/minilm")
export MECHLENS_REFERENCE_PYTHON MECHLENS_GPT2_TOKENIZER MECHLENS_MISTRAL_TOKENIZER MECHLENS_MINILM
cd "${MECHLENS_BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "$(nproc)" "$@"
