#!/usr/bin/env bash
# `mechlens sweep`: a grid of tiny matching models trains into one folder, the result file and CSVs
# hold every run, a rerun reuses finished runs, a killed sweep continues to the same numbers as an
# uninterrupted one, runs of another budget are refused, and bad input is refused.
# usage: sweep_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
export OMP_NUM_THREADS=1
"$python" - "$source/data/configs/matching_3l1h_post_ln_gamma1.json" "$work/tiny.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(d_model=32, d_head=16, d_mlp=64)
json.dump(c, open(sys.argv[2], "w"))
PY
budget=(--batch 16 --warmup 5 --eval-every 20 --eval-n 40 --checkpoint-every 20 --quiet)

expect sweep-grid 0 "init_gamma=1.0,norm_placement=post +2 " -- "$mechlens" sweep --grid init-ln --config "$work/tiny.json" \
  --out-dir "$work/grid" --seeds 0,1 --steps 40 "${budget[@]}"
expect sweep-file 0 "^ok$" -- "$python" - "$work/grid" <<'PY'
import csv, json, sys, h5py, numpy as np
d = sys.argv[1]
with h5py.File(d + "/sweep.h5", "r") as f:
    assert f.attrs["format"] == "mechlens-sweep" and f.attrs["grid"] == "init-ln"
    assert f.attrs["axes"] == "init_gamma,norm_placement"
    runs = [r.decode() for r in f["runs/label_run"][()]]
    assert len(runs) == 8 and runs[0] == "init_gamma-0.5_norm_placement-pre_seed-0", runs
    assert [v.decode() for v in f["runs/axis_norm_placement"][()]][:4] == ["pre", "pre", "post", "post"]
    assert list(f["runs/seed"][()]) == [0, 1] * 4
    v = f["curves/values"]
    assert v.attrs["dims"] == "run,step,metric" and v.shape[:2] == (8, 2)
    assert list(f["curves/label_step"][()]) == [20, 40]
    metrics = [m.decode() for m in f["curves/label_metric"][()]]
    assert "test_first_token_acc" in metrics and "match_score_L2" in metrics, metrics
    # OOD accuracy beside its control without the in-distribution-edge shortcut
    assert "ood_first_token_acc" in metrics and "ood_decoy_first_token_acc" in metrics, metrics
    # the final values are each run's last curve row, and the condition means average its two seeds
    assert np.array_equal(f["final/values"][()], v[:, -1, :])
    assert np.allclose(f["conditions/mean"][()], f["final/values"][()].reshape(4, 2, -1).mean(1))
    # every run's config is the base with its axis values and seed
    cfg = json.loads(f["runs/config_json"][3])
    assert cfg["init_gamma"] == 0.5 and cfg["norm_placement"] == "post" and cfg["seed"] == 1 and cfg["d_model"] == 32
    # the per-run curves are the runs' own training logs
    log = list(csv.DictReader(open(d + "/" + runs[5] + ".train_log.csv")))
    col = metrics.index("test_first_token_acc")
    assert np.allclose([float(r["test_first_token_acc"]) for r in log], v[5, :, col], atol=1e-6)
rows = list(csv.DictReader(open(d + "/runs.csv")))
assert len(rows) == 8 and rows[7]["run"] == "init_gamma-1.0_norm_placement-post_seed-1" and rows[7]["final_step"] == "40"
assert len(list(csv.DictReader(open(d + "/conditions.csv")))) == 4
print("ok")
PY

# The page: one curve per run, the conditions table.
expect sweep-view 0 "wrote" -- "$mechlens" view "$work/grid/sweep.h5" --out "$work/sweep.html"
if [ -n "$browser" ]; then
  run_page "$work/sweep.html" "selftest=0,0" >"$work/sweep.dom"
  expect sweep-page 0 "^ok$" -- "$python" - "$work/sweep.dom" "$work/sweep.html.log" <<'PY'
