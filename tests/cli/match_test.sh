#!/usr/bin/env bash
# `mechlens match` on the shipped post-LN matching model: the weight-based matching scores of the hop
# layers are high with normalised embeddings and near chance with raw ones, the activation score puts
# layer j's attention on hop j's child, the HDF5 file holds what was printed, and bad input is refused.
# usage: match_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
ck="$source/data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors"

expect match-scores 0 "L2 -> hop2_child +0\.9" -- "$mechlens" match --checkpoint "$ck" --task matching \
  --task-option orders=2 --n 100 --out "$work/match.h5" --quiet
expect match-file 0 "^ok$" -- "$python" - "$work/match.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["format"] == "mechlens-matching"
    m = f["matching"]
    assert m.attrs["embeddings"] == "layer-0 norm" and m.attrs["queries"] == "X_1 = E"
    assert list(m["label_layer"][()]) == [1, 2] and len(m["label_token"]) == 100
    assert (m["score"][()] > 0.85).all(), m["score"][()]
    assert m["matrix"].shape == (2, 1, 100, 100) and m["matrix"].attrs["dims"] == "layer,head,query_token,key_token"
    # the score is the mean row-softmax diagonal of M / sqrt(d_head) (d_head 64 here)
    M = m["matrix"][0, 0].astype(np.float64) / 8.0
    p = np.exp(M - M.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    assert abs(p.diagonal().mean() - m["score"][0, 0]) < 1e-4
    assert (m["activation_score_mean"][()] > 0.85).all(), m["activation_score_mean"][()]
print("ok")
PY
# The page: the score table, and each head's row-softmax matching matrix as a heatmap whose hover
# value is the file's matrix through the same softmax.
expect match-view 0 "wrote" -- "$mechlens" view "$work/match.h5" --out "$work/match.html"
if [ -n "$browser" ]; then
  run_page "$work/match.html" "selftest=3,7" >"$work/match.dom"
  expect match-page 0 "^ok$" -- "$python" - "$work/match.h5" "$work/match.dom" "$work/match.html.log" <<'PY'
import re, sys, h5py, numpy as np
h5, dom, log = sys.argv[1:]
text = open(dom).read()
assert "Uncaught" not in open(log).read(), open(log).read()[-2000:]
assert re.search(r'<td>L1H0</td><td>0\.9\d\d</td>', text), "no score table"
selftest = re.search(r'<pre id="selftest">(.*?)</pre>', text, re.S).group(1)
assert "cells=2" in selftest, selftest
value = float(re.search(r"query \d+, key \d+: ([0-9.]+)", selftest).group(1))
with h5py.File(h5, "r") as f:
    M = f["matching/matrix"][0, 0].astype(np.float64) / 8.0
p = np.exp(M - M.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
assert abs(value - p[3, 7]) < 1e-3, (value, p[3, 7])
print("ok")
PY
fi
cp "$work/match.h5" "$work/damaged.h5"
"$python" - "$work/damaged.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    del f["matching/label_token"]
    f["matching/label_token"] = list(range(1, 51))
PY
expect view-damaged 1 "damaged.h5: /matching/matrix must be \[layer, head, token, token\].*label_token \(50\)" -- \
  "$mechlens" view "$work/damaged.h5" --out "$work/damaged.html"
[ ! -e "$work/damaged.html" ] && ok || bad "a refused page left $work/damaged.html"
expect match-raw 0 "L1H0 +0\.0[0-4]" -- "$mechlens" match --checkpoint "$ck" --embeddings raw
# Where the query token comes from: the shipped model reads the start node at the last position (X_1 = E:
# 0.90), not moved there by layer 0 (near chance); the depth curriculum's 5-layer model, whose prompt
# ends in the hop count, reads it as layer 0 moved it (0.84 against 0.002). Layer 2 is the same either way.
depth5="$source/data/sweeps/depth-curriculum/L5-stages2500/stage-5/n_layers-5_seed-0.safetensors"
"$mechlens" match --checkpoint "$ck" --query moved --quiet >"$work/moved_plain.txt" 2>&1
"$mechlens" match --checkpoint "$depth5" --query moved --quiet >"$work/moved_depth5.txt" 2>&1
"$mechlens" match --checkpoint "$depth5" --quiet >"$work/embedding_depth5.txt" 2>&1
expect match-moved-plain 0 "L1H0 +0\.00[0-9]+ " -- cat "$work/moved_plain.txt"
expect match-moved-plain-l2 0 "L2H0 +0\.93" -- cat "$work/moved_plain.txt"
expect match-moved-hop-count 0 "queries: X_1 = E W_VO\(0\);" -- cat "$work/moved_depth5.txt"
expect match-moved-hop-count-l1 0 "L1H0 +0\.8[0-9]+ " -- cat "$work/moved_depth5.txt"
expect match-embedding-hop-count-l1 0 "L1H0 +0\.00[0-9]+ " -- cat "$work/embedding_depth5.txt"
expect match-embedding-hop-count-l2 0 "L2H0 +0\.72" -- cat "$work/embedding_depth5.txt"
expect bad-query 2 "--query x: expected embedding or moved" -- "$mechlens" match --checkpoint "$ck" --query x
# A fusion layer F > 0 (models that spend layers on setup first): keys through layer F's value-output
# map, hop layers from F + 1, and the activation score's hop j read from layer F + j.
expect fusion-layer-activation 0 "L2 -> hop1_child" -- "$mechlens" match --checkpoint "$ck" --fusion-layer 1 \
  --task matching --task-option orders=2 --n 20 --quiet
# The depth curriculum's 6-layer model moves the start in layer 1 and hops in layers 2-4: the defaults
# score its layer 2 at chance, the fusion layer 1 with moved queries at 0.97.
depth6="$source/data/sweeps/depth-curriculum/L6-stages2500/stage-5/n_layers-6_seed-0.safetensors"
expect fusion-layer-depth6 0 "L2H0 +0\.9[0-9]+ +1\.0000" -- "$mechlens" match --checkpoint "$depth6" --fusion-layer 1 \
  --query moved --quiet
expect fusion-layer-depth6-default 0 "L2H0 +0\.0[0-9]+ " -- "$mechlens" match --checkpoint "$depth6" --quiet
expect fusion-layer-bad 1 "fusion layer 2: expected 0\.\.1 \(a hop layer must follow it; the model has 3 layers\)" -- \
  "$mechlens" match --checkpoint "$ck" --fusion-layer 2 --quiet
# id / ood are the node ids the checkpoint's task drew: the shipped model's task (trained before the
# ranges option) drew 1..100; a model trained now draws 1..99, and its training log's scores use those.
expect tokens-shipped-id 0 "over 100 tokens \(id: 1\.\.100, the checkpoint's task ranges=full\)" -- \
  "$mechlens" match --checkpoint "$ck" --quiet
expect tokens-shipped-ood 0 "over 100 tokens \(ood: 101\.\.200" -- "$mechlens" match --checkpoint "$ck" --tokens ood --quiet
"$python" - "$source/data/configs/matching_3l1h_post_ln_gamma1.json" "$work/tiny.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(d_model=32, d_head=16, d_mlp=64)
json.dump(c, open(sys.argv[2], "w"))
PY
expect tokens-train 0 "trained 3 steps" -- "$mechlens" train --task matching --config "$work/tiny.json" --steps 3 --batch 4 \
  --eval-every 3 --eval-n 4 --out "$work/tiny.safetensors" --log "$work/tiny.csv" --quiet
expect tokens-paper-id 0 "over 99 tokens \(id: 1\.\.99, the checkpoint's task ranges=paper\)" -- \
  "$mechlens" match --checkpoint "$work/tiny.safetensors" --out "$work/tiny_match.h5" --quiet
expect tokens-log 0 "^ok$" -- "$python" - "$work/tiny.csv" "$work/tiny_match.h5" <<'PY'
import csv, sys, h5py
last = list(csv.DictReader(open(sys.argv[1])))[-1]
with h5py.File(sys.argv[2], "r") as f:
    m = f["matching"]
    assert list(m["label_token"][()]) == list(range(1, 100)), m["label_token"][()]
    assert "ranges=paper" in m.attrs["tokens"], m.attrs["tokens"]
    for layer in (1, 2):
        logged, scored = float(last[f"match_score_L{layer}"]), float(m["score"][layer - 1].max())
        assert abs(logged - scored) < 1e-6 * max(1, abs(scored)), (layer, logged, scored)
print("ok")
PY
# With the hop count as a token the log also follows the moved-query routes (fusion layer 0 and 1), each
# equal to what `match` computes on the saved weights; the plain layout's log has no such columns.
expect routes-train 0 "trained 3 steps" -- "$mechlens" train --task matching --config "$work/tiny.json" --steps 3 --batch 4 \
  --eval-every 3 --eval-n 4 --task-option layout=single_chain_with_order --task-option seq_len=12 \
  --task-option orders=1,2 --out "$work/routes.safetensors" --log "$work/routes.csv" --quiet
"$mechlens" match --checkpoint "$work/routes.safetensors" --query moved --out "$work/routes_f0.h5" --quiet >/dev/null
"$mechlens" match --checkpoint "$work/routes.safetensors" --query moved --fusion-layer 1 --out "$work/routes_f1.h5" \
  --quiet >/dev/null
expect routes-log 0 "^ok$" -- "$python" - "$work/routes.csv" "$work/routes_f0.h5" "$work/routes_f1.h5" "$work/tiny.csv" <<'PY'
import csv, sys, h5py
last = list(csv.DictReader(open(sys.argv[1])))[-1]
with h5py.File(sys.argv[2], "r") as f0, h5py.File(sys.argv[3], "r") as f1:
    pairs = [("match_moved_L1", f0["matching/score"][0].max()), ("match_f1_L2", f1["matching/score"][0].max())]
    assert list(f1["matching/label_layer"][()]) == [2] and f1["matching"].attrs["fusion_layer"] == 1
for column, scored in pairs:
    logged = float(last[column])
    assert abs(logged - scored) < 1e-6 * max(1, abs(scored)), (column, logged, scored)
plain = list(csv.DictReader(open(sys.argv[4])))[-1]
assert not any(c.startswith(("match_moved", "match_f1")) for c in plain), list(plain)
print("ok")
PY
expect bad-tokens 1 "--tokens '300'.*outside" -- "$mechlens" match --checkpoint "$ck" --tokens 300
# A bad task setting is refused before any score prints (stdout stays empty).
expect bad-n-first 2 "^stdout empty$" -- bash -c 'out=$("$0" match --checkpoint "$1" --task matching --n 0 2>/dev/null)
  rc=$?; [ -z "$out" ] && echo "stdout empty"; exit $rc' "$mechlens" "$ck"
expect repeated-tokens 1 "token 7 appears more than once in the token set" -- "$mechlens" match --checkpoint "$ck" --tokens 3,7,5:9
expect bad-embeddings 2 "--embeddings x: expected normalised or raw" -- "$mechlens" match --checkpoint "$ck" --embeddings x
expect bad-task 2 "was trained on the matching task" -- "$mechlens" match --checkpoint "$ck" --task logic --n 4
# The embedding subspace: the 5-layer double-chain model's trained rows fill 18 of 128 directions, its
# untrained OOD rows hold about a random direction's share of themselves there (docs/MATCHING.md, "Scale and
# subspace"), and the file holds each scored row's share, whose mean is the printed one.
type2="$source/data/checkpoints/matching_5l1h_type2_5hop.safetensors"
expect subspace-type2 0 "in 18 of 128 directions; the scored rows hold a mean 0\.1[0-9]+ of theirs there \(a random direction: 0\.141\)" -- \
  "$mechlens" match --checkpoint "$type2" --tokens ood --out "$work/type2_match.h5" --quiet
expect subspace-file 0 "^ok$" -- "$python" - "$work/type2_match.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    g = f["matching"]
    share = g["subspace_share"][()]
    assert g.attrs["subspace_dims"] == 18 and abs(g.attrs["subspace_energy"] - 0.9) < 1e-12, dict(g.attrs)
    assert share.shape == g["label_token"].shape and 0.1 < share.mean() < 0.17 and share.min() >= 0 and share.max() <= 1
print("ok")
PY
expect subspace-id-rows 0 "18 of 128 directions; the scored rows hold a mean 0\.9[0-9]+ of theirs" -- \
  "$mechlens" match --checkpoint "$type2" --tokens id --quiet
expect subspace-bad-energy 2 "--subspace-energy 1.5: expected a share in \(0, 1\]" -- \
  "$mechlens" match --checkpoint "$ck" --subspace-energy 1.5
echo "match: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
