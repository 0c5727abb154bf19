#!/usr/bin/env bash
# `mechlens heads` on the shipped models: the matching model's pair-fusion and hop heads are named
# with pattern, weight and causal evidence; on the logic model the file's direct logit attribution
# sums to the logit difference and the ablation drop is the file's own numbers; bad input is refused.
# usage: heads_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
matching="$source/data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors"
logic="$source/data/checkpoints/logic_3l3h.safetensors"

expect heads-matching 0 "^ok$" -- bash -c "'$mechlens' heads --checkpoint '$matching' --task matching --n 200 --quiet \
  --detectors previous,hop1_child-\>hop1_parent,answer-\>hop1_child,answer-\>hop2_child --json - | '$python' -c \"
import json, sys
report = json.load(sys.stdin)
heads = {h['head']: {l['name']: l for l in h['labels']} for h in report['heads']}
assert heads['L0H0']['hop1_child->hop1_parent']['value'] > 0.9, heads['L0H0']        # pair fusion
assert heads['L1H0']['answer->hop1_child']['value'] > 0.9 and 'matches' in heads['L1H0'], heads['L1H0']
assert heads['L2H0']['answer->hop2_child']['value'] > 0.9 and 'matches' in heads['L2H0'], heads['L2H0']
assert all('needed' in heads[h] and heads[h]['needed']['evidence'] == 'causal' for h in heads)
assert 'post-LN' in report['dla_note'] and 'dla' not in report['heads'][0]
print('ok')\""

expect heads-logic 0 "wrote .*heads.h5" -- "$mechlens" heads --checkpoint "$logic" --task logic --n 120 --quiet \
  --out "$work/heads.h5" --report "$work/heads.md"
expect heads-file 0 "^ok$" -- "$python" - "$work/heads.h5" "$work/heads.md" <<'PY'
import json, sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["format"] == "mechlens-heads"
    names = [n.decode() for n in f["detectors/label_detector"][()]]
    assert names[:4] == ["previous_token", "duplicate_token", "induction", "bos"] and "answer->query" in names, names
    scores = f["detectors/scores"]
    assert scores.attrs["dims"] == "detector,layer,head,batch" and scores.shape == (len(names), 3, 3, 120)
    assert np.allclose(np.nanmean(scores[()], axis=3), f["detectors/mean"][()], atol=1e-6)
    d = f["dla"]
    total = d["head"][()].sum((0, 1)) + d["mlp"][()].sum(0) + d["attn_bias"][()].sum(0) + d["embed"][()] + \
        d["pos_embed"][()] + d["constant"][()]
    assert np.allclose(total, d["metric"][()], atol=1e-3 * np.abs(d["metric"][()]).max()), np.abs(total - d["metric"][()]).max()
    assert np.allclose(d["head_by_source"][()].sum(2), d["head"][()], atol=1e-4)
    a = f["ablation"]
    clean = a.attrs["clean_metric"]
    assert np.allclose(a["drop"][()], (clean - a["metric"][()].mean(2)) / abs(clean), atol=1e-5)
    assert abs(clean - d["metric"][()].mean()) < 1e-3 * abs(clean)  # the same logit difference
    lens = f["logit_lens"]
    assert lens["answer_prob"].shape == (4, 120) and np.allclose(lens["kl_to_final"][-1], 0, atol=1e-5)
    report = json.loads(f["roles/report_json"][0])
    assert len(report["heads"]) == 9 and report["prompts"] == 120
text = open(sys.argv[2]).read()
assert "| L1H2 |" in text and "logit lens" in text
# The paper's claims, tested: the last layer's QUERY attention by chain type (it does not hold on this
# model), and the heads that read facts, from fact-flip pairs: L1H2 chooses the fact, L1H1 copies its value.
claims = report["logic_claims"]
query = claims["query_attention"]
assert query["layer"] == 2 and len(query["linear"]) == 3 and query["n_linear"] + query["n_logop"] == 120
assert query["holds"] is False and "does not hold" in text
choose, copy = claims["fact_reading"]
assert choose["proof_prefix"] == 0 and (choose["heads"][0]["layer"], choose["heads"][0]["head"]) == (1, 2)
assert copy["proof_prefix"] == 1 and (copy["heads"][0]["layer"], copy["heads"][0]["head"]) == (1, 1)
assert copy["heads"][0]["effect"] > 0.8 and choose["heads"][0]["effect"] > 0.6, (copy["heads"][0], choose["heads"][0])
probe = claims["start_probe"]  # the linear chain's start is read after two layers, not from the embeddings
assert probe["stage"] == 2 and probe["n_prompts"] == 120 and len(probe["accuracy_by_stage"]) == 4
assert probe["accuracy_by_stage"][2] > 0.8 > probe["accuracy_by_stage"][0], probe
steering = claims["routing_steering"]  # entering layers 1 and 2, four alphas each
assert [s["layer"] for s in steering] == [1, 2] and steering[0]["alphas"] == [-8, -4, 4, 8]
assert all(0 <= v <= 1 for s in steering for v in s["linear_switched"] + s["logop_switched"])
print("ok")
PY

