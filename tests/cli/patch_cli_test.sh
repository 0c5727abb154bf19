#!/usr/bin/env bash
# `mechlens patch` end to end: task pairs and token files, HDF5 and JSON output read back with h5py,
# the circuit check, and clear errors that leave no file at --out.
# usage: patch_cli_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
ck="$source/data/checkpoints/logic_3l3h.safetensors"

expect patch-task 0 "layer 0, pos 34 \(query\), head 2 +score \+1\.0" -- "$mechlens" patch --checkpoint "$ck" --task logic \
  --pairs query-flip --n 16 --seed 3 --component head_z --positions=-5: --direction noising --quiet --out "$work/p.h5"
expect patch-h5 0 "^ok$" -- "$python" - "$work/p.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    g = f["results/head_z"]
    assert f.attrs["format"] == "mechlens-patching", f.attrs["format"]
    assert g["normalised"].shape == (3, 5, 3) and g["normalised"].attrs["dims"] == "layer,pos,head"
    assert list(g["label_pos"][:]) == [33, 34, 35, 36, 37]
    clean, corrupted = g.attrs["clean_metric"], g.attrs["corrupted_metric"]
    assert np.allclose(g["normalised"][:], (g["metric"][:] - clean) / (corrupted - clean), atol=1e-5)
    assert f["prompts/clean"].shape == (16, 38) and f["prompts/corrupted"].shape == (16, 38)
print("ok")
PY
# Reasoning pairs: one fact's truth value flipped, the proof's first token already in the prompt; the
# shipped model copies the cited fact's truth value with layer 1's head 1 at the answer position.
expect patch-fact-flip 0 "layer 1, pos 38 \(answer_position\), head 1 +score \+0\.9" -- "$mechlens" patch \
  --checkpoint "$ck" --task logic --pairs fact-flip --task-option proof_prefix=1 --n 32 --seed 3 --component head_z \
  --direction noising --quiet --out "$work/fact.h5"
expect patch-fact-flip-h5 0 "^ok$" -- "$python" - "$work/fact.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    clean, corrupted = f["prompts/clean"][:], f["prompts/corrupted"][:]
    assert clean.shape == (32, 39), clean.shape
    differs = clean != corrupted
    assert (differs.sum(1) == 1).all(), differs.sum(1)  # one token per pair: the flipped truth value
    fact = f["prompts/annotations/correct_fact"][:, 0]
    assert (np.argmax(differs, 1) == fact + 1).all()
    assert (clean[:, -1] == clean[np.arange(32), fact]).all()  # the prompt ends naming the cited fact
print("ok")
PY
expect patch-deterministic 0 "^same$" -- bash -c "'$mechlens' patch --checkpoint '$ck' --task logic --n 4 --component resid_pre --quiet --json '$work/a.json' >/dev/null && '$mechlens' patch --checkpoint '$ck' --task logic --n 4 --component resid_pre --quiet --json '$work/b.json' >/dev/null && cmp -s '$work/a.json' '$work/b.json' && echo same"
expect patch-circuit 0 "circuit +\+0\.9" -- "$mechlens" patch --checkpoint "$ck" --task logic --n 16 --seed 3 \
  --component head_z --positions=-1 --circuit "$source/data/circuits/logic_3l3h_query_flip.json" --quiet
expect patch-blocks-ablation 0 "mlp_out \(noising, layer x pos, ablation mean\)" -- "$mechlens" patch --checkpoint "$ck" \
  --task logic --n 8 --component blocks --ablation mean --positions=-2: --quiet

expect patch-several-components 0 "head_z_all \(denoising, layer x head" -- "$mechlens" patch --checkpoint "$ck" \
  --task logic --n 4 --component resid_pre,head_z_all,resid_pre --quiet --json "$work/several.json"
expect patch-several-json 0 "^\['head_z_all', 'resid_pre'\]$" -- "$python" -c "
import json; print(sorted(json.load(open('$work/several.json'))['results']))"

# Named task spans: whole regions per prompt, labelled by name.
expect patch-spans 0 "layer 0, query, head 2 +score \+1\.0" -- "$mechlens" patch --checkpoint "$ck" --task logic \
  --n 16 --seed 3 --component head_z --positions query,queried_rule,answer_position --direction noising --quiet \
  --out "$work/spans.h5"