import re, sys
text, log = open(sys.argv[1]).read(), open(sys.argv[2]).read()
assert "Uncaught" not in log, log[-2000:]
assert len(re.findall(r"<polyline data-run=\"\d", text)) == 8, "one curve per run"
assert len(re.findall(r"<tr><td>init_gamma=", text)) == 4, "conditions table"
selftest = re.search(r'<pre id="selftest">(.*?)</pre>', text, re.S).group(1)
assert "init_gamma-0.5_norm_placement-pre_seed-0" in selftest and "at the end" in selftest, selftest
print("ok")
PY
fi

# A damaged sweep file: the page is refused naming the file and the datasets, and no page is left.
cp "$work/grid/sweep.h5" "$work/damaged.h5"
"$python" - "$work/damaged.h5" <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    del f["runs/seed"]
    f["runs/seed"] = [0, 1, 0]
PY
expect view-damaged 1 "damaged.h5: /runs/seed holds 3 entries but /runs/label_run holds 8" -- \
  "$mechlens" view "$work/damaged.h5" --out "$work/damaged.html"
[ ! -e "$work/damaged.html" ] && ok || bad "a refused page left $work/damaged.html"

# A rerun with more seeds trains only the new runs.
before=$(stat -c %Y "$work/grid/init_gamma-0.5_norm_placement-pre_seed-0.train_log.csv")
sleep 1
expect sweep-more-seeds 0 "init_gamma=0.5,norm_placement=pre +3 " -- "$mechlens" sweep --grid init-ln --config "$work/tiny.json" \
  --out-dir "$work/grid" --seeds 0,1,2 --steps 40 "${budget[@]}"
after=$(stat -c %Y "$work/grid/init_gamma-0.5_norm_placement-pre_seed-0.train_log.csv")
if [ "$before" = "$after" ] && [ -f "$work/grid/init_gamma-0.5_norm_placement-pre_seed-2.train_log.csv" ]; then ok; else bad "sweep-reuse: a finished run was trained again"; fi

# Runs of another budget are refused by name; --force starts over.
expect sweep-other-budget 2 "holds runs of another sweep \(train.steps: there 40, now 60" -- "$mechlens" sweep --grid init-ln \
  --config "$work/tiny.json" --out-dir "$work/grid" "${budget[@]}" --steps 60
expect sweep-force 0 "wrote" -- "$mechlens" sweep --grid custom --config "$work/tiny.json" --out-dir "$work/grid" \
  --seeds 0 "${budget[@]}" --steps 60 --force
[ ! -e "$work/grid/init_gamma-0.5_norm_placement-pre_seed-0.safetensors" ] && ok || bad "sweep-force: old runs left behind"

# Killed mid-run, the same command continues to the numbers of an uninterrupted sweep.
long=(--grid custom --vary init_gamma=0.5,1 --config "$work/tiny.json" --seeds 0 --steps 300 --batch 16 --warmup 5
  --eval-every 50 --eval-n 40 --checkpoint-every 50 --quiet)
"$mechlens" sweep "${long[@]}" --out-dir "$work/whole" >/dev/null 2>&1
"$mechlens" sweep "${long[@]}" --out-dir "$work/killed" >/dev/null 2>&1 &
pid=$!
# Killed once the first run has a checkpoint (step 50 of 300): mid-run, whatever the machine's speed.
for _ in $(seq 600); do [ -e "$work/killed/init_gamma-0.5_seed-0.safetensors.state" ] && break; sleep 0.05; done
kill -9 "$pid" 2>/dev/null && ok || bad "sweep-kill: the sweep ended before it could be killed"
wait "$pid" 2>/dev/null
[ ! -e "$work/killed/sweep.h5" ] && ok || bad "sweep-kill: a result file exists after the kill"
expect sweep-continue 0 "wrote" -- "$mechlens" sweep "${long[@]}" --out-dir "$work/killed"
cmp -s "$work/whole/runs.csv" "$work/killed/runs.csv" && ok || bad "sweep-continue: runs.csv differs from the uninterrupted sweep: $(diff "$work/whole/runs.csv" "$work/killed/runs.csv" | head -5)"

# The grids' model is the shipped post-LN matching model's config.
expect sweep-preset-model 0 "wrote" -- "$mechlens" sweep --grid noise --vary orthogonal_noise=none --out-dir "$work/preset" \
  --seeds 0 --steps 1 --batch 4 --eval-n 4 --quiet
