#!/usr/bin/env bash
# The logic paper's LLM workflow end to end (scripts/logic_llm_workflow.sh) on a small random model of
# Mistral-7B's architecture (RMSNorm, rotary, grouped-query attention, gated SiLU MLP, no biases,
# 32,000-token vocabulary) with Mistral-7B's real tokenizer (MECHLENS_MISTRAL_TOKENIZER; skipped without
# it): prompts in the paper's template, a [layer, head] noising heatmap from QUERY to the last token,
# the four families' attention masses, a circuit from them (thresholds low enough for random weights)
# and its recovery; and the prompts themselves: BOS first, the pair differing at QUERY = -4 only.
# usage: logic_llm_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
tokenizer=${MECHLENS_MISTRAL_TOKENIZER:-}
if [ -z "$tokenizer" ] || [ ! -f "$tokenizer/tokenizer.json" ]; then
  echo "skipped: no Mistral tokenizer (scripts/setup_tokenizers.sh mistral; MECHLENS_MISTRAL_TOKENIZER)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
cat >"$work/mistral_tiny.json" <<'JSON'
{"n_layers": 4, "d_model": 64, "n_heads": 4, "n_key_value_heads": 2, "d_head": 16, "d_mlp": 128, "n_ctx": 1024,
 "d_vocab": 32000, "act_fn": "silu", "gated_mlp": true, "normalization_type": "RMS",
 "positional_embedding_type": "rotary", "attn_bias": false, "mlp_bias": false, "unembed_bias": false, "seed": 3}
JSON
"$mechlens" init --config "$work/mistral_tiny.json" --out "$work/model.safetensors" >/dev/null

expect workflow 0 "logic_llm_workflow: results in" -- bash "$source/scripts/logic_llm_workflow.sh" \
  "$work/model.safetensors" "$work/out" --tokenizer "$tokenizer" --n 6 --min-score 0.05 --min-mass 0.01 \
  --mechlens "$mechlens"
expect workflow-files 0 "^ok$" -- "$python" - "$work/out" <<'PY'
import json, sys
out = sys.argv[1]
sweep = json.load(open(f"{out}/patch.json"))["results"]["head_z"]
assert sweep["shape"] == [4, 1, 4] and sweep["labels"][1] == ["query_to_end"], (sweep["shape"], sweep["labels"])
assert sweep["direction"] == "noising"
heads = json.load(open(f"{out}/heads.json"))["heads"]
assert len(heads) == 16
assert set(heads[0]["pattern_scores"]) >= {"query->queried_rule", "last->query", "last->facts", "last->correct_fact"}
circuit = json.load(open(f"{out}/circuit.json"))["families"]
assert circuit and all(h["positions"] in ("-4", "-1", "-4,-1") for family in circuit.values() for h in family)
assert "circuit" in open(f"{out}/circuit.txt").read()
assert "greedy decoding:" in open(f"{out}/eval.txt").read()
assert [line.split()[0] for line in open(f"{out}/times.txt")] == ["eval", "patch", "heads", "circuit"]
print("ok")
PY
expect prompts 0 "^ok$" -- "$python" - "$mechlens" "$tokenizer" "$work" <<'PY'
import subprocess, sys
import h5py
mechlens, tokenizer, work = sys.argv[1:4]
subprocess.run([mechlens, "data", "--task", "logic-text", "--task-option", f"tokenizer={tokenizer}", "--n", "4",
                "--pairs", "--out", f"{work}/pairs.h5"], check=True, stdout=subprocess.DEVNULL)
with h5py.File(f"{work}/pairs.h5", "r") as f:
    tokens, corrupt = f["tokens"][()], f["annotations/corrupt_tokens"][()]
    assert (tokens[:, 0] == 1).all()                       # <s>
    differ = (tokens != corrupt).any(axis=0).nonzero()[0]
    assert list(differ) == [tokens.shape[1] - 4], differ   # only QUERY, at -4
    assert (f["annotations/first_answer"][()] != f["annotations/corrupt_answer"][()][:, :1]).all()
print("ok")
PY
echo "logic llm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
