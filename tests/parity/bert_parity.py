#!/usr/bin/env python3
"""mechlens's BERT encoder against Hugging Face `transformers` itself.

1. Tiny random BertModel and BertForMaskedLM checkpoints (every parameter perturbed, saved with
   `save_pretrained`): `mechlens run` gives the last hidden state and every hook as transformers'
   forward (module outputs captured with forward hooks), on equal-length and ragged prompts.
2. The real all-MiniLM-L6-v2 weights (MECHLENS_MINILM, from scripts/setup_minilm.sh): the WordPiece
   tokenizer gives Hugging Face tokenizers' ids on texts with accents, CJK, punctuation, whitespace
   runs and unknown words; and `mechlens run --prompt ... --prepend-bos` gives every hook of the real
   model on real text as transformers does.

Usage: bert_parity.py MECHLENS WORK_DIR [--tol 1e-4]
Exit status 0 when everything matches: per hook and prompt, max |diff| <= tol × max(1, max |ref|). The
scale matters on the real model, whose MLP outputs reach |values| of about 200, where float32's
own spacing is 1.5e-5 and two correct summation orders differ by about 1e-4.
"""
import argparse
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertForMaskedLM, BertModel

TEXTS = ["Hello world", "The cat sat on the mat.", "Héllo  wörld\tnaïve café", "I can't believe it's 2024!!",
         "東京は日本の首都です", "unbelievably antidisestablishmentarianism", "emoji 🤗 and ½ × ÷ ©",
         "  leading and trailing  ", "a[MASK]b [SEP] c", "ΣΊΣΥΦΟΣ İstanbul", "tab\tnew\nline\r\nend",
         "zero\u200bwidth and\u00a0nbsp"]


def max_diff(ours, ref):
    return float((ours.double() - ref.double()).abs().max())


def hf_hooks(model, encoder_prefix=""):
    """Module outputs under mechlens hook names, filled by one forward."""
    base = model.bert if hasattr(model, "bert") else model
    captured, handles = {}, []
    n_heads = base.config.num_attention_heads

    def keep(name, split_heads=False):
        def hook(_module, _inputs, output):
            value = output[0] if isinstance(output, tuple) else output
            if split_heads:
                value = value.view(*value.shape[:-1], n_heads, -1)
            captured[name] = value.detach()
        return hook

    emb = base.embeddings
    handles.append(emb.word_embeddings.register_forward_hook(keep("hook_embed")))
    handles.append(emb.position_embeddings.register_forward_hook(keep("hook_pos_embed")))
    handles.append(emb.token_type_embeddings.register_forward_hook(keep("hook_token_type_embed")))
    handles.append(emb.LayerNorm.register_forward_hook(keep("ln_embed.hook_normalized")))
    for l, layer in enumerate(base.encoder.layer):
        b = f"blocks.{l}."
        handles.append(layer.attention.self.query.register_forward_hook(keep(b + "attn.hook_q", True)))
        handles.append(layer.attention.self.key.register_forward_hook(keep(b + "attn.hook_k", True)))
        handles.append(layer.attention.self.value.register_forward_hook(keep(b + "attn.hook_v", True)))
        handles.append(layer.attention.self.register_forward_hook(keep(b + "attn.hook_z", True)))
        handles.append(layer.attention.output.dense.register_forward_hook(keep(b + "hook_attn_out")))
        handles.append(layer.attention.output.register_forward_hook(keep(b + "hook_resid_mid")))
        handles.append(layer.intermediate.dense.register_forward_hook(keep(b + "mlp.hook_pre")))
        handles.append(layer.intermediate.register_forward_hook(keep(b + "mlp.hook_post")))
        handles.append(layer.output.dense.register_forward_hook(keep(b + "hook_mlp_out")))
        handles.append(layer.register_forward_hook(keep(b + "hook_resid_post")))
    return captured, handles


def reference(model, tokens, mask):
    captured, handles = hf_hooks(model)
    base = model.bert if hasattr(model, "bert") else model
    with torch.no_grad():
        out = base(tokens, attention_mask=mask, output_hidden_states=True, output_attentions=True)
    for handle in handles:
        handle.remove()
    refs = dict(captured)
    refs["hidden_states"] = out.last_hidden_state
    for l, attentions in enumerate(out.attentions):
        refs[f"blocks.{l}.attn.hook_pattern"] = attentions
        refs[f"blocks.{l}.hook_resid_pre"] = out.hidden_states[l]
    return refs


def run_mechlens(mechlens, directory, rows, work, label, prompt_args=None):
    """mechlens's cache (every hook) for `rows` (lists of ids), given as ids or as `prompt_args`."""
    cache_path = os.path.join(work, label + ".cache.safetensors")
    if prompt_args is None:
        prompts = os.path.join(work, label + ".txt")
        with open(prompts, "w") as f:
            for row in rows:
                f.write(" ".join(map(str, row)) + "\n")
        prompt_args = ["--tokens-file", prompts]
    subprocess.run([mechlens, "run", "--checkpoint", directory, *prompt_args, "--save-cache", cache_path],
                   check=True, stdout=subprocess.DEVNULL)
    return load_file(cache_path)


