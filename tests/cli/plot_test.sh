#!/usr/bin/env bash
# `mechlens plot`: SVG figures are well-formed XML with one cell per drawn value (the causal upper
# triangle left out), the token labels, a title, and cell values equal to the HDF5 source; bad input
# leaves no file.
# usage: plot_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
ck="$source/data/checkpoints/logic_3l3h.safetensors"
"$mechlens" record --checkpoint "$ck" --task logic --n 2 --hooks pattern --out "$work/rec.h5" --quiet >/dev/null
"$mechlens" patch --checkpoint "$ck" --task logic --n 6 --component head_z --positions=-4: --quiet --out "$work/patch.h5" >/dev/null

expect plot-attention 0 "wrote" -- "$mechlens" plot "$work/rec.h5" --out "$work/a.svg" --layer 1 --head 2 --example 1
expect plot-heads 0 "wrote" -- "$mechlens" plot "$work/rec.h5" --out "$work/h.svg" --kind heads
expect plot-patching 0 "wrote" -- "$mechlens" plot "$work/patch.h5" --out "$work/p.svg" --kind patching --slice 2
expect plot-svg-content 0 "^ok$" -- "$python" - "$work" <<'PY'
import sys, xml.etree.ElementTree as ET, h5py, numpy as np
work = sys.argv[1]
ns = {"s": "http://www.w3.org/2000/svg"}
def cells(name):
    root = ET.parse(f"{work}/{name}").getroot()
    return root, [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "cell"]
with h5py.File(f"{work}/rec.h5") as f:
    n = int(f["lengths"][1])
    pattern = f["acts/blocks.1.attn.hook_pattern"][1, 2, :n, :n]
    vocab = list(f["vocab"].asstr()[:])
    tokens = [vocab[t] for t in f["tokens"][1, :n]]
root, drawn = cells("a.svg")
assert len(drawn) == n * (n + 1) // 2, len(drawn)  # the lower triangle with the diagonal
values = np.array([float(r.get("data-value")) for r in drawn])
assert np.allclose(values, pattern[np.tril_indices(n)], atol=1e-5)
texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
assert f"5 {tokens[5]}" in texts and any("L1H2" in (t or "") for t in texts), texts[:5]
root, drawn = cells("h.svg")
with h5py.File(f"{work}/rec.h5") as f:
    n0 = int(f["lengths"][0])
assert len(drawn) == 9 * n0 * (n0 + 1) // 2, len(drawn)
root, drawn = cells("p.svg")
with h5py.File(f"{work}/patch.h5") as f:
    scores = f["results/head_z/normalised"][:, :, 2]
assert np.allclose([float(r.get("data-value")) for r in drawn], scores.flatten(), atol=1e-5)
assert any("head_z, head 2: normalised logit-diff" in (t.text or "") for t in root.iter("{http://www.w3.org/2000/svg}text"))
print("ok")
PY
expect plot-bad-head 1 "--head 7 is outside the 3 recorded heads" -- "$mechlens" plot "$work/rec.h5" --out "$work/bad.svg" --head 7
expect plot-bad-layer 1 "--layer 5: the record holds patterns of layers 0, 1, 2" -- "$mechlens" plot "$work/rec.h5" --out "$work/bad.svg" --layer 5
expect plot-wrong-kind 1 "rec.h5: is a mechlens-record file; --kind patching reads a patching result" -- "$mechlens" plot "$work/rec.h5" --out "$work/bad.svg" --kind patching
expect plot-too-many 1 "more than --max-cells 100" -- "$mechlens" plot "$work/rec.h5" --out "$work/bad.svg" --max-cells 100
expect plot-option-mismatch 2 "--head applies to attention figures" -- "$mechlens" plot "$work/patch.h5" --out "$work/bad.svg" --kind patching --head 1
[ ! -e "$work/bad.svg" ] && ok || bad "a failed plot left bad.svg"
echo "plot: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
