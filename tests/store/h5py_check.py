#!/usr/bin/env python3
"""Opens a record written by `mechlens record` with plain h5py (no mechlens code) and checks its
values against a cache saved by `mechlens run --save-cache` for the same prompts (to 1e-5: the two
runs batch the prompts differently), plus the schema:
dimension names, root metadata, the checkpoint hash and the storage dtype.

Usage: h5py_check.py RECORD.h5 CACHE.safetensors CHECKPOINT --dtype float32|float16
"""
import argparse
import hashlib
import json
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from safetensors_np import read_safetensors  # noqa: E402

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("record")
    parser.add_argument("cache")
    parser.add_argument("checkpoint")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    cache, cache_meta = read_safetensors(args.cache)
    failures = []

    def check(cond, message):
        if not cond:
            failures.append(message)

    with h5py.File(args.record, "r") as f:
        check(f.attrs["format"] == "mechlens-record", f"format attr {f.attrs['format']!r}")
        check(int(f.attrs["format_version"]) == 1, "format_version")
        check(int(f.attrs["complete"]) == 1, "complete flag")
        check(f.attrs["dtype"] == args.dtype, f"dtype attr {f.attrs['dtype']}")
        with open(args.checkpoint, "rb") as ck:
            check(f.attrs["checkpoint_sha256"] == hashlib.sha256(ck.read()).hexdigest(), "checkpoint_sha256")
        config = json.loads(f.attrs["model_config"])
        check(config["n_layers"] >= 1 and "d_model" in config, "model_config JSON")
        check(f.attrs["command_line"].startswith("mechlens record"), "command_line")
        tokens, lengths = f["tokens"][:], f["lengths"][:]
        check(f["tokens"].attrs["dims"] == "batch,pos", "tokens dims")
        check(np.array_equal(tokens, cache["tokens"].astype(np.int32)), "tokens differ from the run's")
        n_hooks = 0
        for name, dataset in f["acts"].items():
            n_hooks += 1
            dims = dataset.attrs["dims"].split(",")
            check(dims[0] == "batch" and len(dims) == dataset.ndim, f"{name}: dims {dims}")
            expected_dtype = np.float16 if args.dtype == "float16" else np.float32
            check(dataset.dtype == expected_dtype, f"{name}: dtype {dataset.dtype}")
            values = dataset[:].astype(np.float64)
            reference = cache[name].astype(np.float64)
            tol = 2e-3 * max(1.0, float(np.abs(reference[np.isfinite(reference)]).max())) if args.dtype == "float16" else 1e-5
            for i, length in enumerate(lengths):
                # Compare real positions only: the cache was padded to its own batch width.
                index = tuple(slice(0, length) if d in ("pos", "dest", "src") else slice(None) for d in dims[1:])
                got, want = values[i][index], reference[i][index]
                finite = np.isfinite(want)
                same = np.array_equal(np.isfinite(got), finite) and np.all(np.abs(got[finite] - want[finite]) <= tol)
                check(same, f"{name}[{i}]: max diff {np.nanmax(np.abs(got - want)[finite]) if finite.any() else 0}")
        check(n_hooks > 0, "no hooks recorded")
    print(f"{args.record}: {n_hooks} hooks checked with h5py; {len(failures)} failures")
    for failure in failures:
        print("  FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
