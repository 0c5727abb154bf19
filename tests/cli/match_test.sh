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
    assert m.attrs["embeddings"] == "layer-0 norm"
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
expect match-raw 0 "L1H0 +0\.0[0-4]" -- "$mechlens" match --checkpoint "$ck" --embeddings raw
expect bad-tokens 1 "--tokens '300'.*outside" -- "$mechlens" match --checkpoint "$ck" --tokens 300
expect bad-embeddings 2 "--embeddings x: expected normalised or raw" -- "$mechlens" match --checkpoint "$ck" --embeddings x
expect bad-task 2 "was trained on the matching task" -- "$mechlens" match --checkpoint "$ck" --task logic --n 4
echo "match: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
