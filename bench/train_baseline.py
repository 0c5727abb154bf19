#!/usr/bin/env python3
"""Baseline for bench/run_train_bench.sh: the same GPT-style model (pre-LN, learned positions, GELU
MLP), the same examples, batch and AdamW settings as `mechlens train`, written as a plain PyTorch
training loop. Prints tokens/s (padded tokens, counted as mechlens counts them).

Usage: train_baseline.py DATA.h5 CONFIG.json --steps N --batch B [--lr 1e-3]
"""
import argparse
import json
import math
import time

import h5py
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h, dh = c["d_model"], c["n_heads"], c["d_head"]
        self.h, self.dh = h, dh
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=c.get("eps", 1e-5)), nn.LayerNorm(d, eps=c.get("eps", 1e-5))
        self.qkv = nn.Linear(d, 3 * h * dh)
        self.out = nn.Linear(h * dh, d)
        self.fc_in, self.fc_out = nn.Linear(d, c["d_mlp"]), nn.Linear(c["d_mlp"], d)

    def forward(self, x, mask):
        b, t, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.dh)
        z = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
        x = x + self.out(z.transpose(1, 2).reshape(b, t, self.h * self.dh))
        return x + self.fc_out(F.gelu(self.fc_in(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed = nn.Embedding(c["d_vocab"], c["d_model"])
        self.pos = nn.Embedding(c["n_ctx"], c["d_model"])
        self.blocks = nn.ModuleList(Block(c) for _ in range(c["n_layers"]))
        self.ln_final = nn.LayerNorm(c["d_model"])
        self.unembed = nn.Linear(c["d_model"], c["d_vocab"])

    def forward(self, tokens):
        t = tokens.shape[1]
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        x = self.embed(tokens) + self.pos(torch.arange(t))
        for block in self.blocks:
            x = block(x, mask)
        return self.unembed(self.ln_final(x))


def batches(path, batch):
    """Prompt + answer rows and answer-only targets, as mechlens's make_training_batch builds them."""
    with h5py.File(path, "r") as f:
        prompts, lengths = f["tokens"][:], f["lengths"][:]
        answers, answer_lengths = f["annotations/answer"][:], f["annotations/answer_length"][:, 0]
    for start in range(0, len(prompts) - batch + 1, batch):
        rows = range(start, start + batch)
        width = max(lengths[i] + answer_lengths[i] for i in rows)
        tokens = torch.zeros(batch, width, dtype=torch.long)
        targets = torch.full((batch, width), -100, dtype=torch.long)
        for r, i in enumerate(rows):
            p, a = lengths[i], answer_lengths[i]
            tokens[r, :p] = torch.from_numpy(prompts[i, :p])
            tokens[r, p : p + a] = torch.from_numpy(answers[i, :a])
            targets[r, p - 1 : p - 1 + a] = torch.from_numpy(answers[i, :a])
        yield tokens, targets


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("config")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    torch.manual_seed(0)
    model = GPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    data = list(batches(args.data, args.batch))[: args.steps]
    tokens_seen = 0
    start = time.perf_counter()
    for tokens, targets in data:
        logits = model(tokens)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        tokens_seen += tokens.numel()
    seconds = time.perf_counter() - start
    print(f"pytorch steps={len(data)} seconds={seconds:.2f} tokens_per_s={tokens_seen / seconds:.0f} loss={loss.item():.4f}")


if __name__ == "__main__":
    main()
