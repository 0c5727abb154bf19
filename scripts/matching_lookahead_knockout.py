#!/usr/bin/env python3
"""Do a double-chain model's answers depend on chain edges looking ahead along their chain? A causal test
of what `matching_parallel_hops.py` reads from attention (the matching paper's parallel hopping, Type 2).

An edge c_i -> c_{i+1} whose child position attends to the next edge's child c_{i+2} holds a two-hop
pointer; a query that then matches it skips a hop. For each layer L given, three forwards of the same
prompts, with first-answer-token accuracy per hop count:

- **clean**;
- **look-ahead knocked out**: in layer L, attention from every chain edge's child position (both chains) to
  the parent and child positions of the same chain's edges ahead of it (d >= +1) is removed (pre-softmax
  score set to -inf, as `mechlens trace` and `matching_knockout_attention.py` do);
- **control**: as many other earlier positions, drawn at random (--seed) from the same destinations, are
  removed instead, never the edge's own parent (pair fusion) nor a look-ahead position. A drop that the
  control does not show is the look-ahead's.

A second table gives the share of answers one hop short (the node before the chain's end, where a model
that loses one hop lands).

The forward is the plain-PyTorch reference of the parity tests (tests/parity/reference_forward.py, float64),
checked against the record's patterns first. Reads a checkpoint and a `mechlens record --task matching
--task-option layout=noised_double_chain --hooks 'blocks.*.attn.hook_pattern'` file of its prompts.

Usage: matching_lookahead_knockout.py CHECKPOINT RECORD.h5 [--layers 1,2] [--n N] [--seed S] [--json OUT]
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from matching_knockout_attention import check_against_record, forward, load_checkpoint  # noqa: E402
from matching_parallel_hops import CHAIN_A, CHAIN_B, edge_kinds, load  # noqa: E402

TOOL = "matching_lookahead_knockout"


def knockout_masks(kind, index, seed):
    """Per prompt, the (dest, src) pairs of the look-ahead and of its control, as bool [N, T, T] each
    (T = 2 * slots + 1). The control removes, from each destination, as many random earlier positions as
    the look-ahead does there, outside its own parent and the look-ahead positions (all there are, where
    fewer exist: near the prompt's start)."""
    n, slots = kind.shape
    t = 2 * slots + 1
    ahead, control = np.zeros((n, t, t), bool), np.zeros((n, t, t), bool)
    rng = np.random.default_rng(seed)
    for p in range(n):
        for e in range(slots):
            if kind[p, e] not in (CHAIN_A, CHAIN_B):
                continue
            dest = 2 * e + 1
            later = [f for f in range(e) if kind[p, f] == kind[p, e] and index[p, f] > index[p, e]]
            sources = [2 * f + s for f in later for s in (0, 1)]  # every such edge comes earlier: f < e
            ahead[p, dest, sources] = True
            others = np.array([s for s in range(dest) if s != 2 * e and s not in sources], dtype=np.int64)
            if sources:
                control[p, dest, rng.choice(others, size=min(len(sources), len(others)), replace=False)] = True
    return ahead, control


def share_by_order(logits, targets, order):
    """Per hop count: the share of prompts whose first answer token (argmax) is `targets` [N]."""
    hits = logits.argmax(-1) == targets
    return {int(k): float(hits[order == k].mean()) for k in sorted(set(order.tolist()))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("record")
    ap.add_argument("--layers", default="1", help="layers to knock the look-ahead out of, one run each (default 1)")
    ap.add_argument("--n", type=int, default=1000, help="prompts read from the record (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the control's random positions (default 0)")
    ap.add_argument("--json", help="write every number to this JSON file")
    args = ap.parse_args()
    if args.n < 1:
        sys.exit(f"{TOOL}: --n {args.n}: expected at least 1 prompt")
    params, cfg = load_checkpoint(args.checkpoint)
    try:
        layers = [int(v) for v in args.layers.split(",")]
    except ValueError:
        sys.exit(f"{TOOL}: --layers '{args.layers}': expected layer numbers, e.g. 1 or 1,2")
    if any(not 0 <= layer < cfg["n_layers"] for layer in layers):
        sys.exit(f"{TOOL}: --layers '{args.layers}': the model has layers 0..{cfg['n_layers'] - 1}")
    tokens, chain, other, order, recorded = load(args.record, args.n)
    with h5py.File(args.record, "r") as f:
        if "annotations/answer" not in f:
            sys.exit(f"{TOOL}: {args.record}: no annotations/answer (a `mechlens record --task matching` file)")
        answers = f["annotations/answer"][: len(tokens), 0].astype(np.int64)
    if len(recorded) != cfg["n_layers"]:
        sys.exit(f"{TOOL}: {args.record} has patterns of {len(recorded)} layers; {args.checkpoint} has "
                 f"{cfg['n_layers']}: not a record of this model")
    kind, index = edge_kinds(tokens, chain, other)
    ahead, control = knockout_masks(kind, index, args.seed)

    logits, patterns = forward(params, cfg, tokens, {})
    gap = check_against_record(patterns, recorded)
    # The answer is the queried chain's last node; one hop short is the node before it.
    one_short = chain[:, -2]
    all_logits = {"clean": logits}
    for layer in layers:
        all_logits[f"look-ahead out, layer {layer}"] = forward(params, cfg, tokens, {layer: ahead})[0]
        all_logits[f"control, layer {layer}"] = forward(params, cfg, tokens, {layer: control})[0]
    runs = {name: share_by_order(l, answers, order) for name, l in all_logits.items()}
    short = {name: share_by_order(l, one_short, order) for name, l in all_logits.items()}
    removed, removed_control = int(ahead.sum()), int(control.sum())
    print(f"{len(tokens)} prompts; reference forward = record within {gap:.1g}; the look-ahead knock-out removes "
          f"{removed} (destination, source) pairs per layer, {removed / max(1, int((kind <= CHAIN_B).sum())):.2f} "
          f"per chain edge; the control {removed_control} (fewer where a destination has too few other earlier "
          "positions)\n")
    orders = sorted(runs["clean"])
    for title, table in (("first-token accuracy", runs), ("answers one hop short", short)):
        print(title.ljust(30) + "".join(f"k = {k}".rjust(9) for k in orders))
        for name, row in table.items():
            print(name.ljust(30) + "".join(f"{row[k]:9.3f}" for k in orders))
        print()
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"checkpoint": args.checkpoint, "record": args.record, "prompts": len(tokens), "seed": args.seed,
                       "pairs_removed_per_layer": removed,
                       "control_pairs_removed_per_layer": removed_control, "accuracy": runs,
                       "one_hop_short": short}, out, indent=1)


if __name__ == "__main__":
    main()
