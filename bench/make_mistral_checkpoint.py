#!/usr/bin/env python3
"""Writes a random model of Mistral-7B's exact architecture as a Hugging Face directory (config.json,
model-0000k-of-0000n.safetensors shards of about 2 GB, model.safetensors.index.json), bfloat16, one
shard in memory at a time (so the full 32 layers, 14.5 GB, are written on a 24 GB machine).

Weights are normal with std 0.02 (norm weights 1), seeded; the config is Mistral-7B-v0.1's with
--layers layers. Names and layouts are transformers' MistralForCausalLM's.

usage: make_mistral_checkpoint.py DIR [--layers 32] [--seed 0]
"""
import argparse
import json
import os

import torch
from safetensors.torch import save_file

D, HEADS, KV_HEADS, D_MLP, VOCAB = 4096, 32, 8, 14336, 32000
SHARD_BYTES = 2 * 1024**3


def tensors(layers):
    """(name, shape) in the order transformers writes them."""
    head_dim = D // HEADS
    yield "model.embed_tokens.weight", (VOCAB, D)
    for l in range(layers):
        p = f"model.layers.{l}."
        yield p + "input_layernorm.weight", (D,)
        yield p + "self_attn.q_proj.weight", (HEADS * head_dim, D)
        yield p + "self_attn.k_proj.weight", (KV_HEADS * head_dim, D)
        yield p + "self_attn.v_proj.weight", (KV_HEADS * head_dim, D)
        yield p + "self_attn.o_proj.weight", (D, HEADS * head_dim)
        yield p + "post_attention_layernorm.weight", (D,)
        yield p + "mlp.gate_proj.weight", (D_MLP, D)
        yield p + "mlp.up_proj.weight", (D_MLP, D)
        yield p + "mlp.down_proj.weight", (D, D_MLP)
    yield "model.norm.weight", (D,)
    yield "lm_head.weight", (VOCAB, D)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.directory, exist_ok=True)
    config = {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": D,
              "intermediate_size": D_MLP, "num_hidden_layers": args.layers, "num_attention_heads": HEADS,
              "num_key_value_heads": KV_HEADS, "hidden_act": "silu", "max_position_embeddings": 32768,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "sliding_window": 4096, "tie_word_embeddings": False,
              "vocab_size": VOCAB, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
              "attention_dropout": 0.0, "initializer_range": 0.02, "use_cache": True}
    generator = torch.Generator().manual_seed(args.seed)
    plan, shard, size = [], [], 0
    for name, shape in tensors(args.layers):
        bytes_ = 2 * torch.Size(shape).numel()
        if shard and size + bytes_ > SHARD_BYTES:
            plan.append(shard)
            shard, size = [], 0
        shard.append((name, shape))
        size += bytes_
    plan.append(shard)
    weight_map, total = {}, 0
    for k, names in enumerate(plan):
        file = f"model-{k + 1:05d}-of-{len(plan):05d}.safetensors"
        out = {}
        for name, shape in names:
            if name.endswith("norm.weight"):
                out[name] = torch.ones(shape, dtype=torch.bfloat16)
            else:
                out[name] = torch.empty(shape, dtype=torch.bfloat16).normal_(0.0, 0.02, generator=generator)
            weight_map[name] = file
            total += 2 * out[name].numel()
        save_file(out, os.path.join(args.directory, file), metadata={"format": "pt"})
        del out
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
              open(os.path.join(args.directory, "model.safetensors.index.json"), "w"), indent=2)
    json.dump(config, open(os.path.join(args.directory, "config.json"), "w"), indent=2)
    print(f"{args.directory}: {args.layers} layers, {total / 1e9:.2f} GB in {len(plan)} shards")


if __name__ == "__main__":
    main()
