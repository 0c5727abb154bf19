#!/usr/bin/env python3
"""Sequential or parallel hops on the double-chain layout (the matching paper's Type 2): where each layer's
head looks, from the query position and from every chain edge, read from a record's attention patterns.

The paper claims that its 5L1H models hop at many positions at once, so that the reachable hop count
grows faster than the number of layers. On the `noised_double_chain` layout the answer is always the
queried chain's last node, so an edge that learns "my chain's end" by pointer doubling would let the
query skip hops. Two tables test this:

- **From the query** (per hop count k, per layer): the share of attention on each hop's parent and child
  positions (hop h is the edge c_{s+h-1} -> c_{s+h} from the start s), on chain edges before the start,
  on the other chain, on the distractor edge into the path past the start (a mean over the prompts
  that have one, with their count) or elsewhere, and on the query itself. Sequential hopping reads
  hop h's child in layer h (after layer 0 fuses each edge's parent into its child).
- **From every chain edge's child position** (both chains, per layer): the share on the same chain's
  edge d edges ahead (d > 0) or behind (d < 0), on its child and its parent position, as the mean over
  the (prompt, edge) pairs where that edge comes earlier in the prompt (the causal mask hides the
  others: a conditional share, our definition, with its count). An edge that hops forward one edge per
  layer looks at d = +1 in every layer after the first; pointer doubling looks at d = +1, +2, +4.
  The shares on the other chain and on the distractors are totals per destination.

Reads a `mechlens record --task matching --task-option layout=noised_double_chain --hooks
'blocks.*.attn.hook_pattern'` file; needs no checkpoint. `--json OUT` writes every number.

Usage: matching_parallel_hops.py RECORD.h5 [--n N] [--json OUT]
"""
import argparse
import json
import sys

import h5py
import numpy as np

TOOL = "matching_parallel_hops"
CHAIN_A, CHAIN_B, INTO_A, INTO_B = 0, 1, 2, 3  # edge kinds: queried chain, other chain, distractor into A / B


def load(record_path, n):
    """Returns (tokens [N, T], chain [N, E+1], other [N, E+1], order [N], patterns: one [N, H, T, T] per
    layer); exits with a message naming the file and the field when it is not a double-chain record."""
    try:
        record = h5py.File(record_path, "r")
    except OSError as e:
        sys.exit(f"{TOOL}: {record_path}: not a readable HDF5 record ({e})")
    with record as f:
        needed = ["tokens", "annotations/chain", "annotations/other_chain", "annotations/order", "acts"]
        missing = [k for k in needed if k not in f]
        if missing:
            sys.exit(f"{TOOL}: {record_path}: no {', '.join(missing)} (a `mechlens record --task matching "
                     "--task-option layout=noised_double_chain --hooks 'blocks.*.attn.hook_pattern'` file is "
                     "expected)")
        layers = sorted(int(k.split(".")[1]) for k in f["acts"] if k.endswith(".attn.hook_pattern"))
        if not layers or layers != list(range(len(layers))):
            sys.exit(f"{TOOL}: {record_path}: acts/blocks.L.attn.hook_pattern for L = 0, 1, ... expected; found "
                     f"{sorted(f['acts'])}")
        n = min(n, f["tokens"].shape[0])
        try:
            tokens = f["tokens"][:n].astype(np.int64)
            chain = f["annotations/chain"][:n].astype(np.int64)
            other = f["annotations/other_chain"][:n].astype(np.int64)
            order = f["annotations/order"][:n, 0].astype(np.int64)
            patterns = [f[f"acts/blocks.{l}.attn.hook_pattern"][:n].astype(np.float64) for l in layers]
        except (OSError, ValueError, IndexError) as e:  # a damaged file, or a field of the wrong shape
            sys.exit(f"{TOOL}: {record_path}: its fields cannot be read as a double-chain record ({e})")
    t = tokens.shape[1]
    if patterns[0].shape[-2:] != (t, t):
        sys.exit(f"{TOOL}: {record_path}: patterns of shape {patterns[0].shape} do not cover the {t} prompt "
                 "positions (record with --positions all)")
    edges_per_chain = chain.shape[1] - 1
    if t != 4 * edges_per_chain + 5:
        sys.exit(f"{TOOL}: {record_path}: prompts of {t} tokens for chains of {edges_per_chain} edges; the "
                 f"double-chain layout has 4E+5 = {4 * edges_per_chain + 5}")
    return tokens, chain, other, order, patterns


