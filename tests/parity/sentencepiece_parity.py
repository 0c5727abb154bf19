#!/usr/bin/env python3
"""mechlens's reading of SentencePiece's own tokenizer.model against the sentencepiece library (PyPI).

No real Llama/Mistral tokenizer.model can be had here, so BPE models are trained with sentencepiece
itself on a fixed corpus: one set up as Llama's and Mistral's are (identity normaliser, extra spaces
kept, dummy prefix, byte fallback) and one with SentencePiece's defaults for whitespace (extra spaces
removed) and no byte fallback (unknown characters are <unk>). For texts with accents, CJK, emoji,
whitespace runs, tabs, newlines and digits, `mechlens tokenize` must give sentencepiece's ids (and with
--prepend-bos, its BOS first) and decode them back; a unigram model and a truncated file are refused
with the file named.

Usage: sentencepiece_parity.py MECHLENS WORK_DIR
"""
import os
import subprocess
import sys

import sentencepiece as spm

TEXTS = ["Hello world", "The cat sat on the mat.", "  leading and trailing  ", "many     spaces here",
         "tab\there and new\nline", "digits 1234567 and 3.14", "Héllo wörld, naïve café", "東京は日本の首都です",
         "emoji 🤗 and ½", "unbelievably antidisestablishmentarianism", "Rules: A or B implies C. Facts: A is true."]
CORPUS = ["the cat sat on the mat", "a dog is playing in the garden", "paris is the capital of france",
          "rules: a or b implies c. facts: a is true. question: what is c?", "hello world, hello there",
          "numbers like 12 and 345 and 6789", "the quick brown fox jumps over the lazy dog",
          "Héllo wörld café naïve", "unbelievable establishment of the antidisestablishment movement"]


def train(work, name, **options):
    corpus = os.path.join(work, "corpus.txt")
    with open(corpus, "w") as f:
        for i in range(60):
            for line in CORPUS:
                f.write(f"{line} {i}\n")
    directory = os.path.join(work, name)
    os.makedirs(directory, exist_ok=True)
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(directory, "tokenizer"),
                                   vocab_size=options.pop("vocab_size", 400), minloglevel=2, **options)
    return directory


def tokenize(mechlens, directory, *args):
    run = subprocess.run([mechlens, "tokenize", "--tokenizer", directory, *args], capture_output=True, text=True)
    return run


def main():
    mechlens, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    failures = []
    models = {
        "llama_like": dict(model_type="bpe", normalization_rule_name="identity", remove_extra_whitespaces=False,
                           add_dummy_prefix=True, byte_fallback=True, split_digits=True, vocab_size=420),
        "defaults_unk": dict(model_type="bpe", normalization_rule_name="identity", byte_fallback=False,
                             character_coverage=0.98),
    }
    for name, options in models.items():
        directory = train(work, name, **options)
        sp = spm.SentencePieceProcessor(model_file=os.path.join(directory, "tokenizer.model"))
        out = tokenize(mechlens, directory, *TEXTS)
        if out.returncode != 0:
            failures.append(f"{name}: mechlens tokenize failed: {out.stderr.strip()}")
            continue
        lines = out.stdout.splitlines()
        matched = 0
        for text, line in zip(TEXTS, lines):
            ours, theirs = [int(t) for t in line.split()], sp.encode(text)
            if ours != theirs:
                failures.append(f"{name} {text!r}: mechlens {ours}, sentencepiece {theirs}")
                continue
            matched += 1
            if options.get("byte_fallback") and options.get("remove_extra_whitespaces") is False:
                decoded = tokenize(mechlens, directory, "--decode", line).stdout
                if decoded != text + "\n":
                    failures.append(f"{name} {text!r}: decodes to {decoded!r}")
        run = tokenize(mechlens, directory, "--prepend-bos", TEXTS[0])
        with_bos = run.stdout.split()
        if [int(t) for t in with_bos] != [sp.bos_id()] + sp.encode(TEXTS[0]):
            failures.append(f"{name}: --prepend-bos gives {with_bos}, expected BOS {sp.bos_id()} first "
                            f"(exit {run.returncode}, stderr {run.stderr.strip()!r})")
        print(f"{name}: {matched} of {len(TEXTS)} texts as sentencepiece")
    # What is not reproduced, and damaged files, are refused naming the file.
    unigram = train(work, "unigram", model_type="unigram", vocab_size=80)
    run = tokenize(mechlens, unigram, "hello")
    if run.returncode == 0 or "UNIGRAM" not in run.stderr or "tokenizer.model" not in run.stderr:
        failures.append(f"unigram model: expected a refusal naming UNIGRAM, got {run.returncode}: {run.stderr}")
    truncated = os.path.join(work, "truncated")
    os.makedirs(truncated, exist_ok=True)
    data = open(os.path.join(work, "llama_like", "tokenizer.model"), "rb").read()
    open(os.path.join(truncated, "tokenizer.model"), "wb").write(data[: len(data) // 2])
    run = tokenize(mechlens, truncated, "hello")
    if run.returncode == 0 or "tokenizer.model" not in run.stderr:
        failures.append(f"truncated model: expected an error naming the file, got {run.returncode}: {run.stderr}")
    for failure in failures:
        print("FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