expect sweep-preset-config 0 "^ok$" -- "$python" - "$work/preset/sweep.json" "$source/data/configs/matching_3l1h_post_ln_gamma1.json" <<'PY'
import json, sys
spec, shipped = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
base = spec["base_config"]
assert all(base[k] == v for k, v in shipped.items()), {k: (base[k], v) for k, v in shipped.items() if base[k] != v}
assert spec["train"]["batch"] == 4 and spec["train"]["lr"] == 5e-4 and spec["train"]["warmup"] == 1000
print("ok")
PY
expect sweep-dry-run 0 "^  n_layers-6_seed-1$" -- "$mechlens" sweep --grid depth --out-dir "$work/depth" --dry-run
[ ! -e "$work/depth" ] && ok || bad "sweep-dry-run wrote a folder"
# The depth grid mixes hop counts, so its problems state the count as a token (the paper's Type 3);
# mixing them where the prompt does not say it is warned about.
expect depth-task 0 "wrote" -- "$mechlens" sweep --grid depth --vary n_layers=2 --out-dir "$work/depth" --seeds 0 \
  --steps 1 --batch 4 --eval-n 4 --quiet
expect depth-spec 0 "^ok$" -- "$python" - "$work/depth/sweep.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
assert spec["task"]["options"] == ["layout=single_chain_with_order", "seq_len=14", "orders=1,2,3,4,5"], spec["task"]
assert spec["base_config"]["n_ctx"] == 15, spec["base_config"]["n_ctx"]
print("ok")
PY
# --task-option changes the grid's setting of its key and keeps the others.
expect depth-one-option 0 '^task: \{"task":"matching","layout":"single_chain_with_order",.*"orders":\[1\],"seq_len":14' -- "$mechlens" sweep --grid depth --vary n_layers=2 \
  --task-option orders=1 --steps 1 --batch 4 --eval-n 4 --quiet --dry-run --out-dir "$work/depth1"
expect hop-count-warning 0 "warning: orders=\[1,2\] in the single_chain layout" -- "$mechlens" train --task matching \
  --config "$work/tiny.json" --task-option orders=1,2 --steps 1 --batch 4 --eval-n 4 --out "$work/mixed.safetensors" --quiet
out=$("$mechlens" train --task matching --config "$work/tiny.json" --task-option orders=1,2 --task-option seq_len=12 \
  --task-option layout=single_chain_with_order --steps 1 --batch 4 --eval-n 4 --out "$work/stated.safetensors" --quiet 2>&1)
if grep -q "^trained 1 steps" <<<"$out" && ! grep -q warning <<<"$out"; then ok
else bad "hop-count-warning: a stated hop count did not train quietly: $out"; fi

# A curriculum: a second stage starts each run from the first stage's run of the same name. At a
# vanishing learning rate its weights stay the first stage's; a fresh run's do not.
tiny=(--config "$work/tiny.json" --seeds 0)
stage=(--grid custom --vary init_gamma=0.5,1 --steps 20 --batch 16 --warmup 5
  --eval-every 10 --eval-n 40 --quiet)
expect stage-1 0 "wrote" -- "$mechlens" sweep "${stage[@]}" "${tiny[@]}" --task-option orders=1 --out-dir "$work/stage1"
still=(--lr 1e-12 --min-lr 0 --weight-decay 0)
expect stage-2 0 "wrote" -- "$mechlens" sweep "${stage[@]}" "${tiny[@]}" "${still[@]}" --task-option orders=1,2 \
  --init-from-dir "$work/stage1" --out-dir "$work/stage2"
expect stage-fresh 0 "wrote" -- "$mechlens" sweep "${stage[@]}" "${tiny[@]}" "${still[@]}" --task-option orders=1,2 --out-dir "$work/fresh"
expect stage-weights 0 "^ok$" -- "$python" - "$work" <<'PY'
import json, struct, sys, numpy as np
def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n)); data = f.read()
    meta = header.pop("__metadata__", {})
    return meta, {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32)
                  for k, v in header.items()}
