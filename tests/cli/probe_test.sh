#!/usr/bin/env bash
# `mechlens probe` on the shipped logic model: which chain is queried is read from the query position
# after layer 0 (not from the embeddings: majority baseline), the file holds the split and every
# accuracy, the answer position has no control task, and bad input is refused.
# usage: probe_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
logic="$source/data/checkpoints/logic_3l3h.safetensors"

expect probe-query 0 "before layer 1 +0\.9[89]" -- "$mechlens" probe --checkpoint "$logic" --task logic --n 600 \
  --label queried_chain --at query --out "$work/probe.h5"
expect probe-file 0 "^ok$" -- "$python" - "$work/probe.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["format"] == "mechlens-probe"
    p = f["probe"]
    assert [u.decode() for u in p["label_unit"][()]][-1] == "after the last layer"
    train, test = p["train_index"][()], p["test_index"][()]
    assert len(train) == 480 and len(test) == 120 and not set(train) & set(test)
    acc = p["test_accuracy"][()]
    assert acc[0] <= p.attrs["majority_baseline"] + 0.05 and acc[1] > 0.95, acc   # embeddings vs after layer 0
    assert np.allclose(p["selectivity"][()], acc - p["control_accuracy"][()])
    labels = p["labels"][()]
    assert abs(p.attrs["majority_baseline"] - max(np.mean(labels[test] == k) for k in (0, 1))) < 0.2
print("ok")
PY
expect probe-answer 0 "no control task" -- "$mechlens" probe --checkpoint "$logic" --task logic --n 100 --label queried_chain
expect probe-heads 0 "L2H2" -- "$mechlens" probe --checkpoint "$logic" --task logic --n 100 --label queried_chain --at query --on z
expect bad-label 2 "--label nope: the task annotates" -- "$mechlens" probe --checkpoint "$logic" --task logic --n 20 --label nope
expect bad-column 2 "--label truths\[7\]: truths has 3 columns" -- "$mechlens" probe --checkpoint "$logic" --task logic --n 20 --label "truths[7]"
expect bad-on 2 "--on mlp: expected resid or z" -- "$mechlens" probe --checkpoint "$logic" --task logic --n 20 --label queried_chain --on mlp
expect no-task 2 "probe needs --task" -- "$mechlens" probe --checkpoint "$logic" --label queried_chain
expect bad-share 1 "train share 1.5 is outside" -- "$mechlens" probe --checkpoint "$logic" --task logic --n 20 --label queried_chain --train-share 1.5
echo "probe: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
