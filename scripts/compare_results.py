#!/usr/bin/env python3
"""Compares the numeric datasets of two mechlens HDF5 results (a CPU run and a GPU run of the same
command): every dataset both hold, element for element. Prints one line per dataset (largest
absolute and relative difference) and exits 1 when any exceeds the tolerances, or when a dataset
is missing from one side or differs in shape, or when an integer dataset differs at all.

usage: compare_results.py REFERENCE.h5 CANDIDATE.h5 [--rtol R] [--atol A] [--skip PREFIX ...]
"""
import argparse
import sys

import h5py
import numpy as np


def datasets(path, skip):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and not any(name.startswith(s) for s in skip):
                if obj.dtype.kind in "fiub":
                    out[name] = obj[()]
        f.visititems(visit)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference")
    parser.add_argument("candidate")
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--skip", nargs="*", default=["provenance"], help="dataset name prefixes left out")
    args = parser.parse_args()
    reference, candidate = datasets(args.reference, args.skip), datasets(args.candidate, args.skip)
    failures = 0
    for name in sorted(set(reference) | set(candidate)):
        if name not in reference or name not in candidate:
            print(f"{name}: only in {args.reference if name in reference else args.candidate}")
            failures += 1
            continue
        a, b = reference[name], candidate[name]
        if a.shape != b.shape:
            print(f"{name}: shape {a.shape} vs {b.shape}")
            failures += 1
            continue
        if a.dtype.kind != "f":
            same = np.array_equal(a, b)
            print(f"{name:60s} {'equal' if same else 'DIFFERS'} ({a.dtype})")
            failures += not same
            continue
        a, b = a.astype(np.float64), b.astype(np.float64)
        finite = np.isfinite(a) & np.isfinite(b)
        # NaN (an undefined score) and infinities must sit at the same places with the same values.
        same_nonfinite = np.array_equal(np.isfinite(a), np.isfinite(b)) and np.array_equal(
            a[~finite], b[~finite], equal_nan=True)
        diff = np.abs(a[finite] - b[finite])
        worst = float(diff.max()) if diff.size else 0.0
        relative = float((diff / np.maximum(np.abs(a[finite]), 1e-12)).max()) if diff.size else 0.0
        ok = same_nonfinite and np.allclose(b[finite], a[finite], rtol=args.rtol, atol=args.atol)
        print(f"{name:60s} max |diff| {worst:.3g}  max rel {relative:.3g}  {'ok' if ok else 'OUT OF TOLERANCE'}")
        failures += not ok
    print(f"{args.candidate} vs {args.reference}: {len(set(reference) | set(candidate)) - failures} datasets agree, "
          f"{failures} do not (rtol {args.rtol}, atol {args.atol})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
