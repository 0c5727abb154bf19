#!/usr/bin/env bash
# `mechlens view`: each page kind is one self-contained HTML file (no external reference, the data
# inline and equal to the HDF5 source within the page's quantisation), it runs in headless Chromium
# from file:// without errors (cells drawn, hover text of a known cell carries the right value), and
# bad input leaves no page behind. The browser part is skipped where Chromium is missing.
# usage: view_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 source=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"
ck="$source/data/checkpoints/logic_3l3h.safetensors"

"$mechlens" record --checkpoint "$ck" --task logic --n 3 --hooks pattern --out "$work/rec.h5" --quiet >/dev/null
"$mechlens" patch --checkpoint "$ck" --task logic --n 6 --component head_z --positions=-4: --quiet --out "$work/patch.h5" >/dev/null
expect view-attention 0 "wrote .*attention.html" -- "$mechlens" view "$work/rec.h5" --out "$work/attention.html" --examples 0:2
expect view-patching 0 "wrote .*patching.html" -- "$mechlens" view "$work/patch.h5" --out "$work/patching.html"

# Self-contained, and the embedded data is the file's.
expect view-static 0 "^ok$" -- "$python" - "$work/rec.h5" "$work/attention.html" "$work/patching.html" <<'PY'
import sys, re, json, base64, html.parser, h5py, numpy as np
record, attention_page, patching_page = sys.argv[1:]
for page in (attention_page, patching_page):
    text = open(page, encoding="utf-8").read()
    html.parser.HTMLParser().feed(text)  # parses
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", text), "external reference in " + page
    assert "http://" not in text and "https://" not in text, "a URL in " + page
data = json.loads(re.search(r'id="mechlens-data">(.*?)</script>', open(attention_page).read(), re.S).group(1))
assert data["kind"] == "attention" and len(data["examples"]) == 2 and data["n_heads"] == 3
with h5py.File(record, "r") as f:
    n = int(f["lengths"][1])
    example = data["examples"][1]
    assert example["tokens"] == [f["vocab"].asstr()[t] for t in f["tokens"][1, :n]]
    stored = np.frombuffer(base64.b64decode(example["layers"][2]["heads"][1]), np.uint8).reshape(n, n) / 255
    assert np.abs(stored - f["acts/blocks.2.attn.hook_pattern"][1, 1, :n, :n]).max() <= 0.5 / 255 + 1e-6
print("ok")
PY

# In a browser: no console errors, every head drawn, the hover text of cell (dest 5, src 2) of
# layer 0 head 0 is the record's value.
if [ -n "$browser" ]; then
  run_page "$work/attention.html" "selftest=5,2" >"$work/attention.dom"
  expect browser-attention 0 "^ok$" -- "$python" - "$work/rec.h5" "$work/attention.dom" "$work/attention.html.log" <<'PY'
import sys, re, h5py
record, dom, log = sys.argv[1:]
text = open(dom).read()
assert 'data-ready="true"' in text, "the page did not finish rendering"
assert not re.search(r"Uncaught|ERROR:CONSOLE", open(log).read()), open(log).read()[-2000:]
selftest = re.search(r'<pre id="selftest">(.*?)</pre>', text, re.S).group(1)
cells = int(re.search(r"cells=(\d+)", selftest).group(1))
assert cells == 3 * 3 + 1, selftest  # one canvas per head, and the large view
value = float(re.search(r"src 2 '[^']*': ([0-9.]+)", selftest).group(1))
with h5py.File(record, "r") as f:
    expected = f["acts/blocks.0.attn.hook_pattern"][0, 0, 5, 2]
assert abs(value - expected) < 0.003, (value, expected, selftest)
print("ok")
PY
  run_page "$work/patching.html" "selftest=1,2" >"$work/patching.dom"
  expect browser-patching 0 "^ok$" -- "$python" - "$work/patch.h5" "$work/patching.dom" "$work/patching.html.log" <<'PY'
import sys, re, h5py, numpy as np
result, dom, log = sys.argv[1:]
text = open(dom).read()
assert 'data-ready="true"' in text and not re.search(r"Uncaught", open(log).read())
selftest = re.search(r'<pre id="selftest">(.*?)</pre>', text, re.S).group(1)
value = float(re.search(r": (-?[0-9.]+)$", selftest.strip()).group(1))
with h5py.File(result, "r") as f:
    scores = f["results/head_z/normalised"][:]
    head = np.unravel_index(np.abs(scores).argmax(), scores.shape)[2]  # the page opens on the strongest head
    expected = scores[1, 2, head]  # layer 1, third position
assert abs(value - expected) < 1e-4, (value, expected, selftest)
print("ok")
PY
  # A screenshot for the record (build artefact; the README's picture comes from the demo).
  timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
    --user-data-dir="$work/profile" --window-size=1200,900 --screenshot="$work/attention.png" \
    "file://$work/attention.html" >/dev/null 2>&1 && [ -s "$work/attention.png" ] && ok || bad "no screenshot"
else
  echo "view: chromium not installed; browser checks skipped"
fi

# Bad input: a clear error, no page at --out.
expect view-other-kind 1 "no page kind shows 'mechlens-something' files" -- bash -c "cp '$work/patch.h5' '$work/other.h5' && '$python' -c \"
import h5py; h5py.File('$work/other.h5', 'r+').attrs['format'] = 'mechlens-something'\" && '$mechlens' view '$work/other.h5' --out '$work/bad.html'"
expect view-example-range 1 "--examples '7': index 7 is outside the record's 3 prompts" -- "$mechlens" view "$work/rec.h5" --out "$work/bad.html" --examples 7
expect view-too-large 1 "more than --max-mb 1; choose fewer with --examples or --layers" -- bash -c "'$mechlens' record --checkpoint '$ck' --task logic --n 300 --hooks pattern --out '$work/big.h5' --quiet >/dev/null && '$mechlens' view '$work/big.h5' --out '$work/bad.html' --examples all --max-mb 1"
expect view-no-patterns 1 "holds no attention patterns" -- bash -c "'$mechlens' record --checkpoint '$ck' --task logic --n 2 --hooks hook_embed --out '$work/embed.h5' --quiet >/dev/null && '$mechlens' view '$work/embed.h5' --out '$work/bad.html'"
expect view-missing-dataset 1 "no dataset /results/head_z/normalised" -- bash -c "cp '$work/patch.h5' '$work/broken.h5' && '$python' -c \"
import h5py; del h5py.File('$work/broken.h5', 'r+')['results/head_z/normalised']\" && '$mechlens' view '$work/broken.h5' --out '$work/bad.html'"
[ ! -e "$work/bad.html" ] && [ ! -e "$work/bad.html.partial" ] && ok || bad "a failed view left bad.html"
expect view-exists 2 "--out '.*patching.html' exists; add --force" -- "$mechlens" view "$work/patch.h5" --out "$work/patching.html"
expect view-force 0 "wrote" -- "$mechlens" view "$work/patch.h5" --out "$work/patching.html" --force
expect view-no-input 2 "missing the input to read: mechlens view FILE.h5 --out page.html" -- "$mechlens" view --out "$work/x.html"
echo "view: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