def check_all(ours, refs, rows, label, tol):
    failures, worst, worst_name, checked = [], 0.0, "", 0
    for name, ref in refs.items():
        if name not in ours:
            failures.append(f"{label}: {name} not in mechlens's cache")
            continue
        mine = ours[name]
        if ref.shape[0] == 1 and mine.shape[0] > 1:  # transformers' position embeddings are [1, pos, d]
            ref = ref.expand(mine.shape[0], *ref.shape[1:])
        for b, row in enumerate(rows):
            n = len(row)
            if name.endswith("hook_pattern"):  # [batch, head, query, key]: real queries and keys
                a, r = mine[b, :, :n, :n], ref[b, :, :n, :n]
            else:
                a, r = mine[b, :n], ref[b, :n]
            diff = max_diff(a, r)
            bound = tol * max(1.0, float(r.abs().max()))
            if diff > worst:
                worst, worst_name = diff, f"{name}, |values| up to {float(r.abs().max()):.3g}"

            if not diff <= bound:
                failures.append(f"{label}: {name} prompt {b}: max |diff| {diff:.3g} > {bound:.3g} "
                                f"({tol} × max(1, max |ref|))")
                break
        checked += 1
    print(f"{label}: {checked} hooks and the hidden states at every real token, max |diff| {worst:.2g} "
          f"({worst_name})")
    return failures


def run_and_check(mechlens, model, directory, rows, work, label, tol, prompt_args=None):
    ours = run_mechlens(mechlens, directory, rows, work, label, prompt_args)
    longest = max(len(r) for r in rows)
    tokens = torch.tensor([r + [0] * (longest - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (longest - len(r)) for r in rows])
    if not torch.equal(ours["tokens"], tokens):
        return [f"{label}: mechlens's tokens {ours['tokens'].tolist()} are not {tokens.tolist()}"]
    return check_all(ours, reference(model, tokens, mask), rows, label, tol)


def random_models(mechlens, work, tol):
    failures = []
    config = BertConfig(vocab_size=70, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=24, type_vocab_size=2, hidden_act="gelu")
    for cls in (BertModel, BertForMaskedLM):
        torch.manual_seed(0)
        model = cls._from_config(config, attn_implementation="eager").eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
        directory = os.path.join(work, cls.__name__)
        model.save_pretrained(directory)
        generator = torch.Generator().manual_seed(1)
        equal = torch.randint(0, config.vocab_size, (3, 10), generator=generator).tolist()
        ragged = [equal[0][:4], equal[1], equal[2][:7]]
        failures += run_and_check(mechlens, model, directory, equal, work, cls.__name__ + "_equal", tol)
        failures += run_and_check(mechlens, model, directory, ragged, work, cls.__name__ + "_ragged", tol)
    return failures


def real_minilm(mechlens, work, tol):
    directory = os.environ.get("MECHLENS_MINILM", "")
    if not directory or not os.path.exists(os.path.join(directory, "model.safetensors")):
        print("all-MiniLM-L6-v2: skipped (no MECHLENS_MINILM; run scripts/setup_minilm.sh)")
        return []
    from tokenizers import Tokenizer
    failures = []
    tokenizer = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    out = subprocess.run([mechlens, "tokenize", "--tokenizer", directory, "--prepend-bos", *TEXTS], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    matched = 0
    for text, line in zip(TEXTS, out):
        ours, theirs = [int(t) for t in line.split()], tokenizer.encode(text).ids
        if ours != theirs:
            failures.append(f"MiniLM tokenizer {text!r}: mechlens {ours}, Hugging Face {theirs}")
        else:
            matched += 1
    if len(out) != len(TEXTS):
        failures.append(f"MiniLM tokenizer: {len(out)} lines for {len(TEXTS)} texts")
    print(f"all-MiniLM-L6-v2 tokenizer: {matched} of {len(TEXTS)} texts as Hugging Face's tokenizers")

    model = BertModel.from_pretrained(directory, attn_implementation="eager").eval()
    sentences = ["The cat sat on the mat.", "A dog is playing in the garden!", "Paris is the capital of France."]
    rows = [tokenizer.encode(s).ids for s in sentences]
    prompt_args = ["--tokenizer", directory, "--prepend-bos"]
    for s in sentences:
        prompt_args += ["--prompt", s]
    failures += run_and_check(mechlens, model, directory, rows, work, "all-MiniLM-L6-v2", tol, prompt_args)
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mechlens")
    parser.add_argument("work")
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    torch.set_num_threads(1)
    failures = random_models(args.mechlens, args.work, args.tol)
    failures += real_minilm(args.mechlens, args.work, args.tol)
    for failure in failures:
        print("FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
