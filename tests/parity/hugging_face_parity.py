#!/usr/bin/env python3
"""mechlens against Hugging Face `transformers` itself, on random-weight checkpoints it writes.

For each architecture (GPT-2, Llama with grouped-query attention, Llama with attention biases and tied
embeddings, Mistral with a sliding window), builds a tiny random model with `transformers`, perturbs
every parameter (so that norm weights and biases are not 1 and 0), saves it with `save_pretrained`
(safetensors, or torch.save's pytorch_model.bin for two; sharded for some variants, so the index is
read), and checks that `mechlens run` on
the directory gives
  - the logits of the Hugging Face forward, and
  - blocks.L.hook_resid_pre equal to Hugging Face's hidden_states[L] (the residual stream entering
    each block),
within --tol (float32 on both sides). It also checks the errors of a damaged directory: a shard that
the index does not describe, and a model type mechlens does not import.

Usage: hugging_face_parity.py MECHLENS WORK_DIR [--tol 1e-4]
Exit status 0 when every variant matches.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import torch
from safetensors.torch import load_file
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM)

VARIANTS = {
    "gpt2": (GPT2LMHeadModel, GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=24, vocab_size=50,
                                         activation_function="gelu_new"), None),
    "gpt2_sharded": (GPT2LMHeadModel, GPT2Config(n_layer=3, n_embd=32, n_head=2, n_positions=24, vocab_size=50,
                                                 n_inner=48, activation_function="gelu"), "20KB"),
    "llama_gqa": (LlamaForCausalLM, LlamaConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                                                num_key_value_heads=2, intermediate_size=48, vocab_size=60,
                                                max_position_embeddings=32, rope_theta=500.0), None),
    "llama_bias_tied": (LlamaForCausalLM, LlamaConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                                                      intermediate_size=40, vocab_size=60, max_position_embeddings=32,
                                                      attention_bias=True, tie_word_embeddings=True), "16KB"),
    "mistral_window": (MistralForCausalLM, MistralConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                                                         num_key_value_heads=1, intermediate_size=48, vocab_size=60,
                                                         max_position_embeddings=64, sliding_window=16), None),
    # The same importers on torch.save weights (pytorch_model.bin; sharded with its index): older checkpoints.
    "gpt2_bin": (GPT2LMHeadModel, GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=24, vocab_size=50,
                                             activation_function="gelu_new"), None),
    "llama_gqa_bin_sharded": (LlamaForCausalLM, LlamaConfig(num_hidden_layers=2, hidden_size=32, num_attention_heads=4,
                                                            num_key_value_heads=2, intermediate_size=48,
                                                            vocab_size=60, max_position_embeddings=32), "16KB"),
}


def max_diff(ours, ref):
    return float((ours.double() - ref.double()).abs().max())


def build(name, work):
    cls, config, shard = VARIANTS[name]
    torch.manual_seed(0)
    model = cls(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    directory = os.path.join(work, name)
    kwargs = {"safe_serialization": not name.endswith(("_bin", "_bin_sharded"))}
    if shard:
        kwargs["max_shard_size"] = shard
    model.save_pretrained(directory, **kwargs)
    return model, directory


def check(mechlens, name, work, tol):
    model, directory = build(name, work)
    sharded = os.path.exists(os.path.join(directory, "model.safetensors.index.json"))
    n_ctx = min(model.config.max_position_embeddings if hasattr(model.config, "max_position_embeddings")
                else model.config.n_positions, getattr(model.config, "sliding_window", None) or 10**9)
    generator = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, model.config.vocab_size, (3, min(12, n_ctx)), generator=generator)
    prompts = os.path.join(work, name + ".txt")
    with open(prompts, "w") as f:
        for row in tokens.tolist():
            f.write(" ".join(map(str, row)) + "\n")
    cache_path = os.path.join(work, name + ".cache.safetensors")
    subprocess.run([mechlens, "run", "--checkpoint", directory, "--tokens-file", prompts, "--cache",
                    "blocks.*.hook_resid_pre", "--save-cache", cache_path], check=True, stdout=subprocess.DEVNULL)
    ours = load_file(cache_path)
    with torch.no_grad():
        out = model(tokens, output_hidden_states=True)
    failures, worst = [], 0.0
    pairs = [("logits", out.logits)]
    pairs += [(f"blocks.{l}.hook_resid_pre", out.hidden_states[l]) for l in range(len(out.hidden_states) - 1)]
    for hook, reference in pairs:
        if hook not in ours:
            failures.append(f"{hook}: not in mechlens's cache")
            continue
        diff = max_diff(ours[hook], reference)
        worst = max(worst, diff)
        if not diff <= tol:
            failures.append(f"{hook}: max |diff| {diff:.3g} > {tol}")
    # n_ctx as mechlens reads it: Mistral's window bounds the accepted length.
    info = json.loads(subprocess.run([mechlens, "info", directory, "--format", "json"], check=True,
                                     capture_output=True, text=True).stdout)
    if info["config"]["n_ctx"] != n_ctx:
        failures.append(f"n_ctx {info['config']['n_ctx']}, expected {n_ctx}")
    print(f"{name}{' (sharded)' if sharded else ''}: logits and {len(pairs) - 1} resid_pre hooks, "
          f"max |diff| {worst:.2g}")
    return failures, directory


def expect_error(mechlens, directory, needle, label):
    run = subprocess.run([mechlens, "info", directory], capture_output=True, text=True)
    if run.returncode == 0 or needle not in run.stderr:
        return [f"{label}: expected a failure mentioning {needle!r}, got exit {run.returncode}: {run.stderr.strip()}"]
    print(f"{label}: refused ({run.stderr.strip().splitlines()[0][:150]})")
    return []


def check_errors(mechlens, sharded_dir, work):
    failures = []
    # The index names a tensor the shard does not hold.
    broken = os.path.join(work, "broken_index")
    shutil.copytree(sharded_dir, broken)
    index_path = os.path.join(broken, "model.safetensors.index.json")
    index = json.load(open(index_path))
    index["weight_map"]["transformer.h.0.ln_1.extra"] = next(iter(index["weight_map"].values()))
    json.dump(index, open(index_path, "w"))
    failures += expect_error(mechlens, broken, "does not hold it", "index naming a missing tensor")
    # A shard is missing.
    missing = os.path.join(work, "missing_shard")
    shutil.copytree(sharded_dir, missing)
    os.remove(os.path.join(missing, sorted(f for f in os.listdir(missing) if f.endswith(".safetensors"))[0]))
    failures += expect_error(mechlens, missing, "no such file", "missing shard")
    # A model type mechlens does not import.
    other = os.path.join(work, "other_type")
    shutil.copytree(sharded_dir, other)
    config = json.load(open(os.path.join(other, "config.json")))
    config["model_type"] = "t5"
    json.dump(config, open(os.path.join(other, "config.json"), "w"))
    failures += expect_error(mechlens, other, "'model_type' is 't5'", "unsupported model type")
    # A config that is not JSON, and one that lacks a field.
    for label, text, needle in [("config not JSON", "{", "config.json: not valid JSON"),
                                ("config missing a field", None, "field 'n_layer' is missing, expected an integer")]:
        damaged = os.path.join(work, label.replace(" ", "_"))
        shutil.copytree(sharded_dir, damaged)
        path = os.path.join(damaged, "config.json")
        if text is None:
            config = json.load(open(path))
            del config["n_layer"]
            text = json.dumps(config)
        open(path, "w").write(text)
        failures += expect_error(mechlens, damaged, needle, label)
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mechlens")
    parser.add_argument("work")
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(1)
    failures, dirs = [], {}
    for name in VARIANTS:
        found, dirs[name] = check(args.mechlens, name, args.work, args.tol)
        failures += [f"{name}: {f}" for f in found]
    failures += check_errors(args.mechlens, dirs["gpt2_sharded"], args.work)
    for failure in failures:
        print("FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
