#!/usr/bin/env python3
"""Writes the benchmark's checkpoint when missing, and times Hugging Face `transformers` (PyPI torch)
on it the way load_bench times mechlens: from_pretrained wall time and peak RSS, forward tokens/s.

A random model of Mistral-7B's layer shapes (d_model 4096, 32 heads, 8 key-value heads, d_mlp 14336,
vocabulary 32000) with --layers layers, stored in bfloat16, sharded at 2 GB (make_mistral_checkpoint.py).

usage: load_baseline.py DIR make --layers L
       load_baseline.py DIR time bf16|f32 --tokens N --repeats R   (prints one JSON line)
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch


def make(directory, layers):
    if os.path.exists(os.path.join(directory, "config.json")):
        return
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(here, "make_mistral_checkpoint.py"), directory,
                    "--layers", str(layers)], check=True)


def timing(directory, dtype, tokens, repeats):
    from transformers import MistralForCausalLM
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    start = time.perf_counter()
    model = MistralForCausalLM.from_pretrained(directory, torch_dtype=torch_dtype).eval()
    load_s = time.perf_counter() - start
    load_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ids = torch.randint(0, model.config.vocab_size, (1, tokens), generator=torch.Generator().manual_seed(0))
    best = float("inf")
    with torch.no_grad():
        model(ids[:, :8])
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(ids)
            best = min(best, time.perf_counter() - t0)
    size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))
    print(json.dumps({"tool": "transformers", "dtype": dtype, "file_gb": round(size / 1e9, 3),
                      "load_s": round(load_s, 2), "load_peak_rss_gb": round(load_rss / 1e9, 3),
                      "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 3),
                      "tokens": tokens, "forward_s": round(best, 3), "tokens_per_s": round(tokens / best, 1)}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("action", choices=["make", "time"])
    parser.add_argument("dtype", nargs="?", default="bf16")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.action == "make":
        make(args.directory, args.layers)
    else:
        timing(args.directory, args.dtype, args.tokens, args.repeats)


if __name__ == "__main__":
    sys.exit(main())
