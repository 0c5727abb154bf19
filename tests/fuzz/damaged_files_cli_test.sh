#!/usr/bin/env bash
# Every damaged and crafted file of the fuzz corpus, given to the mechlens binary as users would:
# `info` and `run` for checkpoints (safetensors, and torch.save beside a config), `init` for configs,
# `tokenize` for SentencePiece models, `record --tokens` and `patch --clean-record`
# for HDF5 files. Each either works (exit 0) or fails cleanly: exit 1 with the file named in the
# message, no crash, no hang, no output left at --out.
# usage: damaged_files_cli_test.sh MECHLENS_BIN CORPUS_DIR WORK_DIR
set -uo pipefail
mechlens=$1 corpus=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"

# Exit 0, or exit 1 naming the file; never a signal, a usage error or a hang.
clean_outcome() {
  local file=$1
  shift
  local out rc
  out=$(timeout 60 "$@" 2>&1)
  rc=$?
  if [ "$rc" -eq 0 ]; then
    ok
  elif [ "$rc" -eq 1 ] && grep -qF -- "$(basename "$file")" <<<"$out"; then
    ok
  else
    bad "$(basename "$file"): exit $rc: $(head -c 600 <<<"$out")"
  fi
  [ ! -e "$work/out.h5" ] || [ "$rc" -eq 0 ] || bad "$(basename "$file"): left $work/out.h5 after failing"
  rm -f "$work/out.h5" "$work/out.safetensors"
}

cat >"$work/tiny.json" <<'JSON'
{"n_layers": 1, "d_model": 8, "n_heads": 2, "d_head": 4, "d_mlp": 16, "n_ctx": 8, "d_vocab": 45, "seed": 1}
JSON
"$mechlens" init --config "$work/tiny.json" --out "$work/tiny.safetensors" >/dev/null

for file in "$corpus"/safetensors/*; do
  clean_outcome "$file" "$mechlens" info "$file"
  clean_outcome "$file" "$mechlens" run --checkpoint "$file" --tokens 1,2,3
done
for file in "$corpus"/config_json/*; do
  clean_outcome "$file" "$mechlens" init --config "$file" --out "$work/out.safetensors"
done
for file in "$corpus"/record/*; do
  clean_outcome "$file" "$mechlens" record --checkpoint "$work/tiny.safetensors" --tokens-file "$file" \
    --hooks hook_embed --out "$work/out.h5" --quiet
done
# torch.save state dicts, each beside a TransformerLens config so that the archive itself is read.
mkdir -p "$work/torch_save"
for file in "$corpus"/torch_save/*; do
  copy="$work/torch_save/$(basename "$file")"
  cp "$file" "$copy"
  cat >"${copy%.*}.json" <<'JSON'
{"n_layers": 1, "d_model": 8, "n_heads": 2, "d_head": 4, "d_mlp": 16, "n_ctx": 8, "d_vocab": 45,
 "d_vocab_out": 45, "act_fn": "gelu", "normalization_type": "LN", "attn_only": false}
JSON
  clean_outcome "$copy" "$mechlens" info "$copy"
  clean_outcome "$copy" "$mechlens" run --checkpoint "$copy" --tokens 1,2,3
done
# SentencePiece models, each as the tokenizer.model of a tokenizer directory.
for file in "$corpus"/sentencepiece_model/*; do
  dir="$work/sentencepiece/$(basename "$file")"
  mkdir -p "$dir" && cp "$file" "$dir/tokenizer.model"
  clean_outcome "$dir/tokenizer.model" "$mechlens" tokenize --tokenizer "$dir" "hello world"
done
echo "damaged files: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
