#!/usr/bin/env bash
# End-to-end checks of the mechlens binary: outputs, exit codes (0 ok, 1 error, 2 usage) and messages.
# usage: cli_smoke.sh MECHLENS_BIN WORK_DIR
set -uo pipefail
mechlens=$1 work=$2
mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"

cat >"$work/small.json" <<'JSON'
{"n_layers": 2, "d_model": 32, "n_heads": 4, "d_head": 8, "d_mlp": 64, "n_ctx": 16, "d_vocab": 50, "seed": 1}
JSON
ck="$work/small.safetensors"
expect init 0 "wrote .*small.safetensors" -- "$mechlens" init --config "$work/small.json" --out "$ck"
expect info-hooks 0 "blocks.1.attn.hook_pattern +\[batch, 4, dest, src\]" -- "$mechlens" info "$ck"
expect info-kv 0 "blocks.0.attn.hook_k +\[batch, pos, 4, 8\]" -- "$mechlens" info "$ck"
expect info-json 0 "ok" -- bash -c "'$mechlens' info '$ck' --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"config\"][\"d_vocab\"]==50; print(\"ok\")'"
expect run-topk 0 "3\. token" -- "$mechlens" run --checkpoint "$ck" --tokens "1 2 3" --top-k 3
expect run-batch 0 "prompt 1: \[4 5\]" -- "$mechlens" run --checkpoint "$ck" --tokens "1 2 3" --tokens 4,5
expect run-cache 0 "blocks.1.attn.hook_pattern +\[1, 4, 3, 3\]" -- "$mechlens" run --checkpoint "$ck" --tokens "1 2 3" --cache pattern
expect run-deterministic 0 "^same$" -- bash -c "a=\$('$mechlens' run --checkpoint '$ck' --tokens '7 8 9' --format json); b=\$('$mechlens' run --checkpoint '$ck' --tokens '7 8 9' --format json); [ \"\$a\" = \"\$b\" ] && echo same"
expect bad-token 1 "token id 50 at \[batch 0, pos 1\] is out of range: d_vocab=50" -- "$mechlens" run --checkpoint "$ck" --tokens "1 50 3"
expect long-prompt 1 "17 tokens, more than the model's n_ctx=16" -- "$mechlens" run --checkpoint "$ck" --tokens "$(seq -s ' ' 1 17)"
expect not-integer 1 "'x' is not an integer token id" -- "$mechlens" run --checkpoint "$ck" --tokens "1 x 3"
expect no-prompts 2 "give prompts with --tokens" -- "$mechlens" run --checkpoint "$ck"
expect empty-file 1 "token file holds no prompts" -- bash -c ": > '$work/empty.txt'; '$mechlens' run --checkpoint '$ck' --tokens-file '$work/empty.txt'"
expect unknown-hook 1 "matches none of the model's" -- "$mechlens" run --checkpoint "$ck" --tokens "1" --cache 'blocks.9.*'
expect unknown-command 2 "unknown command 'frobnicate'" -- "$mechlens" frobnicate
expect unknown-option 2 "unrecognised option|unrecognized option" -- "$mechlens" info "$ck" --bogus
expect help 0 "usage: mechlens run" -- "$mechlens" run --help
cp "$ck" "$work/truncated.safetensors"
truncate -s 2000 "$work/truncated.safetensors"
expect truncated 1 "truncated.safetensors: .*truncated" -- "$mechlens" info "$work/truncated.safetensors"
expect missing-file 1 "nope.safetensors: cannot open file" -- "$mechlens" info "$work/nope.safetensors"
echo '{"n_layers": 2, "n_head": 4}' >"$work/bad.json"
expect bad-config 1 "unknown model config field 'n_head'" -- "$mechlens" init --config "$work/bad.json" --out "$work/bad.safetensors"
expect bad-config-no-output 0 "^absent$" -- bash -c "[ -e '$work/bad.safetensors' ] || echo absent"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