expect patch-spans-h5 0 "^ok$" -- "$python" - "$work/spans.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    g = f["results/head_z"]
    assert g["normalised"].shape == (3, 3, 3) and g["normalised"].attrs["dims"] == "layer,span,head"
    assert list(g["label_span"].asstr()[:]) == ["query", "queried_rule", "answer_position"]
print("ok")
PY
"$mechlens" init --config "$source/data/configs/matching_3l1h_pre_ln_gamma05.json" --out "$work/m.safetensors" >/dev/null
expect patch-spans-matching 0 "layer 0, hop1_edge" -- "$mechlens" patch --checkpoint "$work/m.safetensors" --task matching \
  --n 8 --component resid_pre --positions spans --top 30 --quiet
expect patch-unknown-span 1 "unknown span 'rule9'; these prompts name rules, " -- "$mechlens" patch --checkpoint "$ck" \
  --task logic --n 2 --positions query,rule9 --out "$work/bad.h5"

# Per-prompt values and --group-by: groups are their prompts' means, normalised by their own runs.
expect patch-group-by 0 "by queried_chain \(normalised score" -- "$mechlens" patch --checkpoint "$ck" --task logic \
  --n 24 --seed 3 --component head_z --positions spans --group-by queried_chain --quiet --out "$work/groups.h5" \
  --json "$work/groups.json"
expect patch-group-by-h5 0 "^ok$" -- "$python" - "$work/groups.h5" "$work/groups.json" <<'PY'
import sys, json, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    g = f["results/head_z"]
    per_prompt = g["per_prompt"][:]
    assert per_prompt.shape == (3, 9, 3, 24) and g["per_prompt"].attrs["dims"] == "layer,span,head,batch"
    assert np.allclose(per_prompt.mean(-1), g["metric"][:], atol=1e-5)
    chain = f["prompts/annotations/queried_chain"][:, 0]
    groups = g["groups"]
    labels = list(groups["label_group"].asstr()[:])
    for i, label in enumerate(labels):
        mine = chain == int(label)
        assert groups["count"][i] == mine.sum()
        assert np.allclose(groups["metric"][i], per_prompt[..., mine].mean(-1), atol=1e-5)
        assert np.allclose(groups["metric_std"][i], per_prompt[..., mine].std(-1), atol=1e-4)
        clean = f["prompts/clean_metric"][mine].mean()
        assert np.isclose(groups["clean_metric"][i], clean, atol=1e-5)
    assert list(f["vocab"].asstr()[:3]) == ["A", "B", "C"]
    assert len(f["prompts/group"]) == 24
js = json.load(open(sys.argv[2]))["results"]["head_z"]["groups"]
assert js["group_by"] == "queried_chain" and js["labels"] == labels
print("ok")
PY
expect patch-group-by-unknown 1 "--group-by nope: the prompts have no annotation 'nope'; one value per prompt: group, " -- \
  "$mechlens" patch --checkpoint "$ck" --task logic --n 4 --group-by nope --quiet
expect patch-group-by-shape 1 "--group-by v1: the annotation has shape \[4, 3\]" -- \
  "$mechlens" patch --checkpoint "$ck" --task logic --n 4 --group-by v1 --quiet
printf '1 2 3 4\n5 6 7 8\n' >"$work/plain.txt"
expect patch-group-by-files 1 "--group-by order: these prompts carry no annotations" -- "$mechlens" patch --checkpoint "$ck" \
  --clean "$work/plain.txt" --corrupted "$work/plain.txt" --group-by order --quiet

# record takes the same named spans (of fixed width), and refuses spans whose width varies.
expect record-span 0 "recorded 1 hooks" -- "$mechlens" record --checkpoint "$ck" --task logic --n 6 --hooks 'blocks.0.attn.hook_pattern' \
  --positions correct_fact --out "$work/span_record.h5" --quiet
expect record-span-h5 0 "^ok$" -- "$python" - "$work/span_record.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    fact = f["annotations/correct_fact"][:]
    assert (f["positions"][:] == fact[:, :1] + np.arange(3)).all()
    assert f["acts/blocks.0.attn.hook_pattern"].shape[2] == 3
print("ok")
PY
expect record-span-varying 1 "span 'queried_rule' covers .* positions in prompt 0 but .* in prompt" -- "$mechlens" record \
  --checkpoint "$ck" --task logic --n 40 --hooks hook_embed --positions queried_rule --out "$work/bad_span.h5" --quiet