def edge_kinds(tokens, chain, other):
    """Per prompt and edge slot e (positions 2e, 2e+1): kind [N, S] (CHAIN_A, CHAIN_B, INTO_A, INTO_B)
    and index [N, S] (i for the chain edge c_i -> c_{i+1}; j for a distractor n -> c_j)."""
    n, slots = tokens.shape[0], (tokens.shape[1] - 1) // 2
    kind = np.full((n, slots), -1)
    index = np.full((n, slots), -1)
    for p in range(n):
        pos_a = {int(v): i for i, v in enumerate(chain[p])}
        pos_b = {int(v): i for i, v in enumerate(other[p])}
        for e in range(slots):
            parent, child = int(tokens[p, 2 * e]), int(tokens[p, 2 * e + 1])
            for chain_kind, into_kind, pos in ((CHAIN_A, INTO_A, pos_a), (CHAIN_B, INTO_B, pos_b)):
                if parent in pos and pos.get(child) == pos[parent] + 1:
                    kind[p, e], index[p, e] = chain_kind, pos[parent]
                elif parent not in pos_a and parent not in pos_b and child in pos:
                    kind[p, e], index[p, e] = into_kind, pos[child]
        if (kind[p] < 0).any():
            sys.exit(f"{TOOL}: prompt {p}: edge slot {int(np.argmax(kind[p] < 0))} is neither a chain edge nor a "
                     "distractor of the annotated chains")
    return kind, index


def query_classes(kind, index, order, edges_per_chain):
    """Per prompt: the class of each source position seen from the query (the last position) as an array
    [N, T] of names."""
    n, slots = kind.shape
    names = np.empty((n, 2 * slots + 1), dtype=object)
    for p in range(n):
        start = edges_per_chain - int(order[p])
        for e in range(slots):
            k, i = kind[p, e], index[p, e]
            if k == CHAIN_A and i >= start:
                parent, child = f"hop{i - start + 1}_parent", f"hop{i - start + 1}_child"
            elif k == CHAIN_A:
                parent = child = "before_start"
            elif k == CHAIN_B:
                parent = child = "other_chain"
            else:
                parent = child = "distractor_into_path" if (k == INTO_A and i > start) else "distractor_other"
            names[p, 2 * e], names[p, 2 * e + 1] = parent, child
        names[p, -1] = "query"
    return names


def query_shares(patterns, names, order):
    """Returns ({k: {layer: {head: {class: share}}}}, {k: {class: prompts that have it}}) of the query
    position's attention per hop count k. A class's share is the mean over the k-hop prompts that have
    it: the distractor into the path exists only where it lands past the start."""
    shares, prompts = {}, {}
    for k in sorted(set(int(v) for v in order)):
        rows = np.flatnonzero(order == k)
        classes = sorted(set(names[rows].ravel()), key=class_rank)
        members = {c: names[rows] == c for c in classes}  # [n_k, T] each
        having = {c: members[c].any(-1) for c in classes}
        prompts[k] = {c: int(having[c].sum()) for c in classes}
        shares[k] = {}
        for layer, pattern in enumerate(patterns):
            from_query = pattern[rows, :, -1, :]  # [n_k, H, T]
            shares[k][layer] = {}
            for head in range(pattern.shape[1]):
                shares[k][layer][head] = {c: float((from_query[:, head, :] * members[c]).sum(-1)[having[c]].mean())
                                          for c in classes}
    return shares, prompts


def class_rank(name):
    """Hops first in path order, then the other classes."""
    if name.startswith("hop"):
        number, slot = name[3:].split("_")
        return (0, int(number), slot)
    rest = ["before_start", "distractor_into_path", "distractor_other", "other_chain", "query"]
    return (1, rest.index(name), "")


