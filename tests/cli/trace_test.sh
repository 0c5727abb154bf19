#!/usr/bin/env bash
# `mechlens trace` on the shipped checkpoints: the HDF5 file holds every analysis with labelled dims
# and agrees with itself (span statistics equal the mean of their per-prompt values; knock-out
# accuracy equals the mean of its per-prompt hits; every flow node's shares sum to one), the graph
# JSON follows circuit-tracer's schema and names the HDF5 graph's edges, the DOT file is a digraph;
# on the matching model the knock-out finds the hop heads (layer 1 reads hop 1, layer 2 hop 2);
# bad input is refused with its reason and leaves no file behind.
# usage: trace_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
logic="$source/data/checkpoints/logic_3l3h.safetensors"
matching="$source/data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors"

expect trace-logic 0 "wrote .*logic.h5" -- "$mechlens" trace --checkpoint "$logic" --task logic --n 24 \
  --group-by queried_chain --verify --out "$work/logic.h5" --graph-json "$work/logic.json" --dot "$work/logic.dot" --quiet
expect trace-logic-file 0 "^ok$" -- "$python" - "$work/logic.h5" "$work/logic.json" "$work/logic.dot" <<'PY'
import sys, json, h5py, numpy as np
path, graph_json, dot = sys.argv[1:]
with h5py.File(path, "r") as f:
    assert f.attrs["format"] == "mechlens-trace", dict(f.attrs)
    s = f["span_attention"]
    assert s["mass"].attrs["dims"] == "layer,head,source,batch"
    assert list(s["label_source"].asstr()) == list(f["prompts/label_span"].asstr())
    assert np.allclose(s["mass_mean"][()], s["mass"][()].mean(-1), atol=1e-5)
    assert s["groups/mass_mean"].shape[0] == 2 and list(s["groups/label_group"].asstr()) == ["0", "1"]
    k = f["knockout"]
    assert k["accuracy"].attrs["dims"] == "layer,source"
    assert np.allclose(k["accuracy"][()], k["correct"][()].mean(-1), atol=1e-6)
    assert abs(k.attrs["base_accuracy"] - f["knockout/base_correct"][()].mean()) < 1e-6
    fl = f["flow"]
    total = fl["attention"][()].sum(axis=(2, 4)) + fl["attention_residual"][()]
    assert np.allclose(total, 1, atol=1e-4), np.abs(total - 1).max()
    assert np.allclose(fl["mlp"][()] + fl["mlp_residual"][()], 1, atol=1e-4)
    assert np.allclose(fl["rollout"][()].sum(-1), 1, atol=1e-4)
    g = fl["graph"]
    ids = list(g["node_id"].asstr())
    edges = {(ids[s], ids[t]) for s, t in zip(g["edge_source"][()], g["edge_target"][()])}
    assert (g["edge_weight"][()] > 0.04).all()
    kinds = list(g["edge_kind"].asstr())
    checked = ~np.isnan(g["edge_knockout"][()])
    assert all((kind == "attention") == c for kind, c in zip(kinds, checked)), "only attention edges are knocked out"
doc = json.load(open(graph_json))
assert doc["metadata"]["schema_version"] == 1 and set(doc) >= {"metadata", "qParams", "nodes", "links"}
assert {(l["source"], l["target"]) for l in doc["links"]} == edges
assert {n["node_id"] for n in doc["nodes"]} == set(ids)
assert any(n["is_target_logit"] for n in doc["nodes"])
text = open(dot).read()
assert text.startswith("digraph") and "style=dashed" in text and text.rstrip().endswith("}")
print("ok")
PY

# Matching model: knocking out what the answer position reads in layer 1 (hop 1) and layer 2 (hop 2)
# collapses accuracy; layer 0 knock-outs do not.
expect trace-matching 0 "L2 +hop2_edge +accuracy 0\.[0-2]" -- "$mechlens" trace --checkpoint "$matching" \
  --task matching --n 40 --analyses knockout,spans --out "$work/matching.h5" --quiet
expect trace-matching-hops 0 "^ok$" -- "$python" - "$work/matching.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    k = f["knockout"]
    names = list(k["label_source"].asstr())
    acc = k["accuracy"][()]
    assert acc[1, names.index("hop1_edge")] < 0.3 and acc[2, names.index("hop2_edge")] < 0.3, acc
    assert (acc[0] > 0.9).all(), acc
print("ok")
PY