[ ! -e "$work/bad_span.h5" ] && ok || bad "record left bad_span.h5"
expect record-span-no-task 1 "named spans come from a task's annotations; use --task" -- "$mechlens" record \
  --checkpoint "$ck" --tokens-file "$work/plain.txt" --hooks hook_embed --positions query --out "$work/bad_span.h5"

# Necessity checks from the command line: the query-moving head the sweep finds (L0H2) is needed,
# a head it scores near zero (L2H1) is not; errors name the bad part.
expect eval-ablate-needed 0 "all +200 .* 0\.[0-5][0-9]* " -- "$mechlens" eval --checkpoint "$ck" --task logic --n 200 \
  --ablate L0H2 --quiet
expect eval-ablate-unneeded 0 "all +200 +[0-9.]+ +1\.0000" -- "$mechlens" eval --checkpoint "$ck" --task logic --n 200 \
  --ablate L2H1 --ablation-kind mean --quiet
expect eval-ablate-header 0 "with L0H0,L0H1,L0H2 ablated \(mean over 20 prompts\)" -- "$mechlens" eval --checkpoint "$ck" \
  --task logic --n 20 --ablate 'L0H*' --ablation-kind mean --quiet
expect run-ablate 0 "with L0H2 ablated \(zero\)" -- "$mechlens" run --checkpoint "$ck" --tokens 1,2,3 --ablate L0H2
expect ablate-bad 1 "--ablate 'L0H9': head 9 is out of range; the model has heads 0..2" -- "$mechlens" eval \
  --checkpoint "$ck" --task logic --n 2 --ablate L0H9
expect ablation-kind-alone 2 "--ablation-kind applies with --ablate" -- "$mechlens" run --checkpoint "$ck" --tokens 1,2 \
  --ablation-kind mean

# Clean activations from a record of the same prompts give the same sweep.
expect patch-clean-record 0 "^same$" -- bash -c "'$mechlens' record --checkpoint '$ck' --task logic --n 6 --seed 4 --hooks 'blocks.*.attn.hook_z' --out '$work/clean.h5' --quiet >/dev/null && '$mechlens' patch --checkpoint '$ck' --task logic --n 6 --seed 4 --component head_z --clean-record '$work/clean.h5' --quiet --json '$work/r1.json' | grep -q 'clean activations of 3 hooks' && '$mechlens' patch --checkpoint '$ck' --task logic --n 6 --seed 4 --component head_z --quiet --json '$work/r2.json' >/dev/null && cmp -s '$work/r1.json' '$work/r2.json' && echo same"
"$mechlens" init --config "$source/data/configs/logic_3l3h.json" --out "$work/other_logic.safetensors" >/dev/null
expect patch-clean-record-other-model 1 "clean.h5: the record was made by checkpoint .*logic_3l3h.safetensors .*not by the one patched here" -- \
  "$mechlens" patch --checkpoint "$work/other_logic.safetensors" --task logic --n 6 --seed 4 --component head_z \
  --clean-record "$work/clean.h5" --quiet
expect patch-clean-record-mismatch 1 "clean.h5: /tokens do not hold the clean prompts" -- "$mechlens" patch --checkpoint "$ck" \
  --task logic --n 6 --seed 5 --component head_z --clean-record "$work/clean.h5" --quiet

# Token files: clean and corrupted lines pair up; answers default to each run's own prediction.
"$python" - "$work" <<'PY'
import sys
work = sys.argv[1]
clean = [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]
open(f"{work}/clean.txt", "w").write("".join(" ".join(map(str, r)) + "\n" for r in clean))
open(f"{work}/corrupted.txt", "w").write("".join(" ".join(map(str, r[:2] + [20] + r[3:])) + "\n" for r in clean))
open(f"{work}/short.txt", "w").write("1 2 3\n4 5 6\n")
open(f"{work}/answers.txt", "w").write("1 2\n3 4\n")
PY
expect patch-files 0 "resid_pre \(denoising, layer x pos" -- "$mechlens" patch --checkpoint "$ck" --clean "$work/clean.txt" \
  --corrupted "$work/corrupted.txt" --answers "$work/answers.txt" --quiet --attribution