def edge_offset_shares(patterns, kind, index, edges_per_chain):
    """From each chain edge's child position: {layer: {head: {"offset": {d: {slot: share, "n_" + slot: count}},
    "other_chain": share, "distractor": share}}}; offset shares are means over the (prompt, edge, source)
    triples where the source edge comes earlier (the mask hides the rest)."""
    n, slots = kind.shape
    span = edges_per_chain - 1
    other_code, distractor_code = 2 * (2 * span + 1), 2 * (2 * span + 1) + 1
    codes = np.full((n, 2 * slots + 1, 2 * slots + 1), -1)  # [prompt, dest, source]
    for p in range(n):
        for e in range(slots):
            if kind[p, e] not in (CHAIN_A, CHAIN_B):
                continue
            dest = 2 * e + 1
            for src in range(dest + 1):
                k, i = kind[p, src // 2], index[p, src // 2]
                if k == kind[p, e]:
                    codes[p, dest, src] = 2 * (i - index[p, e] + span) + src % 2
                elif k in (CHAIN_A, CHAIN_B):
                    codes[p, dest, src] = other_code
                else:
                    codes[p, dest, src] = distractor_code
    seen = codes >= 0
    n_dest = int((kind == CHAIN_A).sum() + (kind == CHAIN_B).sum())
    counts = np.bincount(codes[seen], minlength=distractor_code + 1)
    out = {}
    for layer, pattern in enumerate(patterns):
        out[layer] = {}
        for head in range(pattern.shape[1]):
            sums = np.bincount(codes[seen], weights=pattern[:, head][seen], minlength=distractor_code + 1)
            offsets = {}
            for d in range(-span, span + 1):
                entry = {}
                for slot, name in ((1, "child"), (0, "parent")):
                    c = 2 * (d + span) + slot
                    entry[name] = float(sums[c] / counts[c]) if counts[c] else float("nan")
                    entry["n_" + name] = int(counts[c])
                offsets[d] = entry
            out[layer][head] = {"offset": offsets, "other_chain": float(sums[other_code] / n_dest),
                                "distractor": float(sums[distractor_code] / n_dest)}
    return out


def print_query_table(shares, prompts):
    print("From the query position: share of attention by source (mean over the prompts of each hop count that")
    print("have the source)")
    for k, by_layer in shares.items():
        classes = list(prompts[k])
        n_k = max(prompts[k].values())  # the query and the hops are in every prompt
        partial = [f"{c} in {prompts[k][c]} of {n_k}" for c in classes if prompts[k][c] < n_k]
        print(f"\n  k = {k}" + (f" ({'; '.join(partial)})" if partial else ""))
        print("  " + "layer".ljust(9) + "".join(c.replace("_", " ").rjust(max(9, len(c) + 1)) for c in classes))
        for layer, by_head in by_layer.items():
            for head, row in by_head.items():
                label = f"{layer}" if len(by_head) == 1 else f"{layer}.{head}"
                print("  " + label.ljust(9) + "".join(f"{row[c]:.3f}".rjust(max(9, len(c) + 1)) for c in classes))


def print_edge_table(shares, span):
    print("\nFrom every chain edge's child position: share on the same chain's edge d edges ahead (+) or behind (-),")
    print("child/parent position, mean where that edge comes earlier; other chain and distractors: totals")
    offsets = list(range(-span, span + 1))
    print("  " + "layer".ljust(7) + "".join(f"d={d:+d}".rjust(12) for d in offsets) + "   other  distr  peak d>0")
    for layer, by_head in shares.items():
        for head, row in by_head.items():
            label = f"{layer}" if len(by_head) == 1 else f"{layer}.{head}"
            cells = "".join(f"{row['offset'][d]['child']:.2f}/{row['offset'][d]['parent']:.2f}".rjust(12)
                            for d in offsets)
            ahead = {d: row["offset"][d]["child"] for d in offsets if d > 0}
            peak = max(ahead, key=lambda d: ahead[d])
            print("  " + label.ljust(7) + cells + f"{row['other_chain']:8.2f}{row['distractor']:7.2f}   +{peak}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("record")
    ap.add_argument("--n", type=int, default=1000, help="prompts read from the record (default 1000)")
    ap.add_argument("--json", help="write every number to this JSON file")
    args = ap.parse_args()
    if args.n < 1:
        sys.exit(f"{TOOL}: --n {args.n}: expected at least 1 prompt")
    tokens, chain, other, order, patterns = load(args.record, args.n)
    edges_per_chain = chain.shape[1] - 1
    kind, index = edge_kinds(tokens, chain, other)
    from_query, query_prompts = query_shares(patterns, query_classes(kind, index, order, edges_per_chain), order)
    from_edges = edge_offset_shares(patterns, kind, index, edges_per_chain)
    print(f"{len(tokens)} prompts, {len(patterns)} layers, chains of {edges_per_chain} edges; hop counts "
          f"{sorted(from_query)}\n")
    print_query_table(from_query, query_prompts)
    print_edge_table(from_edges, edges_per_chain - 1)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"record": args.record, "prompts": len(tokens), "edges_per_chain": edges_per_chain,
                       "from_query": from_query, "from_query_prompts": query_prompts, "from_edges": from_edges}, out, indent=1)


if __name__ == "__main__":
    main()