w = sys.argv[1]
for run in ("init_gamma-0.5_seed-0", "init_gamma-1_seed-0"):
    _, first = tensors(f"{w}/stage1/{run}.safetensors")
    meta, second = tensors(f"{w}/stage2/{run}.safetensors")
    _, fresh = tensors(f"{w}/fresh/{run}.safetensors")
    assert first.keys() == second.keys()
    gap = max(float(np.abs(first[k] - second[k]).max()) for k in first)
    assert gap < 1e-6, (run, "stage 2 did not start from stage 1", gap)
    assert max(float(np.abs(first[k] - fresh[k]).max()) for k in first) > 1e-3, (run, "fresh run equals stage 1")
    assert meta["init_from"].startswith(f"{w}/stage1/{run}.safetensors sha256:"), meta["init_from"]
spec = json.load(open(f"{w}/stage2/sweep.json"))
assert spec["train"]["init_from_dir"] == f"{w}/stage1", spec["train"]
print("ok")
PY
# Stages that cannot be continued are refused before anything trains, naming the folder and the run.
expect stage-not-sweep 1 "--init-from-dir .*/tiny.json: no sweep.json there" -- "$mechlens" sweep "${stage[@]}" "${tiny[@]}" \
  --init-from-dir "$work/tiny.json" --out-dir "$work/x"
expect stage-missing-run 1 "run init_gamma-0.5_seed-1 is missing or unfinished" -- "$mechlens" sweep "${stage[@]}" \
  --config "$work/tiny.json" --seeds 0,1 --init-from-dir "$work/stage1" --out-dir "$work/x"
expect stage-other-model 1 "run init_gamma-0.5_seed-0 has another model config" -- "$mechlens" sweep "${stage[@]}" --seeds 0 \
  --config "$source/data/configs/matching_3l1h_post_ln_gamma1.json" --init-from-dir "$work/stage1" --out-dir "$work/x"
mkdir -p "$work/broken" && echo '{"train": {"steps": "20"' >"$work/broken/sweep.json"
expect stage-bad-json 1 "broken/sweep.json: not valid JSON" -- "$mechlens" sweep "${stage[@]}" "${tiny[@]}" \
  --init-from-dir "$work/broken" --out-dir "$work/x"
echo '{"train": {"steps": "20"}}' >"$work/broken/sweep.json"
expect stage-bad-steps 1 "broken/sweep.json: field 'train.steps' is missing or not an integer" -- "$mechlens" sweep \
  "${stage[@]}" "${tiny[@]}" --init-from-dir "$work/broken" --out-dir "$work/x"
rm "$work/stage1/init_gamma-1_seed-0.train_log.csv"
expect stage-unfinished 1 "run init_gamma-1_seed-0 is missing or unfinished .*20 training steps" -- "$mechlens" sweep \
  "${stage[@]}" "${tiny[@]}" --init-from-dir "$work/stage1" --out-dir "$work/x"
[ ! -e "$work/x" ] && ok || bad "stage refusals: a folder was written"

# scripts/depth_curriculum.sh: a plain-layout 1-hop stage 0, then hop-count-as-token stages of 1 and
# 1–2 hops, each starting from the stage before; the prompt of stage 0 is one token shorter.
"$python" -c "import json; c = json.load(open('$work/tiny.json')); c['n_ctx'] = 15; \
json.dump(c, open('$work/tiny15.json', 'w'))"
expect curriculum 0 "stage 2 of 2, hops 1,2, hop count as a token, L = 2, 4 steps" -- env MECHLENS="$mechlens" \
  bash "$source/scripts/depth_curriculum.sh" "$work/curriculum" 2 2 3,2,4 -- --config "$work/tiny15.json" \
  --batch 8 --eval-every 2 --eval-n 20 --quiet
expect curriculum-stages 0 "^ok$" -- "$python" - "$work/curriculum" <<'PY'
import json, sys
w = sys.argv[1]
options = {}
for k, steps in ((0, 3), (1, 2), (2, 4)):
    spec = json.load(open(f"{w}/stage-{k}/sweep.json"))
    assert spec["train"]["steps"] == steps, (k, spec["train"])
    options[k] = spec["task"]["options"]
    if k > 0:
        assert spec["train"]["init_from_dir"] == f"{w}/stage-{k - 1}", (k, spec["train"])