# The knock-out path of the 2-hop answer: query <- hop-2 child (layer 2), query <- hop-1 child (layer 1),
# hop-1 child <- hop-1 parent (layer 0, pair fusion); every control edge leaves accuracy high.
expect trace-matching-path 0 "L1 query +<- hop1_child" -- "$mechlens" trace --checkpoint "$matching" --task matching \
  --task-option orders=2 --n 60 --analyses path --out "$work/path.h5" --graph-json "$work/path.json" --quiet
expect trace-path-graph 0 "^ok$" -- "$python" - "$work/path.json" <<'PY'
import sys, json
doc = json.load(open(sys.argv[1]))
links = {(l["source"], l["target"]) for l in doc["links"] if l["kind"] == "attention"}
assert {("I1_hop2_child", "A2_query"), ("I0_hop1_child", "A1_query"), ("X0_hop1_parent", "A0_hop1_child")} <= links, links
assert [n["node_id"] for n in doc["nodes"] if n["is_target_logit"]] == ["I2_query"]
print("ok")
PY
expect trace-matching-path-file 0 "^ok$" -- "$python" - "$work/path.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    p = f["path"]
    edges = {(int(l), d, s) for l, d, s in zip(p["layer"][()], p["destination"].asstr(), p["source"].asstr())}
    assert {(2, "query", "hop2_child"), (1, "query", "hop1_child"), (0, "hop1_child", "hop1_parent")} <= edges, edges
    assert (p["accuracy"][()] <= p.attrs["base_accuracy"] - p.attrs["min_drop"] + 1e-9).all()
    assert (p["control_accuracy"][()] > 0.9).all(), p["control_accuracy"][()]
print("ok")
PY

# The trace page: self-contained, the knock-out heatmap's hover value is the file's, the graph drawn.
expect view-trace 0 "wrote .*trace-path.html" -- "$mechlens" view "$work/path.h5" --out "$work/trace-path.html"
expect view-trace-full 0 "wrote .*trace.html" -- "$mechlens" view "$work/logic.h5" --out "$work/trace.html"
if [ -n "$browser" ]; then
  run_page "$work/trace.html" "selftest=1,0" >"$work/trace.dom"
  expect browser-trace 0 "^ok$" -- "$python" - "$work/logic.h5" "$work/trace.dom" "$work/trace.html.log" <<'PY'
import sys, re, h5py
path, dom, log = sys.argv[1:]
text = open(dom).read()
assert 'data-ready="true"' in text, "the page did not finish rendering"
assert not re.search(r"Uncaught|ERROR:CONSOLE", open(log).read()), open(log).read()[-2000:]
assert '<svg' in text and text.count('<line') > 0, "no graph drawn"
tip = re.search(r'<pre id="selftest">.*?tooltip=(.*?)</pre>', text, re.S).group(1)
with h5py.File(path, "r") as f:
    k = f["knockout"]
    source = k["label_source"].asstr()[0]
    expected = k["accuracy"][1, 0] - k.attrs["base_accuracy"]
assert tip.startswith("layer 1, source " + source), tip
assert abs(float(tip.rsplit(":", 1)[1]) - expected) < 1e-3, (tip, expected)
print("ok")
PY
fi

# A damaged trace file: the page is refused with the file and the datasets that disagree, no page left.
cp "$work/logic.h5" "$work/damaged.h5"
"$python" - "$work/damaged.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    kinds = f["flow/graph/edge_kind"].asstr()[:-1]
    del f["flow/graph/edge_kind"]
    f.create_dataset("flow/graph/edge_kind", data=list(kinds), dtype=h5py.string_dtype())
PY
expect view-damaged 1 "damaged.h5: /flow/graph/edge_kind holds [0-9]+ entries but /flow/graph/edge_source holds" -- \
  "$mechlens" view "$work/damaged.h5" --out "$work/damaged.html"
[ ! -e "$work/damaged.html" ] && ok || bad "a refused page left $work/damaged.html"

# Token prompts: positions as sources, answers from the model itself.
printf '1 2 3 4 5 6\n6 5 4 3 2 1\n' > "$work/prompts.txt"
expect trace-tokens 0 "graph: " -- "$mechlens" trace --checkpoint "$logic" --tokens-file "$work/prompts.txt" \
  --sources 0:3 --prune influence --quiet

