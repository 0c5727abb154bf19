#!/usr/bin/env bash
# End-to-end checks of the mechlens binary: outputs, exit codes (0 ok, 1 error, 2 usage) and messages.
# usage: cli_smoke.sh MECHLENS_BIN WORK_DIR
set -uo pipefail
mechlens=$1 work=$2
rm -rf "$work" && mkdir -p "$work"
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
expect prompt-needs-tokenizer 2 "--prompt needs a tokenizer: --tokenizer DIR" -- "$mechlens" run --checkpoint "$ck" --prompt "hello"
expect bos-needs-prompt 2 "--prepend-bos applies to --prompt" -- "$mechlens" run --checkpoint "$ck" --tokens 1,2 --prepend-bos
printf '{"a": 0, "b": 1}' >"$work/vocab.json"; printf '#version: 0.2\n' >"$work/merges.txt"
expect tokenize-ids 0 "^0 1$" -- "$mechlens" tokenize --tokenizer "$work" "ab"
expect tokenize-no-bos 1 "--prepend-bos: the tokenizer \(GPT-2 byte-level BPE\) has no BOS token" -- "$mechlens" tokenize --tokenizer "$work" --prepend-bos "ab"
rm "$work/vocab.json" "$work/merges.txt"
expect tokenize-no-files 1 "no tokenizer files \(tokenizer.json, tokenizer.model, vocab.json \+ merges.txt, or encoder.json \+ vocab.bpe\)" -- "$mechlens" tokenize --tokenizer "$work" "hello"
expect empty-file 1 "token file holds no prompts" -- bash -c ": > '$work/empty.txt'; '$mechlens' run --checkpoint '$ck' --tokens-file '$work/empty.txt'"
# One meaning per option name: --tokens takes ids, --tokens-file a file, in run and record alike.
printf '1 2 3\n4 5\n' >"$work/ids.txt"
expect tokens-is-ids 2 "--tokens takes token ids \(e.g. --tokens 1,2,3\); for the file '.*ids.txt' use --tokens-file" -- \
  "$mechlens" record --checkpoint "$ck" --tokens "$work/ids.txt" --hooks hook_embed --out "$work/ids.h5"
expect record-inline-tokens 0 "recorded 1 hooks over 2 prompts" -- "$mechlens" record --checkpoint "$ck" --tokens 1,2,3 \
  --tokens 4,5 --hooks hook_embed --out "$work/inline.h5" --quiet
expect run-tokens-file-record 0 "prompt 1: \[4 5\]" -- "$mechlens" run --checkpoint "$ck" --tokens-file "$work/inline.h5"
expect run-decodes-task-tokens 0 "text: Z implies B" -- "$mechlens" run \
  --checkpoint "$(dirname "$0")/../../data/checkpoints/logic_3l3h.safetensors" --tokens 25,31,1
# run --save-cache X.h5: the cache as HDF5, equal to what record writes for the same prompts.
expect save-cache-h5 0 "saved [0-9]+ activations to .*cache.h5" -- "$mechlens" run --checkpoint "$ck" --tokens 1,2,3 \
  --tokens 4,5 --cache pattern --save-cache "$work/cache.h5"
"$mechlens" record --checkpoint "$ck" --tokens 1,2,3 --tokens 4,5 --hooks pattern --out "$work/cache_rec.h5" --quiet >/dev/null
expect save-cache-h5-equal 0 "^ok$" -- /usr/bin/python3 -c "
import h5py, numpy as np
with h5py.File('$work/cache.h5') as c, h5py.File('$work/cache_rec.h5') as r:
    assert c.attrs['format'] == 'mechlens-cache' and list(c['lengths'][:]) == [3, 2]
    for name in r['acts']:
        assert c['acts'][name].attrs['dims'] == r['acts'][name].attrs['dims']
        for b, n in enumerate(c['lengths'][:]):
            assert np.allclose(c['acts'][name][b, :, :n, :n], r['acts'][name][b, :, :n, :n], atol=1e-6), name
    assert c['logits'].shape[:2] == (2, 3)