assert options[0] == ["layout=single_chain", "seq_len=13", "orders=1"], options[0]
assert options[1] == ["layout=single_chain_with_order", "seq_len=14", "orders=1"], options[1]
assert options[2] == ["layout=single_chain_with_order", "seq_len=14", "orders=1,2"], options[2]
print("ok")
PY
# Analyses read a checkpoint in the prompt form it was trained on (its recorded layout and length),
# unless --task-option says otherwise.
expect recorded-layout 0 "^4 prompts of 14 tokens" -- "$mechlens" trace "$work/curriculum/stage-1/n_layers-2_seed-0.safetensors" \
  --task matching --n 4 --quiet
expect recorded-layout-overridden 0 "^4 prompts of 13 tokens" -- "$mechlens" trace \
  "$work/curriculum/stage-1/n_layers-2_seed-0.safetensors" --task matching --n 4 --quiet \
  --task-option layout=single_chain --task-option seq_len=13
# Hop counts stay the command's, with a note when none of them was trained (stage 1: 1 hop only).
expect untrained-orders 0 "note: .*stage-1/n_layers-2_seed-0.safetensors was trained on hop counts \[1\]; these prompts ask \[2\]" \
  -- "$mechlens" trace "$work/curriculum/stage-1/n_layers-2_seed-0.safetensors" --task matching --n 4 --quiet
out=$("$mechlens" trace "$work/curriculum/stage-1/n_layers-2_seed-0.safetensors" --task matching --n 4 --quiet \
  --task-option orders=1,2 2>&1)
grep -q "^4 prompts" <<<"$out" && ! grep -q "trained on hop counts" <<<"$out" && ok || bad "orders=1,2 noted: $out"
# ... and in its recorded node ranges: a model trained on 101..200 out of distribution is asked about 200.
"$mechlens" train --task matching --config "$work/tiny.json" --task-option ranges=full --steps 1 --batch 4 \
  --eval-n 4 --out "$work/full_ranges.safetensors" --quiet >/dev/null 2>&1
for ranges in recorded paper; do
  option=() && [ "$ranges" = paper ] && option=(--task-option ranges=paper)
  "$mechlens" record --checkpoint "$work/full_ranges.safetensors" --task matching --task-option split=ood --n 64 \
    "${option[@]}" --hooks blocks.0.hook_resid_pre --out "$work/ranges-$ranges.h5" --quiet >/dev/null 2>&1
done
expect recorded-ranges 0 "^ok$" -- "$python" - "$work" <<'PY'
import sys, h5py
w = sys.argv[1]
recorded, paper = (h5py.File(f"{w}/ranges-{r}.h5", "r")["tokens"][()] for r in ("recorded", "paper"))
assert recorded.max() == 200, recorded.max()  # full ranges: 101..200
assert paper.max() == 199, paper.max()  # --task-option ranges=paper overrides the record
print("ok")
PY
expect curriculum-bad-steps 2 "STEPS '3,2' has 2 values; expected one, or 3 \(stages 0..2\)" -- env MECHLENS="$mechlens" \
  bash "$source/scripts/depth_curriculum.sh" "$work/x" 2 2 3,2
[ ! -e "$work/x" ] && ok || bad "curriculum-bad-steps: a folder was written"
# FROM_STAGE continues from a finished stage kept elsewhere: only the later stages run, the first from
# that folder's weights, with the mix of hops 1..K+1.
expect curriculum-from-stage 0 "stage 2 of 2, hops 1,2, hop count as a token, L = 2, 3 steps" -- env MECHLENS="$mechlens" \
  FROM_STAGE="$work/curriculum/stage-1/" bash "$source/scripts/depth_curriculum.sh" "$work/continued" 2 2 3 -- \
  --config "$work/tiny15.json" --batch 8 --eval-every 2 --eval-n 20 --quiet
