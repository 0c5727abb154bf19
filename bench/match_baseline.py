#!/usr/bin/env python3
"""Plain-PyTorch baseline for bench/run_match_bench.sh: the matching scores of docs/MATCHING.md computed
from the saved weights (layer 0's LayerNorm on the token embeddings, W_QK and summed W_VO products,
M(l) = X_l W_QK(l) (E W_VO(0))^T, mean row-softmax diagonal of M / sqrt(d_head)) with torch, timed, and
compared with the scores mechlens wrote. Usage: match_baseline.py WORK_DIR
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pylib"))
from safetensors_np import read_safetensors  # noqa: E402


def scores(p, c, tokens):
    e = p["embed.W_E"][tokens]
    e = torch.nn.functional.layer_norm(e, e.shape[-1:], p["blocks.0.ln1.w"], p["blocks.0.ln1.b"], c.get("eps", 1e-5))
    def vo(layer):
        b = f"blocks.{layer}.attn."
        return sum(p[b + "W_V"][h] @ p[b + "W_O"][h] for h in range(c["n_heads"]))
    vo0 = vo(0)
    keys = e @ vo0
    out = []
    for layer in range(1, c["n_layers"]):
        x = e if layer == 1 else e @ vo(layer - 1)
        b = f"blocks.{layer}.attn."
        for h in range(c["n_heads"]):
            m = (x @ (p[b + "W_Q"][h] @ p[b + "W_K"][h].T)) @ keys.T
            out.append(torch.softmax(m.double() / c["d_head"] ** 0.5, -1).diagonal().mean().item())
    return out


def main():
    work = sys.argv[1]
    tensors, metadata = read_safetensors(os.path.join(work, "model.safetensors"))
    p = {k: torch.from_numpy(v.copy()).float() for k, v in tensors.items()}
    c = json.loads(metadata["config"])
    tokens = torch.arange(1000)
    scores(p, c, tokens)  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = scores(p, c, tokens)
        times.append(time.perf_counter() - start)
    seconds = sorted(times)[1]
    ours = [float(line) for line in open(os.path.join(work, "mechlens_scores.txt"))]
    diff = max(abs(a - b) for a, b in zip(ours, result))
    mechlens = float(open(os.path.join(work, "mechlens_seconds.txt")).read())
    print(f"plain PyTorch {seconds:.3f} s (median of 3); mechlens / PyTorch time {mechlens / seconds:.2f} "
          f"(PyTorch / mechlens {seconds / mechlens:.2f}x); max |score diff| {diff:.1e}")
    assert diff < 1e-4, diff


if __name__ == "__main__":
    main()