print('ok')"
expect info-no-checkpoint 2 "missing the checkpoint to read: mechlens info CHECKPOINT" -- "$mechlens" info
expect unknown-hook 1 "matches none of the model's" -- "$mechlens" run --checkpoint "$ck" --tokens "1" --cache 'blocks.9.*'
expect unknown-command 2 "unknown command 'frobnicate'" -- "$mechlens" frobnicate
expect unknown-option 2 "unrecognised option|unrecognized option" -- "$mechlens" info "$ck" --bogus
expect help 0 "usage: mechlens run" -- "$mechlens" run --help
cp "$ck" "$work/truncated.safetensors"
truncate -s 2000 "$work/truncated.safetensors"
expect truncated 1 "truncated.safetensors: .*truncated" -- "$mechlens" info "$work/truncated.safetensors"
expect missing-file 1 "nope.safetensors: no such file" -- "$mechlens" info "$work/nope.safetensors"
echo '{"n_layers": 2, "n_head": 4}' >"$work/bad.json"
expect bad-config 1 "unknown model config field 'n_head'" -- "$mechlens" init --config "$work/bad.json" --out "$work/bad.safetensors"
expect bad-config-no-output 0 "^absent$" -- bash -c "[ -e '$work/bad.safetensors' ] || echo absent"

# Task data: generation, rendering, HDF5 output that record reads back with its annotations.
expect data-logic 0 "implies .* Query [A-Z]\. Answer: " -- "$mechlens" data --task logic --n 4 --seed 2 --show 2
expect data-matching 0 "start [0-9]+, 2 hops -> [0-9]+ \(test\)" -- "$mechlens" data --task matching --task-option split=test --n 2
expect data-h5 0 "wrote 30 examples" -- "$mechlens" data --task logic --n 30 --seed 3 --pairs --out "$work/logic.h5" --show 0
cat >"$work/logic_model.json" <<'JSON'
{"n_layers": 3, "d_model": 32, "n_heads": 3, "d_head": 8, "d_mlp": 64, "n_ctx": 80, "d_vocab": 45, "seed": 1}
JSON
"$mechlens" init --config "$work/logic_model.json" --out "$work/logic.safetensors" >/dev/null
expect record-data-h5 0 "recorded 3 hooks over 30 prompts" -- "$mechlens" record --checkpoint "$work/logic.safetensors" --tokens-file "$work/logic.h5" --out "$work/logic_rec.h5" --quiet
expect record-task 0 "recorded 1 hooks over 12 prompts" -- "$mechlens" record --checkpoint "$work/logic.safetensors" --task logic --n 12 --seed 3 --pairs --hooks blocks.2.hook_resid_post --positions -1 --out "$work/logic_task.h5" --quiet
expect record-annotations 0 "^ok$" -- /usr/bin/python3 -c "
import h5py, json
a, b = h5py.File('$work/logic_rec.h5'), h5py.File('$work/logic_task.h5')
assert 'query_pos' in a['annotations'] and a['annotations/rule_spans'].shape == (30, 10)
assert b['annotations/corrupt_tokens'].shape == (12, 38) and json.loads(b.attrs['task'])['task'] == 'logic'
assert (a['tokens'][:12] == b['tokens'][:]).all()   # same seed, same problems
print('ok')"
expect eval-greedy 0 "greedy decoding: [0-9]+ of 20 answers" -- "$mechlens" eval --checkpoint "$work/logic.safetensors" --task logic --n 20 --greedy
# The shipped 2-hop matching model answers the node two hops on, also on 3-hop problems.
expect eval-hops 0 "test/order3 +[0-9]+ +0\.000 +0\.000 +1\.000 +0\.000" -- "$mechlens" eval \
  --checkpoint "$(dirname "$0")/../../data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors" --task matching \
  --task-option orders=2,3 --task-option split=test --n 200 --hops --quiet
# --csv: the same numbers as one table (each row's hop shares and elsewhere sum to one; on 2-hop problems
# the right answer is the node two hops on, so accuracy equals d=2); an existing file needs --force.
expect eval-csv 0 "ok" -- bash -c "'$mechlens' eval '$(dirname "$0")/../../data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors' \
  --task matching --task-option orders=2,3 --task-option split=test --n 100 --hops --quiet --csv '$work/eval.csv' >/dev/null &&
  python3 -c \"