# The post-LN matching model's root (I2 at the answer position) is a sum whose two parts cancel: the
# trace says so, and that the graph kept no edge, instead of listing none.
expect trace-root-cancels 0 "note: at I2_12 the parts' proximities add up to 0\.0%.*graph: 1 node\(s\) and no edge kept" -- \
  bash -c "'$mechlens' trace --checkpoint '$matching' --task matching --task-option orders=2 --n 20 --seed 12345 \
  --analyses flow --quiet | tr '\n' ' '"

# Bad input: the reason, exit 2 (usage) or 1 (input), and no output file.
expect bad-span 1 "unknown span 'nope'; these prompts name rules" -- "$mechlens" trace --checkpoint "$logic" --task logic --n 4 \
  --sources nope --out "$work/bad.h5" --quiet
expect bad-dest 2 "--dest 0:3: give one position" -- "$mechlens" trace --checkpoint "$logic" --task logic --n 4 \
  --dest 0:3 --out "$work/bad.h5" --quiet
expect bad-graph 2 "--graph path needs --analyses path" -- "$mechlens" trace --checkpoint "$logic" --task logic --n 4 \
  --analyses flow --graph path --graph-json "$work/bad.json"
expect bad-path 2 "path follows a task's named spans" -- "$mechlens" trace --checkpoint "$logic" \
  --tokens-file "$work/prompts.txt" --analyses path
expect bad-analysis 2 "unknown analysis 'graph'" -- "$mechlens" trace --checkpoint "$logic" --task logic --n 4 \
  --analyses graph --out "$work/bad.h5"
expect bad-graph-prompt 2 "--graph-prompt 9 is outside the 4 prompts" -- "$mechlens" trace --checkpoint "$logic" \
  --task logic --n 4 --graph-prompt 9 --out "$work/bad.h5" --quiet
expect bad-layers 1 "--layers.*out of range|outside" -- "$mechlens" trace --checkpoint "$logic" --task logic --n 4 \
  --layers 7 --out "$work/bad.h5" --quiet
expect bad-window 2 "--window 4 exceeds the model's 3 layers" -- "$mechlens" trace --checkpoint "$logic" --task logic \
  --n 4 --window 4 --analyses knockout --out "$work/bad.h5" --quiet
expect bad-tau 2 "--tau 1.5 is outside" -- "$mechlens" trace --checkpoint "$logic" --task logic --n 4 --tau 1.5
expect bad-quantiles 2 "--quantiles: 'x' is not a level" -- "$mechlens" trace --checkpoint "$logic" --task logic \
  --n 4 --quantiles 0.5,x
expect bad-prompts 2 "either --task NAME or --tokens" -- "$mechlens" trace --checkpoint "$logic"
expect bad-answers 1 "1 answer lines for 2 prompts" -- "$mechlens" trace --checkpoint "$logic" \
  --tokens-file "$work/prompts.txt" --answers <(echo 3) --quiet
expect bad-answer-id 1 "the answers of prompt 1: token 45 is not an id in 0\.\.44" -- "$mechlens" trace \
  --checkpoint "$logic" --tokens-file "$work/prompts.txt" --answers <(printf '3\n45\n') --quiet
expect bad-answer-width 1 "the answers of prompt 1 hold 2 ids; expected 1 to 2 ids, as many on every line as on the first \(1\)" -- \
  "$mechlens" trace --checkpoint "$logic" --tokens-file "$work/prompts.txt" --answers <(printf '3\n4 5\n') --quiet
expect bad-group 1 "--group-by nope: the prompts have no annotation 'nope'" -- "$mechlens" trace --checkpoint "$logic" \
  --task logic --n 4 --group-by nope --quiet
expect graph-json-exists 2 "--graph-json '.*logic.json' exists; add --force" -- "$mechlens" trace --checkpoint "$logic" \
  --task logic --n 4 --graph-json "$work/logic.json"
[ ! -e "$work/bad.h5" ] && ok || bad "a refused run left $work/bad.h5"

# scripts/matching_knockout_attention.py recomputes the forward (the parity tests' reference) to show later layers'
# attention under a knock-out: its knock-out accuracies equal trace's on the same prompts, and on the
# 4-layer model the answer position's layer 2 falls back to the hop-2 child once layer 1 cannot read
# hop 1 (docs/MATCHING.md).
four="$source/data/checkpoints/matching_4l1h_4hop.safetensors"
l4=(--task matching --task-option layout=single_chain --task-option seq_len=13 --task-option orders=4
  --task-option split=test --n 120 --seed 3 --quiet)
