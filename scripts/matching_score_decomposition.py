#!/usr/bin/env python3
"""Why a matching model's head looks where it does: one layer's attention score from a position to each
chain role, split into the parts of the query's and the key's residual stream that produce it.

The residual stream at the layer's input is a sum of components: the token embedding (`tok`), the
positional embedding (`pos`), each earlier layer's attention output (`attnL`) and MLP output (`mlpL`),
and, after a LayerNorm, its bias (`ln_bias`). A LayerNorm is applied to every component with the scale
it had on the whole stream (its denominator frozen: the usual linearisation, our choice; exact for the
sum, which the script checks), so score = sum over (query part, key part) of q_part . k_part / sqrt(d_head),
plus attention biases as the part `attn_bias`. Each role's number is its score minus the mean score
over the prompt's child positions (the candidates a hop lands on), averaged over the prompts that
have the role, so parts that treat every candidate alike cancel.

Reads what matching_knockout_attention.py reads: a checkpoint and a `mechlens record --task matching
--hooks 'blocks.*.attn.hook_pattern'` file of `single_chain` or `noised_double_chain` problems, with
that script's role names (the forward is the parity tests' float64 reference, checked against the
recorded patterns). Learned or no positions; LayerNorm, RMSNorm or none, pre or post; not rotary (its
rotation mixes the parts per position).

Usage: matching_score_decomposition.py CHECKPOINT RECORD.h5 --layer L [--dest ROLE] [--n N] [--head H]
Prints two tables per head: the score split by key part (summed over query parts) and by query part.
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import matching_knockout_attention as knockout  # noqa: E402
import reference_forward  # noqa: E402  (on the path through the module above)


def frozen_norm(parts, total, prefix, cfg, params):
    """The norm `prefix` applied to each part with the scale of `total` (the sum of the parts)."""
    kind = cfg["normalization_type"]
    if kind in (None, "none"):
        return dict(parts)
    centre = kind == "LN"
    x = total - total.mean(-1, keepdim=True) if centre else total
    scale = torch.sqrt((x * x).mean(-1, keepdim=True) + cfg["eps"])
    weight = params[prefix + ".w"]
    out = {k: ((v - v.mean(-1, keepdim=True)) if centre else v) / scale * weight for k, v in parts.items()}
    if centre:
        out["ln_bias"] = out.get("ln_bias", 0.0) + params[prefix + ".b"].expand_as(total)
    return out


def attention_input_parts(layer, cfg, params, acts):
    """{part: [B, T, d_model]} summing to the input of `layer`'s attention (after ln1 in pre-LN)."""
    parts = {"tok": acts["hook_embed"]}  # the token rows as the model uses them (shared_embed_norm applied)
    if cfg["positional_embedding_type"] == "standard":
        parts["pos"] = acts["hook_pos_embed"].expand_as(parts["tok"])
    post = cfg["norm_placement"] == "post"
    for l in range(layer):
        b = f"blocks.{l}."
        parts[f"attn{l}"] = acts[b + "hook_attn_out"]
        if post:
            parts = frozen_norm(parts, acts[b + "hook_resid_pre"] + acts[b + "hook_attn_out"], b + "ln1", cfg, params)
        if cfg["d_mlp"]:
            parts[f"mlp{l}"] = acts[b + "hook_mlp_out"]
            if post:
                total = acts[b + "hook_resid_mid"] + acts[b + "hook_mlp_out"]
                parts = frozen_norm(parts, total, b + "ln2", cfg, params)
    if not post:
        parts = frozen_norm(parts, acts[f"blocks.{layer}.hook_resid_pre"], f"blocks.{layer}.ln1", cfg, params)
    return parts


