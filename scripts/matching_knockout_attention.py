#!/usr/bin/env python3
"""Where each layer's head of a matching model looks from one position, by chain role, and how that
changes when attention edges are knocked out: what a later layer reads, where `mechlens trace`
reports only what a knock-out does to the answer.

Reads a checkpoint and a `mechlens record --task matching --hooks 'blocks.*.attn.hook_pattern'` file
of the prompts (layout `single_chain` or `noised_double_chain`). The forward is recomputed by the
plain-PyTorch reference of the parity tests (tests/parity/reference_forward.py, float64) so that
knock-outs can be applied (pre-softmax score set to -inf in every head of the layer, as `mechlens
trace` does); it is checked against the recorded patterns first, and the script stops if they
differ. Multi-head models are reported head by head.

Roles: `query` (the start node at the last position), `hopJ_parent` / `hopJ_child` (the positions of
the J-th hop's edge), `before_start_K` / `after_answer_K` (chain edges off the path, K edges away);
in `layout=noised_double_chain` records also `otherJ_parent` / `otherJ_child` (the other chain's J-th
edge) and `distractor_a_*` / `distractor_b_*` (the distractor edge into the queried / other chain).
Roles off the path exist only for some starts, so each share is the mean over the prompts that have
the role, marked '(in n of N)'.

Usage: matching_knockout_attention.py CHECKPOINT RECORD.h5 [--dest ROLE] [--n N]
           [--top K] [--knockout LAYER:DEST:SRC[+SRC...] ...]
Each --knockout is one run (several edges of one run: join them with ','), printed beside the clean run.
"""
import argparse
import json
import os
import struct
import sys

import h5py
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(here, "..", "tests", "pylib"), os.path.join(here, "..", "tests", "parity")]
import reference_forward  # noqa: E402
from safetensors_np import read_safetensors  # noqa: E402


def patterns_of(acts, cfg):
    """Each layer's attention pattern [B, heads, T, T] from the reference forward's hooks."""
    return [acts[f"blocks.{l}.attn.hook_pattern"].numpy() for l in range(cfg["n_layers"])]


def forward(params, cfg, tokens, blocked):
    """tokens [B, T]; blocked[l] is a bool [B, T, T] of edges knocked out in layer l (or absent).
    params: the checkpoint's tensors in float64. Returns the logits at the last position [B, V] and
    each layer's pattern [B, heads, T, T]."""
    logits, acts = reference_forward.forward(torch.from_numpy(tokens).long(), None, cfg, params,
                                             {l: torch.from_numpy(m) for l, m in blocked.items()})
    return logits[:, -1].numpy(), patterns_of(acts, cfg)