expect patch-options-files 0 "^ok$" -- bash -c "'$mechlens' patch --checkpoint '$ck' --clean '$work/clean.txt' --corrupted '$work/corrupted.txt' --quiet --out '$work/files.h5' >/dev/null && '$python' -c \"
import h5py, json
options = json.loads(h5py.File('$work/files.h5').attrs['options'])
assert 'n' not in options and 'seed' not in options and options['component'] == 'resid_pre', options
print('ok')\""
# Default answers come from the set-up runs, also per prompt group; given explicitly, they score the same.
expect patch-default-answers 0 "^ok$" -- bash -c "'$mechlens' patch --checkpoint '$ck' --clean '$work/clean.txt' --corrupted '$work/corrupted.txt' --quiet --split-prompts 2 --out '$work/files_split.h5' >/dev/null && '$python' -c \"
import h5py
a, b = h5py.File('$work/files.h5'), h5py.File('$work/files_split.h5')
for name in ('correct', 'wrong'):
    assert (a['prompts'][name][()] == b['prompts'][name][()]).all(), name
open('$work/defaults.txt', 'w').write(''.join(f'{c} {w}\\n' for c, w in zip(a['prompts/correct'][()], a['prompts/wrong'][()])))
print('ok')\" && '$mechlens' patch --checkpoint '$ck' --clean '$work/clean.txt' --corrupted '$work/corrupted.txt' --answers '$work/defaults.txt' --quiet --out '$work/files_given.h5' >/dev/null && '$python' -c \"
import h5py, numpy as np
a, b = h5py.File('$work/files.h5'), h5py.File('$work/files_given.h5')
def walk(g, out, prefix=''):
    for k, v in g.items():
        if isinstance(v, h5py.Group): walk(v, out, prefix + k + '/')
        elif v.dtype.kind == 'f': out[prefix + k] = v[()]
    return out
x, y = walk(a, {}), walk(b, {})
assert x.keys() == y.keys() and x, (sorted(x), sorted(y))
for k in x: assert np.array_equal(x[k], y[k], equal_nan=True), k
print('ok')\""
expect patch-options-task 0 "^ok$" -- bash -c "'$mechlens' patch --checkpoint '$ck' --task logic --n 4 --task-option logop_share=0.5 --quiet --out '$work/task.h5' >/dev/null && '$python' -c \"
import h5py, json
options = json.loads(h5py.File('$work/task.h5').attrs['options'])
assert options['task-option'] == ['logop_share=0.5'] and options['n'] == 4, options
print('ok')\""
expect patch-length-mismatch 1 "clean.txt holds 2 prompts of 6 tokens but .*short.txt holds 2 of 3" -- "$mechlens" patch --checkpoint "$ck" \
  --clean "$work/clean.txt" --corrupted "$work/short.txt" --out "$work/bad.h5"
expect patch-unknown-component 1 "unknown component 'head_x'; expected one of" -- "$mechlens" patch --checkpoint "$ck" \
  --task logic --n 2 --component head_x --out "$work/bad.h5"
expect patch-bad-layer 1 "--layers.*3|layer 3" -- "$mechlens" patch --checkpoint "$ck" --task logic --n 2 --layers 3 --out "$work/bad.h5"
expect patch-bad-token 1 "token id 99 at \[batch 0, pos 0\] is out of range" -- bash -c "echo '99 1 2 3 4 5' > '$work/oob.txt'; echo '99 1 2 3 4 5' >> '$work/oob.txt'; '$mechlens' patch --checkpoint '$ck' --clean '$work/oob.txt' --corrupted '$work/clean.txt' --out '$work/bad.h5'"
expect patch-bad-answer-token 1 "bad_answers.txt: the answers of prompt 1: token 999 is not an id in 0\.\.44" -- bash -c "printf '1 2\\n3 999\\n' > '$work/bad_answers.txt'; '$mechlens' patch --checkpoint '$ck' --clean '$work/clean.txt' --corrupted '$work/corrupted.txt' --answers '$work/bad_answers.txt' --out '$work/bad.h5'"
expect patch-no-output-left 0 "^absent$" -- bash -c "[ -e '$work/bad.h5' ] || [ -e '$work/bad.h5.partial' ] || echo absent"
expect patch-bad-selection 1 "--positions '3:x': 'x' is not an integer" -- "$mechlens" patch --checkpoint "$ck" \
  --task logic --n 2 --positions 3:x --out "$work/bad.h5"
