#!/usr/bin/env python3
"""Where each layer's head of a matching model looks from one position, by chain role, and how that
changes when attention edges are knocked out: what a later layer reads, where `mechlens trace`
reports only what a knock-out does to the answer.

Reads a checkpoint (post- or pre-LN LayerNorm, attention without biases, ReLU MLP without biases, learned
positions: the matching configs) and a `mechlens record --task matching --task-option
layout=single_chain --hooks 'blocks.*.attn.hook_pattern'` file of the prompts. The forward is
recomputed in numpy so that knock-outs can be applied (pre-softmax score set to -inf, as `mechlens
trace` does); it is checked against the recorded patterns first, and the script stops if they differ.

Roles: `query` (the start node at the last position), `hopJ_parent` / `hopJ_child` (the positions of
the J-th hop's edge), `before_start_K` / `after_answer_K` (chain edges off the path, K edges away).

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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pylib"))
from safetensors_np import read_safetensors  # noqa: E402


def layer_norm(x, w, b, eps):
    x = x - x.mean(-1, keepdims=True)
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w + b


def forward(p, cfg, tokens, blocked):
    """tokens [B, T]; blocked[l] is a bool [B, T, T] of edges knocked out in layer l (or absent).
    Returns the logits at the last position [B, V] and each layer's pattern [B, T, T] (head 0)."""
    if cfg["n_heads"] != 1 or cfg["attn_bias"] or cfg["mlp_bias"] or cfg["act_fn"] != "relu":
        sys.exit("matching_knockout_attention: expects 1 head, no attention or MLP biases, ReLU")
    post = cfg["norm_placement"] == "post"
    _, t = tokens.shape
    x = p["embed.W_E"][tokens] + p["pos_embed.W_pos"][:t]
    future = np.triu(np.ones((t, t), bool), 1)
    patterns = []
    for l in range(cfg["n_layers"]):
        b = f"blocks.{l}."
        ln = lambda v, k: layer_norm(v, p[b + k + ".w"], p[b + k + ".b"], cfg["eps"])  # noqa: E731
        h = x if post else ln(x, "ln1")
        q, k, v = (h @ p[b + f"attn.W_{m}"][0] for m in "QKV")          # [B, T, d_head]
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(cfg["d_head"])      # [B, dest, src]
        scores = np.where(future | blocked.get(l, False), -np.inf, scores)
        top = scores.max(-1, keepdims=True)
        e = np.exp(scores - np.where(np.isfinite(top), top, 0))
        total = e.sum(-1, keepdims=True)
        a = np.divide(e, total, out=np.zeros_like(e), where=total > 0)  # blocked everywhere: attends nowhere
        patterns.append(a)
        x = x + (a @ v) @ p[b + "attn.W_O"][0]
        x = ln(x, "ln1") if post else x
        h = x if post else ln(x, "ln2")
        x = x + np.maximum(h @ p[b + "mlp.W_in"], 0) @ p[b + "mlp.W_out"]
        x = ln(x, "ln2") if post else x
    if not post:
        x = layer_norm(x, p["ln_final.w"], p["ln_final.b"], cfg["eps"])
    return x[:, -1] @ p["unembed.W_U"] + p["unembed.b_U"], patterns


def roles(tokens, path, chain):
    """Per prompt: role name -> position."""
    out = []
    for toks, hops, nodes in zip(tokens, path, chain):
        hops = [int(h) for h in hops if h >= 0]
        nodes = [int(n) for n in nodes if n >= 0]
        start, order = nodes.index(hops[0]), len(hops) - 1
        r = {"query": len(toks) - 1}
        for e in range(len(toks) // 2):
            if int(toks[2 * e]) not in nodes:
                sys.exit("matching_knockout_attention: an edge off the queried chain: the record must be of "
                         "layout=single_chain problems")
            parent = nodes.index(int(toks[2 * e]))
            if start <= parent < start + order:
                name = f"hop{parent - start + 1}"
            elif parent < start:
                name = f"before_start_{start - parent}"
            else:
                name = f"after_answer_{parent - start - order + 1}"
            r[name + "_parent"], r[name + "_child"] = 2 * e, 2 * e + 1
        out.append(r)
    return out


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
    print(f"{name}: accuracy {(logits.argmax(-1) == answers).mean():.3f}")
    for l, a in enumerate(patterns):
        share = {}
        for b, r in enumerate(role_maps):
            if dest in r:
                for role, s in r.items():
                    share[role] = share.get(role, 0.0) + a[b, r[dest], s]
        top = sorted(share.items(), key=lambda kv: -kv[1])[:top_k]
        print(f"  layer {l}: " + ", ".join(f"{role} {v / len(role_maps):.3f}" for role, v in top))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("record")
    ap.add_argument("--dest", default="query", help="the role whose attention is shown (default query)")
    ap.add_argument("--top", type=int, default=6, help="roles shown per layer, largest share first (default 6)")
    ap.add_argument("--n", type=int, default=1000, help="prompts read from the record (default 1000)")
    ap.add_argument("--knockout", action="append", default=[], help="LAYER:DEST:SRC[+SRC...][,...]")
    args = ap.parse_args()
    try:
        params, meta = read_safetensors(args.checkpoint)
    except (OSError, ValueError, KeyError, struct.error) as e:
        sys.exit(f"matching_knockout_attention: {args.checkpoint}: not a readable safetensors checkpoint ({e})")
    cfg = json.loads(meta["config"]) if isinstance(meta.get("config"), str) else meta.get("config")
    if not cfg:
        sys.exit(f"matching_knockout_attention: {args.checkpoint}: no model config in its metadata")
    try:
        record = h5py.File(args.record, "r")
    except OSError as e:
        sys.exit(f"matching_knockout_attention: {args.record}: not a readable HDF5 record ({e})")
    with record as f:
        missing = [k for k in ("tokens", "annotations/path", "annotations/chain", "annotations/answer")
                   if k not in f]
        if missing:
            sys.exit(f"matching_knockout_attention: {args.record}: no {', '.join(missing)} (a `mechlens record "
                     "--task matching` file is expected)")
        n = min(args.n, f["tokens"].shape[0])
        tokens = f["tokens"][:n]
        answers = f["annotations/answer"][:n, 0]
        role_maps = roles(tokens, f["annotations/path"][:n], f["annotations/chain"][:n])
        recorded = [f[f"acts/blocks.{l}.attn.hook_pattern"][:n, 0] for l in range(cfg["n_layers"])]
    logits, patterns = forward(params, cfg, tokens, {})
    gap = max(float(np.abs(a - r).max()) for a, r in zip(patterns, recorded))
    if gap > 1e-4:
        sys.exit(f"matching_knockout_attention: the numpy forward differs from the record by {gap:.2g}")
    print(f"{n} prompts; attention from '{args.dest}' by source role (share, mean over prompts); "
          f"numpy forward = record within {gap:.1g}")
    report("clean", logits, answers, patterns, role_maps, args.dest, args.top)
    for text in args.knockout:
        blocked = blocked_edges(parse_knockout(text), role_maps, patterns[0].shape)
        logits, patterns = forward(params, cfg, tokens, blocked)
        report(f"knock-out {text}", logits, answers, patterns, role_maps, args.dest, args.top)


if __name__ == "__main__":
    main()