"$mechlens" record --checkpoint "$four" "${l4[@]}" --out "$work/l4.h5" >/dev/null 2>&1
"$mechlens" trace --checkpoint "$four" "${l4[@]}" --analyses knockout --sources hop1_child,hop3_child \
  --layers 1,2 --window 1 --out "$work/l4_trace.h5" >/dev/null 2>&1
"$python" "$source/scripts/matching_knockout_attention.py" "$four" "$work/l4.h5" --top 1 \
  --knockout 1:query:hop1_child --knockout 2:query:hop3_child >"$work/l4_knockout.txt" 2>&1
expect knockout-attention 0 "^ok$" -- "$python" - "$work/l4_trace.h5" "$work/l4_knockout.txt" <<'PY'
import re, sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    acc = f["knockout/accuracy"][()]                     # [layer 1, 2; source hop1_child, hop3_child]
text = open(sys.argv[2]).read()
found = [float(a) for a in re.findall(r"accuracy ([0-9.]+)", text)]
assert len(found) == 3, text
assert abs(found[1] - acc[0, 0]) <= 5e-4 and abs(found[2] - acc[1, 1]) <= 5e-4, (found, acc)  # printed to 3 places
assert found[0] > 0.6 and found[1] < 0.4, found
after_l1 = text.split("knock-out 1:query:hop1_child")[1]
assert re.search(r"layer 2: hop2_child", after_l1), text
print("ok")
PY
# Roles off the path exist only for some starts: their shares are means over the prompts that have them.
expect knockout-attention-role-count 0 "after_answer_1_child [0-9.]+ \(in [0-9]+ of 120\)" -- \
  "$python" "$source/scripts/matching_knockout_attention.py" "$four" "$work/l4.h5" --top 8
# scripts/matching_score_decomposition.py splits layer 2's score into query and key parts: the parts sum to
# the score, and the exclusion of the children of what the answer position holds shows in the parts that
# hold it: the start node (the query's own token) against the hop-1 child, whose parent it is, and c1
# (what layer 1 read) against the hop-2 child (docs/MATCHING.md, "What layer 2 reads").
"$python" "$source/scripts/matching_score_decomposition.py" "$four" "$work/l4.h5" --layer 2 >"$work/l4_parts.txt" 2>&1
# On the 2-hop model the split finds the paper's match instead: layer 1's query token against the hop-1
# child's pair-fused parent (its layer-0 part), a positive term far above the other candidates.
"$mechlens" record --checkpoint "$matching" --task matching --task-option layout=single_chain --task-option seq_len=13 \
  --task-option orders=2 --task-option split=test --n 120 --seed 3 --hooks 'blocks.*.attn.hook_pattern' \
  --out "$work/l3.h5" --quiet >/dev/null 2>&1
"$python" "$source/scripts/matching_score_decomposition.py" "$matching" "$work/l3.h5" --layer 1 >"$work/l3_parts.txt" 2>&1
expect score-decomposition 0 "^ok$" -- "$python" - "$work/l4_parts.txt" "$work/l3_parts.txt" <<'PY'
import re, sys
def tables(path):
    """{'key' | 'query': {role: {part: value, ..., 'total': value}}} from the script's two tables."""
    text = open(path).read()
    error = float(re.search(r"the parts sum to the score within (\S+)", text).group(1))
    assert error < 1e-9, text
    out = {}
    for axis, table in zip(("key", "query"), text.split("by query part")):
        lines = table.splitlines()
        header = next(l for l in lines if l.split()[:1] == ["tok"]).split()  # the parts, then total
        out[axis] = {l.split()[0]: dict(zip(header, map(float, l.split()[-len(header):])))
                     for l in lines if l.split()[:1] and l.split()[0].endswith("_child")}
    return out
four, two = tables(sys.argv[1]), tables(sys.argv[2])
q = four["query"]
assert q["hop1_child"]["total"] < -0.5 and q["hop2_child"]["total"] < -0.5 and q["hop3_child"]["total"] > 0.3, q
assert q["hop1_child"]["tok"] < -1.0 and q["hop2_child"]["attn1"] < -1.0, q
hop1 = two["key"]["hop1_child"]
assert hop1["attn0"] > 5 and two["query"]["hop1_child"]["tok"] > 4, two
assert hop1["total"] > 3 + max(two["key"][r]["total"] for r in ("hop2_child", "before_start_1_child")), two
print("ok")
PY
expect score-decomposition-bad-layer 1 "--layer 4: the model has layers 0..3" -- \
  "$python" "$source/scripts/matching_score_decomposition.py" "$four" "$work/l4.h5" --layer 4
