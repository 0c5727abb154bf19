#!/usr/bin/env bash
# `mechlens steer` on the shipped logic model: alpha 0 leaves every answer as it is, steering the QUERY
# position against the queried-chain direction entering layer 1 switches linear-chain queries to the
# other chain's answer, the file holds the direction and the scores, and bad input is refused. With
# --decode the whole greedy answer is compared: alpha 0 generates every prompt's own proof, and a switched
# prompt writes the other chain's proof up to its final step; the per-example cosine matrix is stored.
# usage: steer_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
logic="$source/data/checkpoints/logic_3l3h.safetensors"

expect steer-sweep 0 "wrote" -- "$mechlens" steer --checkpoint "$logic" --task logic --n 300 --layer 1 --at query \
  --direction mean-diff:queried_chain --alphas=-8,0,2 --quiet --decode --out "$work/steer.h5"
expect steer-file 0 "^ok$" -- "$python" - "$work/steer.h5" <<'PY'
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    assert f.attrs["format"] == "mechlens-steering"
    s = f["steering"]
    assert s.attrs["hook"] == "blocks.1.hook_resid_pre" and s["direction"].shape == (96,)
    assert list(s["label_alpha"][()]) == [-8, 0, 2] and s["prob"].attrs["dims"] == "alpha,batch"
    correct, switched, labels = s["correct"][()], s["to_counterfactual"][()], s["labels"][()]
    assert correct[1].mean() == 1.0 and switched[1].sum() == 0           # alpha 0: the model as it is (100%)
    assert switched[0][labels == 1].mean() > 0.3, switched[0][labels == 1].mean()   # linear queries switch
    own, other = s["decoded_own_answer"][()], s["decoded_counterfactual_prefix"][()]
    assert own[1].all() and (own[0] == correct[0]).all()        # the own proof exactly when its first token is right
    assert (other[0][switched[0] == 1] >= 10).all()             # switched: the other chain's proof, 10+ tokens
    assert s["decoded_tokens"].shape[:2] == (3, 300) and (s["decoded_tokens"][1][:, 0] >= 0).all()
    cosine = s["cosine"][()]
    assert cosine.shape == (300, 300) and np.allclose(np.diag(cosine), 1, atol=1e-5) and np.allclose(cosine, cosine.T, atol=1e-6)
print("ok")
PY
expect bad-direction 2 "--direction probe: expected mean-diff:NAME or probe:NAME" -- "$mechlens" steer --checkpoint "$logic" --task logic --n 20 --layer 1 --at query --direction probe
# A probe's direction for the same groups: its held-out accuracy and its cosine to the mean difference.
expect steer-probe 0 "probe's direction for queried_chain \(held-out accuracy 0\.9[0-9]+; cosine to mean\(queried_chain=1\) - mean\(queried_chain=0\): 0\.[0-9]+" -- \
  "$mechlens" steer --checkpoint "$logic" --task logic --n 300 --layer 1 --at query --direction probe:queried_chain --alphas=-4,4 --quiet
expect bad-label 2 "takes .* values here, expected two" -- "$mechlens" steer --checkpoint "$logic" --task logic --n 50 --layer 1 --at query --direction mean-diff:first_answer
expect bad-layer 2 "--layer 3 is outside the model's layers 0..2" -- "$mechlens" steer --checkpoint "$logic" --task logic --n 20 --layer 3 --at query --direction mean-diff:queried_chain
expect bad-at 2 "--at: give a named span or a position" -- "$mechlens" steer --checkpoint "$logic" --task logic --n 20 --layer 1 --at answer --direction mean-diff:queried_chain
expect bad-alpha 2 "--alphas: 'x' is not a number" -- "$mechlens" steer --checkpoint "$logic" --task logic --n 20 --layer 1 --at query --direction mean-diff:queried_chain --alphas 1,x
echo "steer: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
