#!/usr/bin/env python3
"""TransformerLens-style baseline for bench/run_patch_bench.sh: a plain PyTorch GPT-style model (pre-LN,
learned positions, GELU MLP) loaded from a mechlens checkpoint, with named hook points, patched by one
full hooked forward per index from a Python loop (as TransformerLens's get_act_patch_* functions do).

Usage: patch_baseline.py WORK_DIR COMPONENT [--positions -4:] [--max-runs N]
Prints the time (scaled from the first N runs when --max-runs is smaller than the sweep) and the largest
difference from the metric values mechlens wrote to WORK_DIR/mechlens.txt.
"""
import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pylib"))
from safetensors_np import read_safetensors  # noqa: E402


class Model:
    def __init__(self, path):
        tensors, metadata = read_safetensors(path)
        self.p = {k: torch.from_numpy(v.copy()).float() for k, v in tensors.items()}
        self.c = json.loads(metadata["config"])
        assert self.c.get("norm_placement", "pre") == "pre" and self.c["normalization_type"] == "LN"
        self.hooks = {}

    def hook(self, name, x):
        fn = self.hooks.get(name)
        return fn(x) if fn else x

    def ln(self, x, prefix):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], self.p[prefix + ".w"], self.p[prefix + ".b"],
                                              self.c.get("eps", 1e-5))

    def forward(self, tokens):
        p, c = self.p, self.c
        t = tokens.shape[1]
        x = p["embed.W_E"][tokens] + p["pos_embed.W_pos"][:t]
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        for layer in range(c["n_layers"]):
            b = f"blocks.{layer}."
            x = self.hook(b + "hook_resid_pre", x)
            h = self.ln(x, b + "ln1")
            q = torch.einsum("bpd,hde->bphe", h, p[b + "attn.W_Q"]) + p[b + "attn.b_Q"]
            k = torch.einsum("bpd,hde->bphe", h, p[b + "attn.W_K"]) + p[b + "attn.b_K"]
            v = torch.einsum("bpd,hde->bphe", h, p[b + "attn.W_V"]) + p[b + "attn.b_V"]
            scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(c["d_head"])
            pattern = torch.softmax(scores.masked_fill(mask, float("-inf")), -1)
            z = self.hook(b + "attn.hook_z", torch.einsum("bhqk,bkhe->bqhe", pattern, v))
            x = x + torch.einsum("bphe,hed->bpd", z, p[b + "attn.W_O"]) + p[b + "attn.b_O"]
            h = torch.nn.functional.gelu(self.ln(x, b + "ln2") @ p[b + "mlp.W_in"] + p[b + "mlp.b_in"])
            x = x + h @ p[b + "mlp.W_out"] + p[b + "mlp.b_out"]
        return self.ln(x, "ln_final") @ p["unembed.W_U"] + p["unembed.b_U"]


def read_rows(path):
    return torch.tensor([[int(v) for v in line.split()] for line in open(path) if line.strip()])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("work")
    parser.add_argument("component", choices=["resid_pre", "head_z"])
    parser.add_argument("--positions", default="all")
    parser.add_argument("--max-runs", type=int, default=1 << 30)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.set_grad_enabled(False)
    model = Model(open(os.path.join(args.work, "checkpoint.txt")).read().strip())
    clean, corrupted = read_rows(os.path.join(args.work, "clean.txt")), read_rows(os.path.join(args.work, "corrupted.txt"))
    answers = read_rows(os.path.join(args.work, "answers.txt"))
    rows = torch.arange(clean.shape[0])

    def metric(logits):  # mean logit difference at the last position
        last = logits[:, -1]
        return (last[rows, answers[:, 0]] - last[rows, answers[:, 1]]).mean().item()

    # Clean activations to patch in (denoising: clean into the corrupted run).
    cache = {}
    names = [f"blocks.{l}.{'hook_resid_pre' if args.component == 'resid_pre' else 'attn.hook_z'}"
             for l in range(model.c["n_layers"])]
    for name in names:
        model.hooks[name] = lambda x, name=name: cache.__setitem__(name, x) or x
    model.forward(clean)
    model.hooks.clear()

    n_pos = clean.shape[1]
    positions = list(range(n_pos)) if args.positions == "all" else list(range(n_pos))[slice(int(args.positions[:-1]), None)]
    heads = [None] if args.component == "resid_pre" else list(range(model.c["n_heads"]))
    sites = [(l, pos, h) for l in range(model.c["n_layers"]) for pos in positions for h in heads]
    measured = sites[: args.max_runs]
    values = []
    start = time.perf_counter()
    for layer, pos, head in measured:
        name = names[layer]

        def patch(x, name=name, pos=pos, head=head):
            x = x.clone()
            if head is None:
                x[:, pos] = cache[name][:, pos]
            else:
                x[:, pos, head] = cache[name][:, pos, head]
            return x

        model.hooks[name] = patch
        values.append(metric(model.forward(corrupted)))
        model.hooks.clear()
    elapsed = (time.perf_counter() - start) * len(sites) / len(measured)
    ours = {}
    for line in open(os.path.join(args.work, "mechlens.txt")):
        name, _, seconds, dense_seconds, flat = line.split()
        ours[name] = (float(seconds), float(dense_seconds), [float(v) for v in flat.split(",")])
    fast_s, dense_s, fast_values = ours[args.component]
    diff = max(abs(a - b) for a, b in zip(values, fast_values))
    print(f"{args.component:<10} {len(sites):>5} patched runs: TransformerLens-style PyTorch loop {elapsed:.3f} s"
          f"{f' (from {len(measured)} runs)' if len(measured) < len(sites) else ''}; mechlens batched {fast_s:.3f} s"
          f" -> {elapsed / fast_s:.1f}x; dense batched {dense_s:.3f} s -> {elapsed / dense_s:.1f}x"
          f" (max |diff| {diff:.1e})")


if __name__ == "__main__":
    main()
