#!/usr/bin/env python3
"""How each layer's single head of a 3-layer matching model moves information (Wang et al. 2024's
matching picture), read from a `mechlens record --task matching --hooks 'blocks.*.attn.hook_pattern'`
file of 2-hop problems: layer 0 should join each pair (a child looks at its parent); layer 1 should
take the first hop (the last token looks at the child of its own token's pair), layer 2 the second.

Usage: matching_flow.py RECORD.h5
"""
import sys

import h5py
import numpy as np

with h5py.File(sys.argv[1], "r") as f:
    tokens = f["tokens"][:]                                   # [N, 13]
    path = f["annotations/path"][:]                           # [N, 3]: start, middle, answer
    patterns = [f[f"acts/blocks.{l}.attn.hook_pattern"][:, 0] for l in range(3)]  # [N, dest, src]
n, t = tokens.shape
rows = np.arange(n)
children = np.arange(1, t - 1, 2)                             # pair (2i, 2i+1): child at 2i+1
pair_fusion = np.mean([patterns[0][:, c, c - 1].mean() for c in children])
def child_position(parent, child):
    hit = (tokens[:, 0:t - 1:2] == parent[:, None]) & (tokens[:, 1:t - 1:2] == child[:, None])
    return 2 * hit.argmax(axis=1) + 1
hop1, hop2 = child_position(path[:, 0], path[:, 1]), child_position(path[:, 1], path[:, 2])
print(f"  layer 0: child -> its parent             {pair_fusion:.3f}  (mean attention, over the 6 pairs)")
for layer in range(1, 3):
    last = patterns[layer][:, t - 1]                          # [N, src]
    print(f"  layer {layer}: last token -> hop-1 edge's child {last[rows, hop1].mean():.3f},"
          f"  -> hop-2 edge's child {last[rows, hop2].mean():.3f}")
