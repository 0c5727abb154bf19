#!/usr/bin/env bash
# A real pretrained encoder, all-MiniLM-L6-v2 (MECHLENS_MINILM, from scripts/setup_minilm.sh; skipped
# without it), through the commands a user meets: `run` prints mean-pooled sentence embeddings whose
# cosine ranks a paraphrase above an unrelated sentence; `record` + `view` draw full (bidirectional)
# attention maps; `patch --metric cosine` finds the head that carries "cat" vs "dog" into "it" (layer 5
# head 11, which attends from "it" to "cat"); a logit metric is refused for a model without a head.
# usage: encoder_test.sh MECHLENS_BIN SOURCE_DIR WORK_DIR
set -uo pipefail
mechlens=$1 work=$3
model=${MECHLENS_MINILM:-}
if [ -z "$model" ] || [ ! -f "$model/model.safetensors" ]; then
  echo "skipped: no MECHLENS_MINILM (run scripts/setup_minilm.sh)"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work"
source "$(dirname "$0")/../expect.sh"

expect run-json 0 "^ok$" -- bash -c "'$mechlens' run --checkpoint '$model' --prepend-bos --format json \
  --prompt 'The cat sat on the mat.' --prompt 'A cat was sitting on a rug.' --prompt 'Stock markets fell sharply.' \
  | '$python' -c \"
import json, sys
rows = json.load(sys.stdin)
cos = [r['cosine'] for r in rows]
assert abs(cos[0][0] - 1) < 1e-5 and cos[0][1] > 0.6 and cos[0][2] < 0.2, cos
assert rows[0]['prompt'][0] == 101 and rows[0]['prompt'][-1] == 102  # [CLS] ... [SEP]
print('ok')\""

text="The cat sat on the mat because it was tired."
"$mechlens" tokenize --tokenizer "$model" --prepend-bos "$text" >"$work/clean.txt"
"$mechlens" tokenize --tokenizer "$model" --prepend-bos "${text/cat/dog}" >"$work/corrupted.txt"
expect patch-cosine 0 "layer 5, head 11 +score \+0\.8" -- "$mechlens" patch --checkpoint "$model" \
  --clean "$work/clean.txt" --corrupted "$work/corrupted.txt" --metric cosine --answer-pos 8 \
  --component head_z_all --quiet --top 1
expect patch-logit-metric-refused 2 "no unembedding.*--metric cosine" -- "$mechlens" patch --checkpoint "$model" \
  --clean "$work/clean.txt" --corrupted "$work/corrupted.txt" --answer-pos 8 --component head_z_all --quiet

"$mechlens" record --checkpoint "$model" --prepend-bos --prompt "$text" --out "$work/rec.h5" --quiet >/dev/null
expect view-bidirectional 0 "^ok$" -- bash -c "'$mechlens' view '$work/rec.h5' --out '$work/attention.html' >/dev/null &&
  '$python' - '$work/rec.h5' '$work/attention.html' <<'PY'
import sys, re, json, base64, h5py, numpy as np
record, page = sys.argv[1:]
data = json.loads(re.search(r'id=\"mechlens-data\">(.*?)</script>', open(page).read(), re.S).group(1))
assert data['causal'] is False and data['n_heads'] == 12
with h5py.File(record, 'r') as f:
    n = int(f['lengths'][0])
    stored = np.frombuffer(base64.b64decode(data['examples'][0]['layers'][5]['heads'][11]), np.uint8).reshape(n, n)
    tokens = [f['vocab'].asstr()[t] for t in f['tokens'][0, :n]]
    assert stored[8, tokens.index('cat')] == stored[8].max() and stored[8, 2] > 150  # it -> cat
    assert np.triu(stored, 1).sum() > 0  # later sources are seen
print('ok')
PY"

echo "encoder_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