def roles(tokens, path, chain, other=None):
    """Per prompt: role name -> position. `other` [N, E+1] is the double-chain layout's second chain
    (annotations/other_chain); without it every edge must lie on the queried chain (layout=single_chain)."""
    out = []
    for p, (toks, hops, nodes) in enumerate(zip(tokens, path, chain)):
        hops = [int(h) for h in hops if h >= 0]
        nodes = [int(n) for n in nodes if n >= 0]
        second = [] if other is None else [int(n) for n in other[p] if n >= 0]
        start, order = nodes.index(hops[0]), len(hops) - 1
        r = {"query": len(toks) - 1}
        for e in range(len(toks) // 2):
            parent_token, child_token = int(toks[2 * e]), int(toks[2 * e + 1])
            if other is not None and parent_token not in nodes:
                name = off_chain_role(parent_token, child_token, nodes, second)
                if name is None:
                    sys.exit(f"{tool_name()}: prompt {p}: edge slot {e} ({parent_token} -> {child_token}) is neither "
                             "a chain edge nor a distractor of the annotated chains")
                r[name + "_parent"], r[name + "_child"] = 2 * e, 2 * e + 1
                continue
            if parent_token not in nodes:
                sys.exit("matching_knockout_attention: an edge off the queried chain: the record must be of "
                         "layout=single_chain problems")
            parent = nodes.index(parent_token)
            if start <= parent < start + order:
                name = f"hop{parent - start + 1}"
            elif parent < start:
                name = f"before_start_{start - parent}"
            else:
                name = f"after_answer_{parent - start - order + 1}"
            r[name + "_parent"], r[name + "_child"] = 2 * e, 2 * e + 1
        out.append(r)
    return out


def off_chain_role(parent, child, nodes, second):
    """The role of a double-chain edge whose parent is not on the queried chain: `otherJ` for the other
    chain's J-th edge, `distractor_a` / `distractor_b` for the distractor into the queried / other chain
    (its child is a chain node; its parent is on neither chain). None when it is neither."""
    if parent in second and second.index(parent) + 1 < len(second) and second[second.index(parent) + 1] == child:
        return f"other{second.index(parent) + 1}"
    if parent not in second:
        if child in nodes:
            return "distractor_a"
        if child in second:
            return "distractor_b"
    return None


def parse_knockout(text):
    edges = []
    for edge in text.split(","):
        parts = edge.split(":")
        if len(parts) != 3 or not parts[0].isdigit():
            sys.exit(f"matching_knockout_attention: --knockout '{text}': expected LAYER:DEST:SRC[+SRC...]")
        edges.append((int(parts[0]), parts[1], parts[2].split("+")))
    return edges


def blocked_edges(edges, role_maps, shape):
    blocked = {}
    for layer, dest, sources in edges:
        m = blocked.setdefault(layer, np.zeros(shape, bool))
        for b, r in enumerate(role_maps):
            if dest in r:
                for s in sources:
                    if s in r and r[s] <= r[dest]:
                        m[b, r[dest], r[s]] = True
    return blocked


def report(name, logits, answers, patterns, role_maps, dest, top_k):
    """Each role's share is the mean over the prompts that have the role (and the destination): roles off
    the path exist only for some starts (after_answer_1 needs a node after the answer), and a mean over
    every prompt would rank them by how often they exist. '(in n of N)' marks such roles."""
    print(f"{name}: accuracy {(logits.argmax(-1) == answers).mean():.3f}")
    with_dest = sum(dest in r for r in role_maps)
    for l, pattern in enumerate(patterns):                             # [B, heads, T, T]
        for h in range(pattern.shape[1]):
            share, count = {}, {}
            for b, r in enumerate(role_maps):
                if dest in r:
                    for role, s in r.items():
                        share[role] = share.get(role, 0.0) + pattern[b, h, r[dest], s]
                        count[role] = count.get(role, 0) + 1
            mean = {role: v / count[role] for role, v in share.items()}
            top = sorted(mean.items(), key=lambda kv: -kv[1])[:top_k]
            name = f"layer {l}" if pattern.shape[1] == 1 else f"layer {l} head {h}"
            print(f"  {name}: " + ", ".join(
                f"{role} {v:.3f}" + (f" (in {count[role]} of {with_dest})" if count[role] < with_dest else "")
                for role, v in top))


def tool_name():
    """The running script's name for messages (this one's when imported, e.g. from a notebook)."""
    name = os.path.basename(sys.argv[0]).removesuffix(".py")
    return name if name.startswith("matching_") else "matching_knockout_attention"


def load_checkpoint(checkpoint):
    """Returns (params in float64, cfg); exits with a message naming the file when it cannot be read."""
    tool = tool_name()
    try:
        params, meta = read_safetensors(checkpoint)
    except (OSError, ValueError, KeyError, struct.error) as e:
        sys.exit(f"{tool}: {checkpoint}: not a readable safetensors checkpoint ({e})")
    cfg = json.loads(meta["config"]) if isinstance(meta.get("config"), str) else meta.get("config")
    if not cfg:
        sys.exit(f"{tool}: {checkpoint}: no model config in its metadata")
    return {name: torch.from_numpy(t).double() for name, t in params.items()}, cfg  # once, for every forward


def load(checkpoint, record_path, n):
    """Returns (params float64, cfg, tokens [N, T], answers [N], role maps, recorded patterns per layer);
    exits with a message naming the file when it is not what the scripts read."""
    tool = tool_name()
    params, cfg = load_checkpoint(checkpoint)
    try:
        record = h5py.File(record_path, "r")
    except OSError as e:
        sys.exit(f"{tool}: {record_path}: not a readable HDF5 record ({e})")
    with record as f:
        needed = ["tokens", "annotations/path", "annotations/chain", "annotations/answer"]
        needed += [f"acts/blocks.{l}.attn.hook_pattern" for l in range(cfg["n_layers"])]
        missing = [k for k in needed if k not in f]
        if missing:
            sys.exit(f"{tool}: {record_path}: no {', '.join(missing)} (a `mechlens record "
                     "--task matching` file with the attention patterns is expected)")
        n = min(n, f["tokens"].shape[0])
        tokens = f["tokens"][:n]
        answers = f["annotations/answer"][:n, 0]
        other = f["annotations/other_chain"][:n] if "annotations/other_chain" in f else None
        role_maps = roles(tokens, f["annotations/path"][:n], f["annotations/chain"][:n], other)
        recorded = [f[f"acts/blocks.{l}.attn.hook_pattern"][:n] for l in range(cfg["n_layers"])]
    return params, cfg, tokens, answers, role_maps, recorded


def check_role(role, role_maps, option="--dest"):
    """Exits with the roles the prompts have when none of them has `role`."""
    if not any(role in r for r in role_maps):
        known = sorted({name for r in role_maps for name in r})
        tool = tool_name()
        sys.exit(f"{tool}: {option} '{role}': no prompt has that role; roles: {', '.join(known)}")


def check_against_record(patterns, recorded):
    """Stops when the reference forward's patterns (per layer) differ from the recorded ones; returns the gap."""
    gap = max(float(np.abs(p - r).max()) for p, r in zip(patterns, recorded))
    if gap > 1e-4:
        tool = tool_name()
        sys.exit(f"{tool}: the reference forward differs from the record by {gap:.2g}")
    return gap


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("record")
    ap.add_argument("--dest", default="query", help="the role whose attention is shown (default query)")
    ap.add_argument("--top", type=int, default=6, help="roles shown per layer, largest share first (default 6)")
    ap.add_argument("--n", type=int, default=1000, help="prompts read from the record (default 1000)")
    ap.add_argument("--knockout", action="append", default=[], help="LAYER:DEST:SRC[+SRC...][,...]")
    args = ap.parse_args()
    params, cfg, tokens, answers, role_maps, recorded = load(args.checkpoint, args.record, args.n)
    check_role(args.dest, role_maps)
    logits, patterns = forward(params, cfg, tokens, {})
    gap = check_against_record(patterns, recorded)
    print(f"{len(tokens)} prompts; attention from '{args.dest}' by source role (share, mean over the prompts "
          f"that have the role); reference forward = record within {gap:.1g}")
    report("clean", logits, answers, patterns, role_maps, args.dest, args.top)
    for text in args.knockout:
        edges = parse_knockout(text)
        for layer, dest, sources in edges:
            if layer >= cfg["n_layers"]:
                sys.exit(f"matching_knockout_attention: --knockout '{text}': layer {layer}; the model has layers "
                         f"0..{cfg['n_layers'] - 1}")
            for role in [dest] + sources:
                check_role(role, role_maps, f"--knockout '{text}':")
        blocked = blocked_edges(edges, role_maps, tokens.shape + tokens.shape[-1:])
        logits, patterns = forward(params, cfg, tokens, blocked)
        report(f"knock-out {text}", logits, answers, patterns, role_maps, args.dest, args.top)


if __name__ == "__main__":
    main()
