#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the whole ctest suite (unit tests, CLI
# checks, parity with the plain-PyTorch reference and with TransformerLens, the viewer in headless
# Chromium, the notebooks executed). Extra arguments go to ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/build.sh"
MECHLENS_REFERENCE_PYTHON=$(bash "$root/scripts/setup_python.sh")
bash "$root/scripts/setup_browser.sh"
bash "$root/scripts/setup_notebooks.sh"
MECHLENS_GPT2_TOKENIZER=$(bash "$root/scripts/setup_tokenizers.sh" gpt2)
MECHLENS_MISTRAL_TOKENIZER=$(bash "$root/scripts/setup_tokenizers.sh" mistral)
MECHLENS_MINILM=$(bash "$root/scripts/setup_minilm.sh")
export MECHLENS_REFERENCE_PYTHON MECHLENS_GPT2_TOKENIZER MECHLENS_MISTRAL_TOKENIZER MECHLENS_MINILM
cd "${MECHLENS_BUILD_DIR:-$root/build}"
ctest --output-on-failure -j "$(nproc)" "$@"