def decompose(layer, head, role_maps, dest, cfg, params, acts):
    """Returns (part names, {role: [parts_q, parts_k] mean relative score}, {role: count}, max |error|)."""
    parts = attention_input_parts(layer, cfg, params, acts)
    pre = f"blocks.{layer}.attn."
    kv_head = head // (cfg["n_heads"] // (cfg["n_key_value_heads"] or cfg["n_heads"]))
    w_q, w_k = params[pre + "W_Q"][head], params[pre + "W_K"][kv_head]  # [d_model, d_head]
    names = list(parts) + (["attn_bias"] if cfg["attn_bias"] else [])
    stacked = torch.stack(list(parts.values()))                           # [parts, B, T, d_model]
    q, k = stacked @ w_q, stacked @ w_k                                   # [parts, B, T, d_head]
    if cfg["attn_bias"]:
        q = torch.cat([q, params[pre + "b_Q"][head].expand_as(q[:1])])
        k = torch.cat([k, params[pre + "b_K"][kv_head].expand_as(k[:1])])
    rows = [b for b, r in enumerate(role_maps) if dest in r]
    d = torch.tensor([role_maps[b][dest] for b in rows])
    batch = torch.tensor(rows)
    # [parts_q, parts_k, prompts, T]: the dest row of every part pair's score.
    score = torch.einsum("pbd,qbtd->pqbt", q[:, batch, d], k[:, batch]) / math.sqrt(cfg["d_head"])
    recorded = acts[pre + "hook_attn_scores"][batch, head, d]           # [prompts, T]
    sources = score.sum((0, 1))
    causal = torch.arange(score.shape[-1])[None] <= d[:, None]
    error = float((sources - recorded).abs()[causal].max())
    table, count = {}, {}
    for i, b in enumerate(rows):
        r = role_maps[b]
        children = {role: p for role, p in r.items() if role.endswith("_child") and p <= r[dest]}
        if not children:
            continue
        base = score[:, :, i, list(children.values())].mean(-1)
        for role, p in children.items():
            table[role] = table.get(role, 0.0) + (score[:, :, i, p] - base).numpy()
            count[role] = count.get(role, 0) + 1
    return names, {role: v / count[role] for role, v in table.items()}, count, error


def role_order(role):
    """hop1.., then before_start_1.., after_answer_1.., the other chain's other1.., then the distractors."""
    groups = ("hop", "before", "after", "other", "distractor")
    group = next((i for i, g in enumerate(groups) if role.startswith(g)), len(groups))
    return group, int("".join(ch for ch in role.split("_child")[0] if ch.isdigit()) or 0), role


def print_tables(names, table, count, n):
    roles = sorted(table, key=role_order)
    width = max(len(r) for r in roles) + 14
    for title, axis in (("by key part (summed over query parts)", 0), ("by query part (summed over key parts)", 1)):
        print(f"  score relative to the mean over child positions, {title}")
        print(" " * (width + 2) + "".join(f"{name:>9s}" for name in names) + "    total")
        for role in roles:
            split = table[role].sum(axis)
            label = role + (f" ({count[role]} of {n})" if count[role] < n else "")
            print(f"  {label:{width}s}" + "".join(f"{v:9.2f}" for v in split) + f"{table[role].sum():9.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("record")
    ap.add_argument("--layer", type=int, required=True, help="the attention layer whose scores are split")
    ap.add_argument("--head", type=int, default=None, help="one head (default: every head of the layer)")
    ap.add_argument("--dest", default="query", help="the role whose attention is split (default query)")
    ap.add_argument("--n", type=int, default=1000, help="prompts read from the record (default 1000)")
    args = ap.parse_args()
    params, cfg, tokens, answers, role_maps, recorded = knockout.load(args.checkpoint, args.record, args.n)
    knockout.check_role(args.dest, role_maps)
    if not 0 <= args.layer < cfg["n_layers"]:
        sys.exit(f"matching_score_decomposition: --layer {args.layer}: the model has layers 0..{cfg['n_layers'] - 1}")
    if cfg["positional_embedding_type"] == "rotary":
        sys.exit(f"matching_score_decomposition: {args.checkpoint}: rotary positions mix the parts per position; "
                 "learned or no positions are supported")
    heads = range(cfg["n_heads"]) if args.head is None else [args.head]
    if not all(0 <= h < cfg["n_heads"] for h in heads):
        sys.exit(f"matching_score_decomposition: --head {args.head}: the layer has heads 0..{cfg['n_heads'] - 1}")
    logits, acts = reference_forward.forward(torch.from_numpy(tokens).long(), None, cfg, params)
    knockout.check_against_record(knockout.patterns_of(acts, cfg), recorded)
    n = sum(args.dest in r for r in role_maps)
    print(f"{len(tokens)} prompts ({n} with '{args.dest}'); layer {args.layer}'s score from '{args.dest}' to each "
          f"child position; accuracy {(logits[:, -1].numpy().argmax(-1) == answers).mean():.3f}")
    for h in heads:
        names, table, count, error = decompose(args.layer, h, role_maps, args.dest, cfg, params, acts)
        if not table:
            sys.exit(f"matching_score_decomposition: no child position at or before '{args.dest}' in any prompt")
        print(f"head {h}: the parts sum to the score within {error:.1g}")
        print_tables(names, table, count, n)


if __name__ == "__main__":
    main()