"$mechlens" record --checkpoint "$four" --tokens 1,2,3,4,5,6,7,8,9,10,11,12,13 --out "$work/plain.h5" --quiet >/dev/null 2>&1
expect knockout-attention-no-task 1 "plain.h5: no annotations/path, annotations/chain, annotations/answer" -- \
  "$python" "$source/scripts/matching_knockout_attention.py" "$four" "$work/plain.h5"
"$mechlens" record --checkpoint "$source/data/checkpoints/matching_5l1h_type2_5hop.safetensors" --task matching \
  --task-option layout=noised_double_chain --task-option seq_len=29 --task-option orders=1,2,3,4,5 --n 40 \
  --out "$work/double.h5" --quiet >/dev/null 2>&1
# On double-chain records every edge slot gets one role, and each role's tokens are what the annotations
# say: hop J's edge is path[J-1] -> path[J], the other chain's J-th edge other[J-1] -> other[J], and a
# distractor's child is a node of the chain it names while its parent is on neither chain.
expect knockout-attention-double-chain-roles 0 "^ok$" -- "$python" - "$source/scripts" "$work/double.h5" <<'PY'
import sys, h5py
sys.path.insert(0, sys.argv[1])
from matching_knockout_attention import roles
with h5py.File(sys.argv[2], "r") as f:
    tokens, path = f["tokens"][()], f["annotations/path"][()]
    chain, other = f["annotations/chain"][()], f["annotations/other_chain"][()]
for toks, hops, a, b, r in zip(tokens, path, chain, other, roles(tokens, path, chain, other)):
    a, b, hops = [int(v) for v in a if v >= 0], [int(v) for v in b if v >= 0], [int(v) for v in hops if v >= 0]
    assert sorted(v for k, v in r.items() if k != "query") == list(range(len(toks) - 1)), r
    for name, p in r.items():
        if not name.endswith("_child"):
            continue
        parent, child = int(toks[p - 1]), int(toks[p])
        assert r[name[:-len("child")] + "parent"] == p - 1, (name, r)
        if name.startswith("hop"):
            j = int(name[3:-len("_child")])
            assert (parent, child) == (hops[j - 1], hops[j]), (name, toks, hops)
        elif name.startswith("other"):
            j = int(name[5:-len("_child")])
            assert (parent, child) == (b[j - 1], b[j]), (name, toks, b)
        elif name.startswith("distractor"):
            assert child in (a if name.startswith("distractor_a") else b) and parent not in a + b, (name, toks)
        else:
            assert name.startswith("before_start") and parent in a and a.index(child) == a.index(parent) + 1
    assert "hop1_child" in r and "other1_child" in r and "distractor_a_child" in r and "distractor_b_child" in r
print("ok")
PY
expect knockout-attention-bad-checkpoint 1 "plain.h5: not a readable safetensors checkpoint" -- \
  "$python" "$source/scripts/matching_knockout_attention.py" "$work/plain.h5" "$work/l4.h5"
expect score-decomposition-no-task 1 "plain.h5: no annotations/path" -- \
  "$python" "$source/scripts/matching_score_decomposition.py" "$four" "$work/plain.h5" --layer 2
expect knockout-attention-unknown-role 1 "--knockout '1:query:hop9_child': 'hop9_child': no prompt has that role; roles: " -- \
  "$python" "$source/scripts/matching_knockout_attention.py" "$four" "$work/l4.h5" --knockout 1:query:hop9_child
expect score-decomposition-unknown-dest 1 "--dest 'answer': no prompt has that role; roles: after_answer_1_child" -- \
  "$python" "$source/scripts/matching_score_decomposition.py" "$four" "$work/l4.h5" --layer 2 --dest answer
expect knockout-attention-bad-edge 1 "--knockout '1:query': expected LAYER:DEST:SRC" -- \
  "$python" "$source/scripts/matching_knockout_attention.py" "$four" "$work/l4.h5" --knockout 1:query

