#!/usr/bin/env bash
# The main job on a shipped default: build mechlens, create the small demo model from its config,
# describe it, run it on a batch of prompts with every hook cached and show what each hook holds,
# then record every layer's attention maps into an HDF5 file; then evaluate, record and patch the
# shipped propositional-logic model, and evaluate three shipped matching models and trace the
# post-LN one's hops; finally write HTML pages of the logic model's attention maps and patching
# heatmaps and print their paths.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
MECHLENS_BUILD_TARGET=mechlens bash "$root/scripts/build.sh"
build_dir=${MECHLENS_BUILD_DIR:-$root/build}
mechlens="$build_dir/src/cli/mechlens"
out="$build_dir/demo"
rm -rf "$out" && mkdir -p "$out"  # each run writes the demo outputs afresh (outputs are never overwritten silently)

echo "== mechlens init: a 3-layer model from data/configs/demo_small.json"
"$mechlens" init --config "$root/data/configs/demo_small.json" --out "$out/demo_small.safetensors"
echo
echo "== mechlens info: config, parameters and every hook point"
"$mechlens" info "$out/demo_small.safetensors"
echo
echo "== mechlens run: a padded batch of 3 prompts, every hook cached"
"$mechlens" run --checkpoint "$out/demo_small.safetensors" --tokens-file "$root/data/prompts/demo_prompts.txt" \
  --top-k 3 --cache '*' --save-cache "$out/demo_cache.safetensors"
echo
echo "== mechlens record: attention maps of every layer into HDF5 (docs/RECORD_FORMAT.md)"
"$mechlens" record --checkpoint "$out/demo_small.safetensors" --tokens-file "$root/data/prompts/demo_prompts.txt" \
  --hooks 'blocks.*.attn.hook_pattern' --out "$out/demo_patterns.h5"
echo "== reading it back with h5py"
python=/usr/bin/python3  # Debian's, with python3-h5py (a virtualenv's python3 may lack it)
[ -x "$python" ] || python=python3
"$python" - "$out/demo_patterns.h5" <<'PY'
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    for name, dataset in f["acts"].items():
        print(f"  {name}: {dataset.shape} {dataset.dtype} dims={dataset.attrs['dims']}")
PY

# The shipped propositional-logic model (Hong et al. 2024): accuracy, then where its last layer looks.
logic="$root/data/checkpoints/logic_3l3h.safetensors"
echo
echo "== mechlens eval: the shipped 3-layer x 3-head logic model on 2,000 held-out problems"
"$mechlens" eval --checkpoint "$logic" --task logic --n 2000 --seed 12345
echo
echo "== mechlens data: three of those problems, readable"
"$mechlens" data --task logic --n 3 --seed 12345 --show 3 | tail -n +2
echo
echo "== mechlens record: every layer's attention at the answer position, 1,000 problems with annotations"
"$mechlens" record --checkpoint "$logic" --task logic --n 1000 --seed 12345 --hooks 'blocks.*.attn.hook_pattern' \
  --positions -1 --out "$out/logic_patterns.h5" --quiet
"$python" - "$out/logic_patterns.h5" <<'PY'
import sys
import h5py
import numpy as np
# Attention of each head of layer 2 (the last, 0-based as everywhere) from the last prompt token (ANSWER)
# to the QUERY token, by queried chain.
with h5py.File(sys.argv[1], "r") as f:
    pattern = f["acts/blocks.2.attn.hook_pattern"][:, :, 0, :]       # [N, head, src]
    query = f["annotations/query_pos"][:, 0]
    chain = f["annotations/queried_chain"][:, 0]                     # 0 = LogOp, 1 = linear
    on_query = pattern[np.arange(len(query)), :, query]              # [N, head]
    print("layer 2 (blocks.2) attention on QUERY from the answer position (mean over problems):")
    for value, name in ((1, "linear chain queried"), (0, "LogOp chain queried")):
        heads = on_query[chain == value].mean(axis=0)
        print(f"  {name:<22} " + "  ".join(f"head {h}: {m:.3f}" for h, m in enumerate(heads)))
PY
echo
echo "== mechlens patch: which heads carry a query flip to the answer (head_z, last 5 positions, noising)"
"$mechlens" patch --checkpoint "$logic" --task logic --pairs query-flip --n 64 --seed 12345 --component head_z \
  --positions=-5: --direction noising --metric logit-diff --attribution --top 6 \
  --circuit "$root/data/circuits/logic_3l3h_query_flip.json" --out "$out/logic_patching.h5" --quiet

# The shipped matching models (Wang et al. 2024): post-LN with small initialisation against pre-LN
# with the default one, trained with the same budget, and the post-LN one trained with one shared
# embedding norm, which also answers out of distribution (ood_decoy: with a decoy in-distribution
# edge, so that the answer's edge is not the only one); then the post-LN model's hops, layer by layer.
echo
for name in matching_3l1h_post_ln_gamma1 matching_3l1h_pre_ln_gamma05 matching_3l1h_shared_embed_norm; do
  for split in test ood ood_decoy; do
    echo "== mechlens eval: $name, 2-hop $split problems"
    "$mechlens" eval --checkpoint "$root/data/checkpoints/$name.safetensors" --task matching \
      --task-option split=$split --n 2000 --seed 12345 | sed -n 2,3p
  done
done
echo
echo "== mechlens record: the post-LN matching model's attention on 1,000 2-hop test problems"
"$mechlens" record --checkpoint "$root/data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors" --task matching \
  --task-option split=test --n 1000 --seed 12345 --hooks 'blocks.*.attn.hook_pattern' \
  --out "$out/matching_patterns.h5" --quiet
"$python" "$root/scripts/matching_flow.py" "$out/matching_patterns.h5"
echo
echo "== mechlens trace: the 2-hop answer's path, traced by attention knock-out (each edge against a control)"
"$mechlens" trace --checkpoint "$root/data/checkpoints/matching_3l1h_post_ln_gamma1.safetensors" --task matching \
  --task-option orders=2 --n 500 --seed 12345 --analyses path,knockout,spans,flow --verify --top 6 \
  --out "$out/matching_trace.h5" --graph path --graph-json "$out/matching_graph.json" --quiet

# Pictures, one command away: self-contained HTML pages (open them from file://, no network needed).
echo
echo "== mechlens view: the logic model's attention maps, the patching heatmaps and the matching trace as HTML pages"
"$mechlens" record --checkpoint "$logic" --task logic --n 4 --seed 12345 --hooks 'blocks.*.attn.hook_pattern' \
  --out "$out/logic_attention.h5" --quiet
"$mechlens" view "$out/logic_attention.h5" --examples all --out "$out/logic_attention.html"
"$mechlens" view "$out/logic_patching.h5" --out "$out/logic_patching.html"
"$mechlens" view "$out/matching_trace.h5" --out "$out/matching_trace.html"
echo "open file://$out/logic_attention.html, file://$out/logic_patching.html and file://$out/matching_trace.html in a browser"
