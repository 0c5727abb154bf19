#!/usr/bin/env python3
"""Exits 0 when two mechlens HDF5 files hold the same content bit for bit: every group, dataset
(dtype, shape, bytes) and attribute, except the attributes that describe the run rather than its
result (creation time, the command line and the options it was given).

usage: same_h5.py A.h5 B.h5
"""
import sys

import h5py
import numpy as np

RUN_ATTRIBUTES = {"created", "command_line", "options"}


def same_attributes(a, b, where, problems):
    keys_a = set(a.attrs) - RUN_ATTRIBUTES
    keys_b = set(b.attrs) - RUN_ATTRIBUTES
    if keys_a != keys_b:
        problems.append(f"{where}: attributes {sorted(keys_a ^ keys_b)} in one file only")
    for key in sorted(keys_a & keys_b):
        va, vb = a.attrs[key], b.attrs[key]
        if not np.array_equal(np.asarray(va), np.asarray(vb)):
            problems.append(f"{where}: attribute {key} differs: {va!r} vs {vb!r}")


def compare(a, b, where, problems):
    same_attributes(a, b, where, problems)
    if isinstance(a, h5py.Dataset):
        if a.dtype != b.dtype or a.shape != b.shape:
            problems.append(f"{where}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")
        elif a.dtype.kind in "OSU":
            if list(a[()].flat if a.shape else [a[()]]) != list(b[()].flat if b.shape else [b[()]]):
                problems.append(f"{where}: strings differ")
        elif a[()].tobytes() != b[()].tobytes():
            diff = np.argwhere(a[()] != b[()])
            problems.append(f"{where}: {len(diff)} values differ (first at {diff[:1].tolist()})")
        return
    if set(a) != set(b):
        problems.append(f"{where}: members {sorted(set(a) ^ set(b))} in one file only")
    for name in sorted(set(a) & set(b)):
        compare(a[name], b[name], f"{where.rstrip('/')}/{name}", problems)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    problems = []
    with h5py.File(sys.argv[1], "r") as a, h5py.File(sys.argv[2], "r") as b:
        compare(a, b, "/", problems)
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(1)
    print(f"{sys.argv[1]} and {sys.argv[2]}: same content")


if __name__ == "__main__":
    main()