# scripts/matching_parallel_hops.py reads a double-chain record's patterns. With hand-set patterns its
# shares equal a hand count: in layer 1 every chain edge's child looks at the next edge's child of its
# chain when that comes earlier, else at its own parent, and the query looks at the hop-2 child (hop 1
# for 1-hop problems); layer 0 is the model's own. Every number is checked against a count made here.
cat >"$work/double_chain.json" <<'JSON'
{"n_layers": 2, "d_model": 32, "n_heads": 2, "d_head": 16, "d_mlp": 64, "n_ctx": 21, "d_vocab": 201,
 "act_fn": "relu", "normalization_type": "LN", "norm_placement": "post", "seed": 5}
JSON
"$mechlens" init --config "$work/double_chain.json" --out "$work/double_chain.safetensors" >/dev/null 2>&1
"$mechlens" record --checkpoint "$work/double_chain.safetensors" --task matching --task-option layout=noised_double_chain \
  --task-option seq_len=21 --task-option orders=1,2,3 --n 60 --seed 4 --out "$work/double_chain.h5" --quiet >/dev/null 2>&1
expect parallel-hops-hand-count 0 "^ok$" -- "$python" - "$source/scripts/matching_parallel_hops.py" "$work/double_chain.h5" <<'PY'
import json, shutil, subprocess, sys, h5py, numpy as np
script, record = sys.argv[1:]
hand = record.replace(".h5", "_hand.h5")
shutil.copy(record, hand)
with h5py.File(hand, "r+") as f:
    tokens, order = f["tokens"][()], f["annotations/order"][()][:, 0]
    chains = [f["annotations/chain"][()], f["annotations/other_chain"][()]]
    pattern = np.zeros(f["acts/blocks.1.attn.hook_pattern"].shape)        # [N, H, T, T]
    next_visible = parent_fallback = dests = 0
    for p in range(len(tokens)):
        slot_of_parent = {int(tokens[p, s]): s for s in range(0, tokens.shape[1] - 1, 2)}
        for chain in (c[p] for c in chains):
            for i in range(len(chain) - 1):                             # edge c_i -> c_i+1 of this chain
                child = slot_of_parent[int(chain[i])] + 1
                nxt = slot_of_parent[int(chain[i + 1])] + 1 if i + 2 < len(chain) else None
                dests += 1
                if nxt is not None and nxt < child:
                    pattern[p, :, child, nxt] = 1; next_visible += 1
                else:
                    pattern[p, :, child, child - 1] = 1; parent_fallback += 1
        k = int(order[p]); start = len(chains[0][p]) - 1 - k
        hop = min(k, 2)                                                 # the hop-2 child, or hop 1 when k = 1
        pattern[p, :, -1, slot_of_parent[int(chains[0][p][start + hop - 1])] + 1] = 1
    f["acts/blocks.1.attn.hook_pattern"][...] = pattern
out = subprocess.run([sys.executable, script, hand, "--json", hand + ".json"], capture_output=True, text=True)
assert out.returncode == 0, out.stderr
r = json.load(open(hand + ".json"))
for head in ("0", "1"):
    e = r["from_edges"]["1"][head]
    assert e["offset"]["1"]["child"] == 1.0 and e["offset"]["1"]["parent"] == 0.0, e["offset"]["1"]
    assert e["offset"]["1"]["n_child"] == next_visible, (e["offset"]["1"], next_visible)
    assert abs(e["offset"]["0"]["parent"] - parent_fallback / dests) < 1e-12, (e["offset"]["0"], parent_fallback, dests)
    assert e["offset"]["0"]["n_parent"] == dests and e["other_chain"] == 0 and e["distractor"] == 0, e
    for d in ("-3", "-2", "-1", "2", "3"):
        assert e["offset"][d]["child"] == 0.0 and e["offset"][d]["parent"] == 0.0, (d, e["offset"][d])
    for k in ("1", "2", "3"):
        q = r["from_query"][k]["1"][head]
        hop = "hop1_child" if k == "1" else "hop2_child"
        assert q[hop] == 1.0 and abs(sum(q.values()) - 1) < 1e-12, (k, q)
    # Layer 0 is the model's: every source position has exactly one class, so the shares weighted by the
    # share of prompts that have each class sum to one.
    for k in ("1", "2", "3"):
        counts, n = r["from_query_prompts"][k], int((order == int(k)).sum())
        total = sum(share * counts[c] / n for c, share in r["from_query"][k]["0"][head].items())
        assert abs(total - 1) < 1e-5, (k, total)
assert "peak d>0" in out.stdout and "k = 3" in out.stdout, out.stdout
print("ok")
PY
expect parallel-hops-single-chain 1 "l4.h5: no annotations/other_chain" -- \
  "$python" "$source/scripts/matching_parallel_hops.py" "$work/l4.h5"
