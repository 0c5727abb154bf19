#!/usr/bin/env python3
"""Does a matching model's circuit transfer to out-of-distribution tokens once they enter at the
trained tokens' scale? OOD tokens (101-199) never occur in training prompts, so their rows of W_E keep
their initial values, norm included, while the ID rows (1-99) grow several-fold. This sets every OOD
row to RATIO x the ID rows' mean norm (direction kept), or replaces them by fresh random directions at
that norm, and evaluates each edited copy with `mechlens eval` on the `ood` and `ood_decoy` splits (the
decoy split puts one more edge in distribution, so that answering "the child of the in-distribution
edge" no longer scores; docs/TASKS.md). Weights other than the OOD rows are untouched, so the ID
splits do not change.

The edit is an intervention for analysis, not training; the training-time counterpart is the config
option shared_embed_norm (docs/CONFIG.md).

usage: ood_embedding_scale.py CHECKPOINT [--ratios 0.5,0.75,1,1.5,2] [--n 2000] [--seed 3] [--csv OUT]
Needs the mechlens binary (MECHLENS, default build/src/cli/mechlens).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from matching_ood_subspace import node_ranges  # noqa: E402


def accuracy(mechlens, checkpoint, task, split, n, seed):
    options = [f"layout={task['layout']}", f"seq_len={task['seq_len']}", f"split={split}",
               "orders=" + ",".join(str(k) for k in task["orders"]), f"ranges={task.get('ranges', 'full')}"]
    command = [mechlens, "eval", checkpoint, "--task", "matching", "--n", str(n), "--seed", str(seed), "--quiet"]
    for option in options:
        command += ["--task-option", option]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"ood_embedding_scale.py: mechlens eval failed on {checkpoint}:\n{result.stderr}")
    for line in result.stdout.splitlines():
        fields = line.split()
        if fields and fields[0] == split:
            return float(fields[3])  # group, n, loss, first-token accuracy, exact match
    sys.exit(f"ood_embedding_scale.py: no '{split}' row in mechlens eval's output:\n{result.stdout}")


def ratio_list(text):
    try:
        ratios = [float(r) for r in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers")
    if not ratios or any(not r > 0 for r in ratios):
        raise argparse.ArgumentTypeError(f"'{text}': every ratio must be > 0")
    return ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--ratios", type=ratio_list, default="0.5,0.75,1,1.5,2",
                        help="OOD row norm / mean ID row norm, comma-separated")
    parser.add_argument("--n", type=int, default=2000, help="problems per split")
    parser.add_argument("--seed", type=int, default=3, help="problem seed (and the random directions')")
    parser.add_argument("--csv", help="also write the table here")
    args = parser.parse_args()
    mechlens = os.environ.get("MECHLENS", "build/src/cli/mechlens")

    if not os.path.isfile(args.checkpoint):
        sys.exit(f"ood_embedding_scale.py: {args.checkpoint}: no such checkpoint file")
    try:
        with safe_open(args.checkpoint, "np") as f:
            metadata = f.metadata() or {}
    except Exception as error:  # safetensors raises its own error types for a damaged header
        sys.exit(f"ood_embedding_scale.py: {args.checkpoint}: not a readable safetensors checkpoint ({error})")
    if "task" not in metadata or json.loads(metadata["task"]).get("task") != "matching":
        sys.exit(f"ood_embedding_scale.py: {args.checkpoint} has no matching task in its metadata ('task')")
    task = json.loads(metadata["task"])
    config = json.loads(metadata["config"])
    weights = load_file(args.checkpoint)
    embed = weights["embed.W_E"]
    id_rows, ood_rows = node_ranges(task)
    id_norm = float(np.linalg.norm(embed[id_rows], axis=1).mean())
    ood_norm = float(np.linalg.norm(embed[ood_rows], axis=1).mean())
    pos_norm = float(np.linalg.norm(weights["pos_embed.W_pos"], axis=1).mean()) if "pos_embed.W_pos" in weights else 0.0
    print(f"{args.checkpoint}: mean row norm of W_E over ID tokens {id_norm:.3f}, over OOD tokens {ood_norm:.3f} "
          f"(ratio {ood_norm / id_norm:.2f}); of W_pos {pos_norm:.3f}")
    if config.get("shared_embed_norm", False):
        print("  shared_embed_norm: every row enters at one norm already, so rescaling rows changes nothing")

    rng = np.random.default_rng(args.seed)
    variants = [("as trained", embed)]
    for ratio in args.ratios:
        edited = embed.copy()
        edited[ood_rows] *= ratio * id_norm / np.linalg.norm(embed[ood_rows], axis=1, keepdims=True)
        variants.append((f"x{ratio:g} of the ID norm", edited))
    fresh = rng.standard_normal(embed[ood_rows].shape).astype(embed.dtype)
    edited = embed.copy()
    edited[ood_rows] = fresh / np.linalg.norm(fresh, axis=1, keepdims=True) * id_norm
    variants.append(("random directions, ID norm", edited))

    rows = []
    print(f"  {'OOD rows of W_E':<28} {'ood':>7} {'ood_decoy':>10}")
    with tempfile.TemporaryDirectory() as work:
        for name, rows_of_embed in variants:
            path = os.path.join(work, "edited.safetensors")
            save_file({**weights, "embed.W_E": np.ascontiguousarray(rows_of_embed)}, path, metadata=metadata)
            ood = accuracy(mechlens, path, task, "ood", args.n, args.seed)
            decoy = accuracy(mechlens, path, task, "ood_decoy", args.n, args.seed)
            print(f"  {name:<28} {ood:>7.3f} {decoy:>10.3f}", flush=True)
            rows.append({"ood_rows": name, "ood": ood, "ood_decoy": decoy})
    if args.csv:
        with open(args.csv, "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=["ood_rows", "ood", "ood_decoy"])
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
