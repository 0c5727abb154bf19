#!/usr/bin/env bash
# `mechlens export` read back in Python (Debian's h5py and numpy, no mechlens code): every exported
# array equals its HDF5 source, sidecars carry dims and labels, CSV rows carry labels and values,
# CircuitsVis and bertviz JSON hold each example's own tokens and attention. Bad input leaves no
# folder behind.
# usage: export_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
ck="$source/data/checkpoints/logic_3l3h.safetensors"

"$mechlens" record --checkpoint "$ck" --task logic --n 4 --seed 2 --hooks pattern hook_embed --out "$work/rec.h5" --quiet >/dev/null
"$mechlens" patch --checkpoint "$ck" --task logic --n 6 --component head_z --positions=-3: --quiet --out "$work/patch.h5" >/dev/null

expect export-npy 0 "wrote [0-9]+ files to" -- "$mechlens" export "$work/rec.h5" --out-dir "$work/rec_npy"
expect export-npy-equal 0 "^ok$" -- "$python" - "$work/rec.h5" "$work/rec_npy" <<'PY'
import sys, json, glob, os, h5py, numpy as np
source, folder = sys.argv[1:]
with h5py.File(source, "r") as f:
    names = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "iuf" else None)
    assert names, "no numeric datasets"
    for name in names:
        stem = os.path.join(folder, name.replace("/", "__"))
        array, sidecar = np.load(stem + ".npy"), json.load(open(stem + ".json"))
        assert np.array_equal(array, f[name][:].astype(array.dtype)), name
        assert sidecar["dims"] == f[name].attrs["dims"].split(","), (name, sidecar["dims"])
        assert sidecar["provenance"]["format"] == "mechlens-record"
    assert json.load(open(os.path.join(folder, "vocab.json")))[:3] == ["A", "B", "C"]
print("ok")
PY
expect export-patch-npy 0 "wrote 3 files" -- "$mechlens" export "$work/patch.h5" --out-dir "$work/patch_npy" --datasets '/results/*/normalised'
expect export-patch-labels 0 "^ok$" -- "$python" - "$work/patch.h5" "$work/patch_npy" <<'PY'
import sys, json, h5py, numpy as np
source, folder = sys.argv[1:]
with h5py.File(source, "r") as f:
    g = f["results/head_z"]
    sidecar = json.load(open(f"{folder}/results__head_z__normalised.json"))
    assert np.array_equal(np.load(f"{folder}/results__head_z__normalised.npy"), g["normalised"][:])
    assert sidecar["labels"]["pos"] == list(g["label_pos"][:]) and sidecar["labels"]["layer"] == [0, 1, 2]
    assert sidecar["attributes"]["metric_name"] == "logit-diff", sidecar["attributes"]
    assert len(sidecar["labels"]["pos_role"]) == 3
print("ok")
PY
expect export-csv 0 "wrote 1 files" -- "$mechlens" export "$work/patch.h5" --out-dir "$work/patch_csv" --format csv --datasets /results/head_z/normalised
expect export-csv-rows 0 "^ok$" -- "$python" - "$work/patch.h5" "$work/patch_csv/results__head_z__normalised.csv" <<'PY'
import sys, csv, h5py, numpy as np
source, table = sys.argv[1:]
rows = list(csv.DictReader(open(table)))
with h5py.File(source, "r") as f:
    g = f["results/head_z"]
    values = g["normalised"][:]
    assert len(rows) == values.size and list(rows[0]) == ["layer", "pos", "head", "normalised"]
    positions = list(g["label_pos"][:])
    for row in rows:
        l, p, h = int(row["layer"]), positions.index(int(row["pos"])), int(row["head"])
        assert abs(float(row["normalised"]) - values[l, p, h]) < 1e-6, row
print("ok")
PY
expect export-circuitsvis 0 "wrote 2 files" -- "$mechlens" export "$work/rec.h5" --out-dir "$work/cv" --format circuitsvis --examples 0,3
expect export-circuitsvis-props 0 "^ok$" -- "$python" - "$work/rec.h5" "$work/cv" <<'PY'
import sys, json, h5py, numpy as np
source, folder = sys.argv[1:]
with h5py.File(source, "r") as f:
    vocab = list(f["vocab"].asstr()[:])
    for example in (0, 3):
        props = json.load(open(f"{folder}/example_{example}.json"))
        n = int(f["lengths"][example])
        assert props["tokens"] == [vocab[t] for t in f["tokens"][example, :n]]
        attention = np.array(props["attention"])
        assert attention.shape == (9, n, n), attention.shape
        assert props["attentionHeadNames"][:4] == ["L0H0", "L0H1", "L0H2", "L1H0"]
        expected = f["acts/blocks.1.attn.hook_pattern"][example, 2, :n, :n]
        assert np.allclose(attention[5], expected, atol=1e-6)
        assert np.allclose(attention.sum(-1), 1, atol=1e-4)
print("ok")
PY
expect export-bertviz 0 "^ok$" -- bash -c "'$mechlens' export '$work/rec.h5' --out-dir '$work/bv' --format bertviz --layers 1: >/dev/null && '$python' -c \"
import json, numpy as np
props = json.load(open('$work/bv/example_0.json'))
assert np.array(props['attention']).shape[:2] == (2, 3), np.array(props['attention']).shape
print('ok')\""

# Bad input: a clear error naming the file, and no folder left behind.
expect export-patch-as-attention 1 "patch.h5: is a mechlens-patching file; attention maps come from a record" -- \
  "$mechlens" export "$work/patch.h5" --out-dir "$work/bad" --format circuitsvis
expect export-example-range 1 "--examples '9': index 9 is outside the record's 4 prompts" -- \
  "$mechlens" export "$work/rec.h5" --out-dir "$work/bad" --format circuitsvis --examples 9
expect export-no-dataset 1 "no dataset matches --datasets /nothing" -- "$mechlens" export "$work/rec.h5" --out-dir "$work/bad" --datasets /nothing
expect export-bad-format 2 "--format 'numpy' is unknown; expected npy, csv, circuitsvis or bertviz" -- \
  "$mechlens" export "$work/rec.h5" --out-dir "$work/bad" --format numpy
expect export-missing 1 "none.h5: no such file" -- "$mechlens" export "$work/none.h5" --out-dir "$work/bad"
expect export-not-mechlens 1 "cannot open as HDF5" -- bash -c "echo x > '$work/x.h5' && '$mechlens' export '$work/x.h5' --out-dir '$work/bad'"
[ ! -e "$work/bad" ] && [ ! -e "$work/bad.partial" ] && ok || bad "a failed export left $work/bad"
expect export-exists 1 "rec_npy: exists; add --force" -- "$mechlens" export "$work/rec.h5" --out-dir "$work/rec_npy"
expect export-force 0 "wrote" -- "$mechlens" export "$work/rec.h5" --out-dir "$work/rec_npy" --force
expect export-options-mismatch 2 "--examples and --layers apply to circuitsvis and bertviz" -- \
  "$mechlens" export "$work/rec.h5" --out-dir "$work/bad" --examples 1
echo "export: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