expect parallel-hops-not-hdf5 1 "double_chain.json: not a readable HDF5 record" -- \
  "$python" "$source/scripts/matching_parallel_hops.py" "$work/double_chain.json"
"$python" - "$work/double_chain.h5" "$work/double_chain_bad.h5" <<'PY'
import shutil, sys, h5py, numpy as np
shutil.copy(*sys.argv[1:])
with h5py.File(sys.argv[2], "r+") as f:   # the hop counts as a flat vector instead of [batch, one]
    del f["annotations/order"]; f["annotations/order"] = np.zeros(3)
PY
expect parallel-hops-bad-field 1 "double_chain_bad.h5: its fields cannot be read as a double-chain record" -- \
  "$python" "$source/scripts/matching_parallel_hops.py" "$work/double_chain_bad.h5"

# scripts/matching_lookahead_knockout.py: its knock-out removes exactly the pairs a count made here from the
# chain annotations finds (each chain edge's child position -> both positions of every later edge of its
# chain that comes earlier in the prompt); the control removes as many pairs per destination (as many as
# there are where fewer other earlier positions exist), none of them a look-ahead pair or the edge's own parent.
expect lookahead-masks-hand-count 0 "^ok$" -- "$python" - "$source/scripts" "$work/double_chain.h5" <<'PY'
import sys, h5py, numpy as np
sys.path.insert(0, sys.argv[1])
from matching_lookahead_knockout import knockout_masks
from matching_parallel_hops import edge_kinds
with h5py.File(sys.argv[2], "r") as f:
    tokens = f["tokens"][()]
    chains = [f["annotations/chain"][()], f["annotations/other_chain"][()]]
ahead, control = knockout_masks(*edge_kinds(tokens, chains[0], chains[1]), seed=3)
expected = np.zeros_like(ahead)
for p in range(len(tokens)):
    slot_of_parent = {int(tokens[p, s]): s for s in range(0, tokens.shape[1] - 1, 2)}
    for chain in (c[p] for c in chains):
        for i in range(len(chain) - 1):
            child = slot_of_parent[int(chain[i])] + 1
            for j in range(i + 1, len(chain) - 1):
                later = slot_of_parent[int(chain[j])]
                if later < child:
                    expected[p, child, [later, later + 1]] = True
assert expected.sum() > 0 and (ahead == expected).all(), (ahead.sum(), expected.sum())
assert not (control & ahead).any()
for p, dest in zip(*np.nonzero(ahead.any(-1))):
    available = dest - 1 - ahead[p, dest].sum()               # earlier positions: not the parent, not ahead
    assert control[p, dest].sum() == min(ahead[p, dest].sum(), available), (p, dest)
    assert not control[p, dest, dest - 1] and not control[p, dest, dest:].any()
assert control.sum() > 0.5 * ahead.sum()
print("ok")
PY
# On the shipped 5-layer double-chain model the fifth hop needs layer 1's look-ahead: knocking it out
# loses the 5-hop answers (they land one hop short), the size-matched random control does not.
type2="$source/data/checkpoints/matching_5l1h_type2_5hop.safetensors"
"$mechlens" record --checkpoint "$type2" --task matching --task-option layout=noised_double_chain \
  --task-option seq_len=29 --task-option orders=5 --task-option split=test --n 200 --seed 7 \
  --out "$work/type2.h5" --quiet >/dev/null 2>&1
expect lookahead-knockout-type2 0 "^ok$" -- "$python" - "$source/scripts/matching_lookahead_knockout.py" "$type2" \
  "$work/type2.h5" "$work/type2_knockout.json" <<'PY'
import json, subprocess, sys
script, checkpoint, record, out = sys.argv[1:]
run = subprocess.run([sys.executable, script, checkpoint, record, "--layers", "1,2", "--json", out],
                     capture_output=True, text=True)
assert run.returncode == 0, run.stderr
accuracy = json.load(open(out))["accuracy"]
assert accuracy["clean"]["5"] >= 0.85, accuracy
assert accuracy["look-ahead out, layer 1"]["5"] <= 0.1, accuracy
assert json.load(open(out))["one_hop_short"]["look-ahead out, layer 1"]["5"] >= 0.8   # four hops, sequentially
assert accuracy["control, layer 1"]["5"] >= accuracy["clean"]["5"] - 0.05, accuracy
assert accuracy["look-ahead out, layer 2"]["5"] >= accuracy["clean"]["5"] - 0.05, accuracy
print("ok")
PY
expect lookahead-bad-layer 1 "--layers '7': the model has layers 0..1" -- \
  "$python" "$source/scripts/matching_lookahead_knockout.py" "$work/double_chain.safetensors" "$work/double_chain.h5" --layers 7
