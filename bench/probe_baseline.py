#!/usr/bin/env python3
"""Plain-PyTorch baseline for bench/run_probe_bench.sh: the same probe as analyses/heads/probes.h
(features standardised on the training rows, multinomial logistic regression with L2 weight decay 1e-3,
full-batch L-BFGS, 100 iterations, strong Wolfe line search) written directly with torch.optim.LBFGS,
on the features mechlens saved; prints each size's time, the ratio and both held-out accuracies.
Usage: probe_baseline.py WORK_DIR MECHLENS_JSON_LINES
"""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "pylib"))
from safetensors_np import read_safetensors  # noqa: E402


def fit(x, y, train, test, classes, weight_decay=1e-3, iterations=100):
    x_train, y_train = x[train], y[train]
    mean, scale = x_train.mean(0), x_train.std(0, unbiased=False).clamp_min(1e-6)
    z = (x_train - mean) / scale
    weight = torch.zeros(classes, x.shape[1], requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=iterations, tolerance_grad=1e-6,
                                  tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(z @ weight.t() + bias, y_train) + \
            0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = (((x[test] - mean) / scale) @ weight.t() + bias).argmax(1)
    return float((predicted == y[test]).float().mean())


def main():
    work, ours_path = sys.argv[1], sys.argv[2]
    ours = [json.loads(line) for line in open(ours_path) if line.startswith("{")]
    print(f"linear probe training (2,000 prompts, 26 classes, L-BFGS 100 iterations; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    print("| d | plain PyTorch s | mechlens s | ratio | accuracy (PyTorch / mechlens) |")
    print("|---|---|---|---|---|")
    for entry in ours:
        tensors, _ = read_safetensors(os.path.join(work, f"probe_{entry['d']}.safetensors"))
        x = torch.from_numpy(np.ascontiguousarray(tensors["features"]))
        y = torch.from_numpy(np.ascontiguousarray(tensors["labels"]))
        train = torch.from_numpy(np.ascontiguousarray(tensors["train"]))
        test = torch.from_numpy(np.ascontiguousarray(tensors["test"]))
        fit(x, y, train, test, entry["classes"])  # warm-up
        times, accuracy = [], 0.0
        for _ in range(5):
            start = time.perf_counter()
            accuracy = fit(x, y, train, test, entry["classes"])
            times.append(time.perf_counter() - start)
        baseline = sorted(times)[len(times) // 2]
        print(f"| {entry['d']} | {baseline:.3f} | {entry['seconds']:.3f} | {baseline / entry['seconds']:.2f}x | "
              f"{accuracy:.3f} / {entry['test_accuracy']:.3f} |")


if __name__ == "__main__":
    main()