expect patch-positions-all-pos 2 "head_z_all' patches every position at once" -- "$mechlens" patch --checkpoint "$ck" \
  --task logic --n 2 --component head_z_all --positions=-1 --out "$work/bad.h5"
expect patch-no-location 1 "unknown component 'head_x'; expected one of: .*heads_all$" -- "$mechlens" patch --checkpoint "$ck" --task logic --n 2 --component head_x
expect patch-verbose-location 1 "components.cpp:[0-9]+\]" -- "$mechlens" patch --checkpoint "$ck" --task logic --n 2 \
  --component head_x --verbose
expect patch-json-stdout-alone 0 "^json ok$" -- bash -c "'$mechlens' patch --checkpoint '$ck' --task logic --n 2 --component resid_pre --quiet --json - 2>/dev/null | '$python' -c 'import json,sys; json.load(sys.stdin); print(\"json ok\")'"
mkdir -p "$work/a_directory"
expect patch-out-directory 2 "--out '.*a_directory' is a directory" -- "$mechlens" patch --checkpoint "$ck" --task logic --n 2 --out "$work/a_directory"
expect patch-out-no-folder 2 "folder '.*no_such_folder' does not exist" -- "$mechlens" patch --checkpoint "$ck" --task logic --n 2 --out "$work/no_such_folder/p.h5"
expect patch-no-input 2 "either --clean F --corrupted F or --task NAME" -- "$mechlens" patch --checkpoint "$ck"
expect patch-bad-pairs 2 "makes 'query-flip', 'fact-flip', 'rule-order', 'disjunct-order' or 'distractor' pairs, not 'query-node'" -- "$mechlens" patch --checkpoint "$ck" --task logic --pairs query-node
echo "patch cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

# --split-prompts: groups of prompts run one after another; the joined file equals the unsplit one to
# rounding (the set-up's forwards see fewer prompts), with the same axes and per-prompt values.
split_args=(patch --checkpoint "$ck" --task logic --n 10 --seed 6 --component head_z,resid_pre --positions=-4:
  --attribution --group-by queried_chain --circuit "$source/data/circuits/logic_3l3h_query_flip.json" --quiet)
expect patch-split 0 "circuit +\+" -- "$mechlens" "${split_args[@]}" --split-prompts 3 --out "$work/split3.h5"
expect patch-unsplit 0 "circuit +\+" -- "$mechlens" "${split_args[@]}" --out "$work/split1.h5"
expect patch-split-close 0 "^ok$" -- "$python" - "$work/split1.h5" "$work/split3.h5" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:])
seen = []
def compare(name, obj):
    if not isinstance(obj, h5py.Dataset) or obj.dtype.kind not in "fiu": return
    assert name in b, f"{name} missing from the split file"
    x, y = obj[()], b[name][()]
    assert x.shape == y.shape, (name, x.shape, y.shape)
    assert np.allclose(x, y, rtol=1e-4, atol=1e-5, equal_nan=True), (name, np.nanmax(np.abs(x - y)))
    seen.append(name)
a.visititems(compare)
assert any("per_prompt" in n for n in seen) and any("attribution" in n for n in seen) and any("circuit" in n for n in seen), seen
import json
assert json.loads(b.attrs["options"])["split-prompts"] == 3, b.attrs["options"]
print("ok")
PY
expect patch-split-too-many 1 "cannot cut 10 prompts into 11 groups" -- "$mechlens" patch --checkpoint "$ck" --task logic \
  --n 10 --component head_z --split-prompts 11 --quiet --out "$work/bad.h5"
expect patch-split-mean 1 "mean ablation takes its values across all prompts, but with 2 prompt groups" -- \
  "$mechlens" patch --checkpoint "$ck" --task logic --n 10 --component head_z --ablation mean --split-prompts 2 --quiet
expect patch-split-zero 2 "--split-prompts must be at least 1" -- "$mechlens" patch --checkpoint "$ck" --task logic \
  --n 10 --split-prompts 0
expect patch-split-record 2 "--clean-record holds the whole batch's clean activations" -- "$mechlens" patch \
  --checkpoint "$ck" --task logic --n 6 --seed 4 --clean-record "$work/clean.h5" --split-prompts 2
expect patch-split-no-output-left 0 "^absent$" -- bash -c "[ -e '$work/bad.h5' ] || [ -e '$work/bad.h5.partial' ] || echo absent"