# The confound scan finds what the last layers' query heads follow: whether the queried chain's rules
# are listed first (they then read the rules) or second (they read the query), not the chain type.
expect heads-scan 0 "^ok$" -- "$python" - "$work/heads.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    s = f["confound_scan"]
    stats = [x.decode() for x in s["label_statistic"][()]]
    variables = [x.decode() for x in s["label_variable"][()]]
    assert s["eta2"].attrs["dims"] == "stat,variable" and "queried_first" in variables, variables
    layer, head = s["stat_layer"][()], s["stat_head"][()]
    for l, h in [(1, 1), (2, 0)]:
        i = [k for k in range(len(stats)) if stats[k] == "answer->query" and layer[k] == l and head[k] == h][0]
        best = variables[s["best"][i]]
        assert best == "queried_first", (l, h, best)
        assert s["eta2"][i, s["best"][i]] > 0.9 and s["eta2"][i, variables.index("queried_chain")] < 0.1
print("ok")
PY

expect bad-detector 2 "--detectors: 'bogus' is not a detector" -- "$mechlens" heads --checkpoint "$logic" --task logic --n 4 --detectors bogus
expect bad-span 1 "unknown span 'nowhere'" -- "$mechlens" heads --checkpoint "$logic" --task logic --n 4 --detectors answer-\>nowhere
expect bad-source-range 2 "the source names 3 positions" -- "$mechlens" heads --checkpoint "$logic" --task logic --n 4 --detectors answer-\>0:3
expect bad-measure 1 "--measure 'sum': expected mul or abs" -- "$mechlens" heads --checkpoint "$logic" --task logic --n 4 --measure sum
expect bad-ablation 2 "--ablation half: expected mean, zero or none" -- "$mechlens" heads --checkpoint "$logic" --task logic --n 4 --ablation half
# The heads page of the viewer: every head's labels, the paper's claims, the [layer, head] heatmaps.
expect heads-view 0 "wrote" -- "$mechlens" view "$work/heads.h5" --out "$work/heads.html"
expect heads-page 0 "^ok$" -- "$python" - "$work/heads.html" <<'PY'
import json, re, sys
html = open(sys.argv[1]).read()
data = json.loads(re.search(r'id="mechlens-data">(.*?)</script>', html, re.S).group(1))
assert data["kind"] == "heads" and len(data["table"]) == 9 and data["table"][0]["head"] == "L0H0"
assert [c["verdict"] for c in data["claims"][:2]] in (["does not hold", "holds"], ["does not hold", "does not hold"])
titles = [r["title"] for r in data["results"]]
assert titles[0].startswith("Detector scores") and data["results"][0]["shape"][:2] == [3, 3]
assert "Direct logit attribution" in titles[1] and "ablated" in titles[2]
print("ok")
PY
expect bad-answers 2 "--answers and --answer-pos are for token prompts" -- "$mechlens" heads --checkpoint "$logic" --task logic --n 4 --answer-pos 3
expect no-prompts 2 "heads needs --task NAME --n N, or --tokens" -- "$mechlens" heads --checkpoint "$logic"
# Refused before any analysis runs (no progress bar: the run is not --quiet).
expect bad-top-k 2 "^mechlens heads: --top-k is 0, expected >= 1" -- "$mechlens" heads --checkpoint "$logic" --task logic --n 4 --top-k 0
expect wrong-task 2 "was trained on the logic task" -- "$mechlens" heads --checkpoint "$logic" --task matching --n 4
echo "heads: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
