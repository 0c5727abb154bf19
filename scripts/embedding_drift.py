#!/usr/bin/env python3
"""How far a trained matching model's token embeddings moved from their initial values, for the
in-distribution tokens (1-99) and the out-of-distribution ones (101-199), and how much of each
OOD embedding lies in the span of the ID embeddings. Out-of-distribution tokens never occur in
training prompts, so their rows of W_E keep their initial values (less AdamW's weight decay);
if the ID rows were reshaped by training, a matching circuit tuned to them need not transfer.

The initial weights are rebuilt by `mechlens init` from the checkpoint's own config and seed, so
this needs the mechlens binary (MECHLENS, default build/src/cli/mechlens).

usage: embedding_drift.py CHECKPOINT [CHECKPOINT ...]
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

ID_TOKENS = np.arange(1, 100)
OOD_TOKENS = np.arange(101, 200)


def initial_embeddings(checkpoint, workdir):
    with safe_open(checkpoint, "np") as f:
        config = json.loads(f.metadata()["config"])
    config_path = os.path.join(workdir, "config.json")
    init_path = os.path.join(workdir, "init.safetensors")
    with open(config_path, "w") as out:
        json.dump(config, out)
    mechlens = os.environ.get("MECHLENS", "build/src/cli/mechlens")
    subprocess.run([mechlens, "init", "--config", config_path, "--out", init_path, "--force"], check=True,
                   stdout=subprocess.DEVNULL)
    return load_file(init_path)["embed.W_E"]


def drift(trained, initial, tokens):
    """Mean relative change ||e - e0|| / ||e0||, mean cosine(e, e0) and mean norm ratio ||e|| / ||e0||."""
    e, e0 = trained[tokens], initial[tokens]
    change = np.linalg.norm(e - e0, axis=1) / np.linalg.norm(e0, axis=1)
    cosine = (e * e0).sum(1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(e0, axis=1))
    ratio = np.linalg.norm(e, axis=1) / np.linalg.norm(e0, axis=1)
    return change.mean(), cosine.mean(), ratio.mean()


def share_in_span(vectors, basis_rows):
    """Mean share of each vector's squared norm inside the row span of `basis_rows`."""
    q, _ = np.linalg.qr(basis_rows.T)  # [d_model, rank]
    inside = np.linalg.norm(vectors @ q, axis=1) ** 2
    return (inside / np.linalg.norm(vectors, axis=1) ** 2).mean()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print("checkpoint | tokens | |e-e0|/|e0| | cos(e, e0) | |e|/|e0|")
    for checkpoint in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as workdir:
            initial = initial_embeddings(checkpoint, workdir)
        trained = load_file(checkpoint)["embed.W_E"]
        name = os.path.basename(checkpoint)
        for label, tokens in (("ID 1-99", ID_TOKENS), ("OOD 101-199", OOD_TOKENS)):
            change, cosine, ratio = drift(trained, initial, tokens)
            print(f"{name} | {label} | {change:.3f} | {cosine:.3f} | {ratio:.3f}")
        d_model = trained.shape[1]
        print(f"{name}: share of an OOD embedding inside the ID embeddings' span: "
              f"{share_in_span(trained[OOD_TOKENS], trained[ID_TOKENS]):.3f} "
              f"(a random direction: {min(len(ID_TOKENS), d_model) / d_model:.3f})")


if __name__ == "__main__":
    main()