import csv
rows = {r['group']: r for r in csv.DictReader(open('$work/eval.csv'))}
assert set(rows) == {'all', 'test', 'test/order2', 'test/order3'}, rows.keys()
for r in rows.values():
    total = sum(float(r[k]) for k in r if k.startswith('d=')) + float(r['elsewhere'])
    assert abs(total - 1) < 1e-9 and float(r['not_in_prompt']) <= float(r['elsewhere']), r
assert float(rows['test/order3']['d=2']) == 1.0
assert float(rows['test/order2']['first_token_acc']) == float(rows['test/order2']['d=2'])
print('ok')\""
expect eval-csv-exists 2 "--csv '.*eval.csv' exists; add --force to replace it" -- "$mechlens" eval \
  --checkpoint "$(dirname "$0")/../../data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors" --task matching \
  --n 10 --csv "$work/eval.csv"
expect eval-hops-logic 2 "--hops counts hops along the matching task's chains" -- "$mechlens" eval \
  --checkpoint "$work/logic.safetensors" --task logic --n 2 --hops
expect bad-task-option 1 "matching task has no option 'depth'" -- "$mechlens" data --task matching --task-option depth=3
expect task-and-tokens 2 "either --tokens-file FILE \(or --tokens IDS\) or --task NAME" -- "$mechlens" record --checkpoint "$work/logic.safetensors" --task logic --tokens-file "$work/logic.h5" --out "$work/x.h5"

# Training: a few steps, then a staged run from that checkpoint (--init-from) with its provenance.
cat >"$work/matching_model.json" <<'JSON'
{"n_layers": 2, "d_model": 16, "n_heads": 2, "d_head": 8, "d_mlp": 32, "n_ctx": 14, "d_vocab": 201, "norm_placement": "post", "seed": 1}
JSON
expect train 0 "trained 3 steps .*tokens/s" -- "$mechlens" train --task matching --task-option orders=1 --config "$work/matching_model.json" --out "$work/hop1.safetensors" --steps 3 --batch 8 --eval-n 8 --quiet
# The matching task's log follows each hop layer's matching score (a number in [0, 1]) at every evaluation.
expect train-match-log 0 "trained 4 steps" -- "$mechlens" train --task matching --task-option orders=1 --config "$work/matching_model.json" --out "$work/logged.safetensors" --steps 4 --batch 8 --eval-n 8 --eval-every 2 --log "$work/logged.csv" --quiet
expect train-match-columns 0 "^ok$" -- "$python" - "$work/logged.csv" <<'PY'
import sys, csv
rows = list(csv.DictReader(open(sys.argv[1])))
columns = [c for c in rows[0] if c.startswith("match_score_L")]
assert columns and len(rows) == 2, (list(rows[0]), len(rows))
assert all(0 <= float(r[c]) <= 1 for r in rows for c in columns)
print("ok")
PY
expect train-init-from 0 "trained 2 steps" -- "$mechlens" train --task matching --init-from "$work/hop1.safetensors" --out "$work/hop2.safetensors" --steps 2 --batch 8 --eval-n 8 --quiet
expect info-metadata 0 "init_from +.*hop1.safetensors sha256:[0-9a-f]{64}" -- "$mechlens" info "$work/hop2.safetensors"
expect info-train-command 0 "train_command +mechlens train --task matching --init-from" -- "$mechlens" info "$work/hop2.safetensors"
echo '{"n_layers": 3, "d_model": 16, "n_heads": 2, "d_head": 8, "d_mlp": 32, "n_ctx": 14, "d_vocab": 201, "seed": 1}' >"$work/other.json"
expect train-init-from-config 1 "its model config differs from --config .*other.json" -- "$mechlens" train --task matching --init-from "$work/hop1.safetensors" --config "$work/other.json" --out "$work/x.safetensors" --steps 1 --quiet
expect train-no-model 2 "train needs --config or --init-from" -- "$mechlens" train --task matching --out "$work/x.safetensors"
expect train-no-output-left 0 "^absent$" -- bash -c "[ -e '$work/x.safetensors' ] || echo absent"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