expect curriculum-from-stage-spec 0 "^ok$" -- "$python" -c "import json, os; w = '$work'; \
spec = json.load(open(f'{w}/continued/stage-2/sweep.json')); \
assert spec['train']['init_from_dir'] == f'{w}/curriculum/stage-1', spec['train']; \
assert spec['task']['options'] == ['layout=single_chain_with_order', 'seq_len=14', 'orders=1,2'], spec['task']; \
assert spec['train']['steps'] == 3, spec['train']; \
assert sorted(os.listdir(f'{w}/continued')) == ['stage-2'], os.listdir(f'{w}/continued'); print('ok')"
expect curriculum-from-not-stage 2 "FROM_STAGE '.*/curriculum' is not a stage folder \(expected DIR/stage-K\)" -- \
  env MECHLENS="$mechlens" FROM_STAGE="$work/curriculum" bash "$source/scripts/depth_curriculum.sh" "$work/x" 2 2
expect curriculum-from-last 2 "FROM_STAGE '.*/stage-2' is stage 2; MAX_ORDER 2 leaves nothing to run" -- \
  env MECHLENS="$mechlens" FROM_STAGE="$work/curriculum/stage-2" bash "$source/scripts/depth_curriculum.sh" "$work/x" 2 2
expect curriculum-from-empty 2 "FROM_STAGE '.*/stage-7' has no sweep.json" -- \
  env MECHLENS="$mechlens" FROM_STAGE="$work/stage-7" bash "$source/scripts/depth_curriculum.sh" "$work/x" 2 9
[ ! -e "$work/x" ] && ok || bad "curriculum-from refusals: a folder was written"

# --freeze keeps parameters at their values (tested in train_test); from the command line a name that
# selects nothing is refused before any checkpoint is written, and a sweep records what it froze.
expect freeze-typo 1 "--freeze 'embed.W': no parameter of this model has that name" -- "$mechlens" train --task matching \
  --config "$work/tiny.json" --steps 2 --batch 4 --eval-n 4 --freeze embed.W --out "$work/frozen.safetensors" --quiet
[ ! -e "$work/frozen.safetensors" ] && ok || bad "freeze-typo: a checkpoint was written"
expect freeze-empty 2 "--freeze 'embed.W_E,': an empty name" -- "$mechlens" train --task matching \
  --config "$work/tiny.json" --steps 2 --freeze embed.W_E, --out "$work/frozen.safetensors"
expect freeze-sweep 0 "wrote" -- "$mechlens" sweep "${stage[@]}" "${tiny[@]}" --freeze embed.W_E --out-dir "$work/frozen"
expect freeze-spec 0 "^ok$" -- "$python" -c "import json, sys; t = json.load(open('$work/frozen/sweep.json'))['train']; \
assert t['frozen'] == ['embed.W_E'], t; print('ok')"

expect bad-grid 2 "--grid 'gamma': expected one of init-ln, noise, depth, custom" -- "$mechlens" sweep --grid gamma --out-dir "$work/x"
expect bad-key 1 "sweep axis 'gamma' is not a model config key" -- "$mechlens" sweep --grid custom --vary gamma=1 --out-dir "$work/x"
expect bad-value 1 "sweep run norm_placement-sideways_seed-0: config field 'norm_placement' is 'sideways'" -- \
  "$mechlens" sweep --grid custom --vary norm_placement=sideways --out-dir "$work/x"
expect bad-vary 1 "--vary 'init_gamma': expected KEY=V1,V2" -- "$mechlens" sweep --grid custom --vary init_gamma --out-dir "$work/x"
expect bad-seeds 2 "--seeds '0,x': 'x' is not a seed" -- "$mechlens" sweep --grid custom --seeds 0,x --out-dir "$work/x"
expect bad-threshold 2 "--jump-at and --reach-at must be in 0..1" -- "$mechlens" sweep --grid custom --jump-at 2 --out-dir "$work/x"
touch "$work/file"
expect out-dir-file 2 "--out-dir '.*/file' is a file" -- "$mechlens" sweep --grid custom --out-dir "$work/file" --steps 1
expect out-dir-parent 2 "folder '.*/missing' does not exist" -- "$mechlens" sweep --grid custom --out-dir "$work/missing/d" --steps 1
echo "sweep: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
