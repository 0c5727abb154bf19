#!/usr/bin/env python3
"""Independent plain-PyTorch transformer forward, written from the equations (not from mechlens).

Reads a mechlens checkpoint and a cache written by `mechlens run --save-cache`, recomputes every
hook from the token ids, and checks each cached activation to an absolute tolerance.

Usage: reference_forward.py CHECKPOINT CACHE [--tol 1e-5]
Exit status 0 when every hook matches and the two hook sets are identical.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from safetensors_np import read_safetensors  # noqa: E402

def norm(x, prefix, cfg, p, acts):
    """LayerNorm (centred) or RMSNorm; records hook_scale and hook_normalized."""
    if cfg["normalization_type"] in (None, "none"):
        return x
    x = x.double()
    if cfg["normalization_type"] == "LN":
        x = x - x.mean(-1, keepdim=True)
    scale = torch.sqrt((x * x).mean(-1, keepdim=True) + cfg["eps"])
    acts[prefix + ".hook_scale"] = scale
    if cfg["normalization_type"] == "LN":
        out = x / scale * p[prefix + ".w"] + p[prefix + ".b"]
        acts[prefix + ".hook_normalized"] = out  # LayerNorm: after the weight and bias
        return out
    acts[prefix + ".hook_normalized"] = x / scale  # RMSNorm: before the weight (TransformerLens)
    return x / scale * p[prefix + ".w"]


def activation(x, name):
    if name == "relu":
        return torch.relu(x)
    if name == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name == "gelu_new":
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    if name == "silu":
        return x * torch.sigmoid(x)
    raise ValueError(name)


def rotate(x, positions, cfg):
    """Rotary embedding, GPT-NeoX layout: pairs (i, i + dim/2) over the first rotary_dim dims."""
    dim = cfg["rotary_dim"] or cfg["d_head"]
    half = dim // 2
    freqs = cfg["rotary_base"] ** (-torch.arange(0, half, dtype=torch.float64) * 2.0 / dim)
    angle = positions.double()[..., None] * freqs  # [batch, pos, half]
    cos, sin = torch.cos(angle)[:, :, None, :], torch.sin(angle)[:, :, None, :]
    x1, x2, rest = x[..., :half], x[..., half:dim], x[..., dim:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


def attention(x, l, cfg, p, acts, positions, pad, knockout=None):
    """knockout: bool [batch, dest, src] of edges cut in this layer (score set to -inf), or None."""
    pre = f"blocks.{l}.attn."
    n_heads, d_head = cfg["n_heads"], cfg["d_head"]
    n_kv = cfg["n_key_value_heads"] or n_heads
    batch, seq, _ = x.shape

    def proj(w, b):
        out = torch.einsum("bpm,hmd->bphd", x, p[pre + w])
        return out + p[pre + b] if cfg["attn_bias"] else out

    q, k, v = proj("W_Q", "b_Q"), proj("W_K", "b_K"), proj("W_V", "b_V")
    acts[pre + "hook_q"], acts[pre + "hook_k"], acts[pre + "hook_v"] = q, k, v
    if cfg["positional_embedding_type"] == "rotary":
        q, k = rotate(q, positions, cfg), rotate(k, positions, cfg)
        acts[pre + "hook_rot_q"], acts[pre + "hook_rot_k"] = q, k
    group = n_heads // n_kv
    scores = torch.empty(batch, n_heads, seq, seq, dtype=torch.float64)
    for h in range(n_heads):  # one head at a time, as in the equations
        scores[:, h] = q[:, :, h] @ k[:, :, h // group].transpose(1, 2) / math.sqrt(d_head)
    blocked = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)[None, None]
    if pad is not None:
        blocked = blocked | pad[:, None, None, :]
    if knockout is not None:
        blocked = blocked | knockout[:, None]
    scores = scores.masked_fill(blocked, float("-inf"))
    acts[pre + "hook_attn_scores"] = scores
    pattern = torch.softmax(scores, dim=-1)
    if pad is not None:
        pattern = pattern.masked_fill(pad[:, None, :, None], 0.0)
    if knockout is not None:  # a row with every source cut attends nowhere
        pattern = torch.nan_to_num(pattern, nan=0.0)
    acts[pre + "hook_pattern"] = pattern
    z = torch.stack([pattern[:, h] @ v[:, :, h // group] for h in range(n_heads)], dim=2)
    acts[pre + "hook_z"] = z
    acts[pre + "hook_result"] = torch.einsum("bphd,hdm->bphm", z, p[pre + "W_O"])
    out = acts[pre + "hook_result"].sum(dim=2)
    return out + p[pre + "b_O"] if cfg["attn_bias"] else out


def mlp(x, l, cfg, p, acts):
    pre = f"blocks.{l}.mlp."
    if cfg["gated_mlp"]:
        gate = x @ p[pre + "W_gate"]
        linear = x @ p[pre + "W_in"]
        acts[pre + "hook_pre"], acts[pre + "hook_pre_linear"] = gate, linear
        # b_in is added after the gated product, as TransformerLens's GatedMLP does
        post = activation(gate, cfg["act_fn"]) * linear + (p[pre + "b_in"] if cfg["mlp_bias"] else 0.0)
    else:
        hidden = x @ p[pre + "W_in"] + (p[pre + "b_in"] if cfg["mlp_bias"] else 0.0)
        acts[pre + "hook_pre"] = hidden
        post = activation(hidden, cfg["act_fn"])
    acts[pre + "hook_post"] = post
    out = post @ p[pre + "W_out"]
    return out + p[pre + "b_out"] if cfg["mlp_bias"] else out


def forward(tokens, mask, cfg, p, knockout=None):
    """Returns (logits, acts) computed in float64. knockout: {layer: bool [batch, dest, src]} of
    attention edges cut before the softmax (every head of that layer), as `mechlens trace` cuts them."""
    acts = {}
    pad = None if mask is None else mask == 0
    positions = torch.arange(tokens.shape[1])[None].expand(tokens.shape[0], -1)
    if mask is not None:
        positions = torch.clamp(torch.cumsum(mask, dim=-1) - 1, min=0)
    resid = p["embed.W_E"][tokens]
    if cfg.get("shared_embed_norm", False):
        # Every row at the one learned norm: W_E[t] / |W_E[t]| * row_norm.
        resid = resid / torch.linalg.vector_norm(resid, dim=-1, keepdim=True) * p["embed.row_norm"]
    acts["hook_embed"] = resid
    if cfg["positional_embedding_type"] == "standard":
        acts["hook_pos_embed"] = p["pos_embed.W_pos"][positions]
        resid = resid + acts["hook_pos_embed"]
    post_norm = cfg["norm_placement"] == "post"
    attn_only = cfg["d_mlp"] == 0
    for l in range(cfg["n_layers"]):
        b = f"blocks.{l}."
        acts[b + "hook_resid_pre"] = resid
        attn_in = resid if post_norm else norm(resid, b + "ln1", cfg, p, acts)
        attn_out = attention(attn_in, l, cfg, p, acts, positions, pad, (knockout or {}).get(l))
        acts[b + "hook_attn_out"] = attn_out
        mid = resid + attn_out
        if post_norm:
            mid = norm(mid, b + "ln1", cfg, p, acts)
        if attn_only:
            resid = mid
        else:
            acts[b + "hook_resid_mid"] = mid
            mlp_out = mlp(mid if post_norm else norm(mid, b + "ln2", cfg, p, acts), l, cfg, p, acts)
            acts[b + "hook_mlp_out"] = mlp_out
            resid = mid + mlp_out
            if post_norm:
                resid = norm(resid, b + "ln2", cfg, p, acts)
        acts[b + "hook_resid_post"] = resid
    if not post_norm:
        resid = norm(resid, "ln_final", cfg, p, acts)
    w_u = p["embed.W_E"].T if cfg["tie_embeddings"] else p["unembed.W_U"]
    logits = resid @ w_u + (p["unembed.b_U"] if cfg["unembed_bias"] else 0.0)
    return logits, acts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("cache")
    parser.add_argument("--tol", type=float, default=1e-5)
    args = parser.parse_args()

    params, meta = read_safetensors(args.checkpoint)
    cfg = json.loads(meta["config"])
    params = {name: torch.from_numpy(t).double() for name, t in params.items()}
    cache, _ = read_safetensors(args.cache)
    cache = {name: torch.from_numpy(t) for name, t in cache.items()}
    tokens = cache.pop("tokens").long()
    mask = cache.pop("attention_mask", None)
    mask = None if mask is None else mask.long()
    logits, acts = forward(tokens, mask, cfg, params)
    acts["logits"] = logits

    failures = []
    if set(acts) != set(cache):
        failures.append(f"hook sets differ: only reference {sorted(set(acts) - set(cache))}, "
                        f"only mechlens {sorted(set(cache) - set(acts))}")
    worst = 0.0
    for name in sorted(set(acts) & set(cache)):
        ours, ref = cache[name].double(), acts[name].double()
        if tuple(ours.shape) != tuple(ref.shape):
            failures.append(f"{name}: shape {tuple(ours.shape)} vs reference {tuple(ref.shape)}")
            continue
        both_inf = torch.isinf(ours) & torch.isinf(ref) & (ours == ref)
        diff = torch.where(both_inf, torch.zeros_like(ours), (ours - ref).abs())
        max_diff = float(torch.nan_to_num(diff, nan=float("inf")).max())
        worst = max(worst, max_diff)
        if not max_diff <= args.tol:
            index = np.unravel_index(int(torch.nan_to_num(diff, nan=float("inf")).argmax()), diff.shape)
            failures.append(f"{name}: max |diff| {max_diff:.3g} > {args.tol} at {tuple(int(i) for i in index)}")
    print(f"{args.checkpoint}: compared {len(set(acts) & set(cache))} hooks, max |diff| {worst:.3g}")
    for failure in failures:
        print("  FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