expect lookahead-single-chain 1 "l4.h5: no annotations/other_chain" -- \
  "$python" "$source/scripts/matching_lookahead_knockout.py" "$work/double_chain.safetensors" "$work/l4.h5"
expect lookahead-other-model 1 "has patterns of 2 layers; .*matching_3l1h_post_ln_gamma1.safetensors has 3" -- \
  "$python" "$source/scripts/matching_lookahead_knockout.py" "$matching" "$work/double_chain.h5"

# scripts/matching_ood_subspace.py: out-of-distribution rows replaced at the ID norm by directions inside
# the ID rows' principal subspace are matched in layer 1 far more strongly than random ones or the rows'
# own; directions orthogonal to it are not matched at all. The subspace shares are exact by
# construction; on the 5-layer double-chain model, where the subspace is narrow, scale alone leaves most
# 2-hop OOD problems wrong and the subspace directions answer most of them (docs/MATCHING.md).
"$mechlens" record --checkpoint "$matching" --task matching --task-option layout=single_chain --task-option seq_len=13 \
  --task-option orders=2 --task-option split=ood --n 120 --seed 3 --hooks 'blocks.*.attn.hook_pattern' \
  --out "$work/l3_ood.h5" --quiet >/dev/null 2>&1
"$mechlens" record --checkpoint "$type2" --task matching --task-option layout=noised_double_chain \
  --task-option seq_len=29 --task-option orders=2 --task-option split=ood --n 200 --seed 7 \
  --hooks 'blocks.*.attn.hook_pattern' --out "$work/type2_ood.h5" --quiet >/dev/null 2>&1
expect ood-subspace 0 "^ok$" -- "$python" - "$source/scripts/matching_ood_subspace.py" "$matching" "$work/l3_ood.h5" \
  "$type2" "$work/type2_ood.h5" "$work" <<'PY'
import json, subprocess, sys
script, l3, l3_record, type2, type2_record, work = sys.argv[1:]
def variants(checkpoint, record, name):
    run = subprocess.run([sys.executable, script, checkpoint, record, "--json", f"{work}/{name}.json"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.load(open(f"{work}/{name}.json"))
three = variants(l3, l3_record, "l3_subspace")
v = three["variants"]
assert v["ID subspace"]["share_in_id_subspace"] > 1 - 1e-9 and v["complement"]["share_in_id_subspace"] < 1e-9, v
dims = three["subspace_dims"] / three["d_model"]
assert abs(v["random"]["share_in_id_subspace"] - dims) < 0.1, (dims, v["random"])  # a random direction: k/d
assert v["unedited"]["accuracy"] < 0.4, v["unedited"]
assert v["ID subspace"]["match_term"] > 2 * v["as trained"]["match_term"], v
assert v["ID subspace"]["hop1_share"] > v["as trained"]["hop1_share"] + 0.2, v
assert v["complement"]["match_term"] < 0.3 < v["as trained"]["match_term"], v
t = variants(type2, type2_record, "type2_subspace")["variants"]
assert t["as trained"]["accuracy"] < 0.4 and t["ID subspace"]["accuracy"] > 0.6, t
assert t["ID subspace"]["hop1_share"] > 0.7 > 0.4 > t["as trained"]["hop1_share"], t
print("ok")
PY
expect ood-subspace-id-record 1 "l4.h5: no out-of-distribution token in its prompts" -- \
  "$python" "$source/scripts/matching_ood_subspace.py" "$four" "$work/l4.h5"
expect ood-subspace-bad-layer 1 "--layer 0: a hop layer after layer 0's pair fusion, 1..2" -- \
  "$python" "$source/scripts/matching_ood_subspace.py" "$matching" "$work/l3_ood.h5" --layer 0
expect ood-subspace-bad-energy 1 "--energy 1.5: a share in \(0, 1\] is expected" -- \
  "$python" "$source/scripts/matching_ood_subspace.py" "$matching" "$work/l3_ood.h5" --energy 1.5

echo "trace: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
