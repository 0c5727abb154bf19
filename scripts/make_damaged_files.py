#!/usr/bin/env python3
"""Writes the seed corpus of mechlens's fuzz targets and fault tests: small valid files made by the
mechlens binary (a checkpoint, a record, a patch result, configs) and, from each, damaged and crafted
variants: truncations, seeded bit flips, and hand-made lies (safetensors byte ranges that overlap or
overflow, shapes that are not integers, JSON nested too deep or with repeated keys; HDF5 files with a
missing group, a dataset of the wrong type or shape, counts that disagree with the data).

usage: make_damaged_files.py MECHLENS_BIN OUT_DIR [--seed N]
OUT_DIR gets safetensors/, config_json/ and record/ (one folder per fuzz target). Deterministic for a
given seed and mechlens version. Needs Debian's python3-h5py and python3-numpy.
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import tempfile

import h5py
import numpy as np

TINY_CONFIG = {"n_layers": 1, "d_model": 8, "n_heads": 2, "d_head": 4, "d_mlp": 16, "n_ctx": 8, "d_vocab": 45, "seed": 1}


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def truncations_and_flips(data, rng, out, stem, extension, n_flips=6):
    """Writes the file cut at several points and with single bytes flipped (seeded)."""
    for fraction in (0.0, 0.1, 0.5, 0.9):
        cut = int(len(data) * fraction)
        write(out, f"{stem}_truncated_{cut}{extension}", data[:cut])
    for i in range(n_flips):
        flipped = bytearray(data)
        at = rng.randrange(len(flipped))
        flipped[at] ^= 1 << rng.randrange(8)
        write(out, f"{stem}_flip{i}_{at}{extension}", bytes(flipped))


def write(folder, name, data):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def safetensors_bytes(header, payload=b""):
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(text)) + text + payload


def crafted_safetensors(out):
    """Headers that lie about the data: each must be refused by name, never read past the file."""
    f32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    cases = {
        "overlap": ({"a": f32, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),
        "gap": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),
        "trailing": ({"a": f32}, bytes(16)),
        "past_end": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8000]}}, bytes(8)),
        "float_shape": ({"a": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}}, bytes(8)),
        "huge_shape": ({"a": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 8]}}, bytes(8)),
        "negative_shape": ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8)),
        "bad_dtype": ({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
        "dtype_number": ({"a": {"dtype": 3, "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
        "offsets_reversed": ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, bytes(8)),
        "metadata_not_strings": ({"__metadata__": {"config": 5}, "a": f32}, bytes(8)),
        "config_not_json": ({"__metadata__": {"config": "{"}, "a": f32}, bytes(8)),
        "config_huge": ({"__metadata__": {"config": json.dumps({"d_vocab": 10**12})}, "a": f32}, bytes(8)),
    }
    for name, (header, payload) in cases.items():
        write(out, f"crafted_{name}.safetensors", safetensors_bytes(header, payload))
    write(out, "crafted_header_length_huge.safetensors", struct.pack("<Q", 2**63) + b"{}")
    write(out, "crafted_deep.safetensors", safetensors_bytes(b"[" * 5000 + b"]" * 5000))
    write(out, "crafted_duplicate_key.safetensors", safetensors_bytes(b'{"a": 1, "a": 2}'))
    write(out, "crafted_empty.safetensors", b"")


def crafted_configs(out):
    cases = {
        "deep": "[" * 5000 + "]" * 5000,
        "duplicate": '{"n_layers": 2, "n_layers": 3}',
        "huge_layers": '{"n_layers": 10000000, "d_model": 1024}',
        "overflow": '{"d_model": 4294967296, "d_mlp": 4294967296}',
        "float_layers": '{"n_layers": 2.5}',
        "negative": '{"n_heads": -1}',
        "unknown_key": '{"n_layerz": 2}',
        "tl_partial": '{"n_layers": 2, "d_model": 8, "n_heads": 2, "d_head": 4, "d_vocab": 10, "n_ctx": 8, "act_fn": "gelu", "normalization_type": "LN", "d_mlp": null}',
        "junk": '{"n_layers": 2} trailing',
        "string_number": '{"n_layers": "2"}',
    }
    for name, text in cases.items():
        write(out, f"crafted_{name}.json", text.encode())
    write(out, "valid_tiny.json", json.dumps(TINY_CONFIG).encode())


def crafted_records(valid, out, work):
    """Valid records edited with h5py so that one thing is wrong at a time."""
    def variant(name, edit):
        path = os.path.join(work, f"{name}.h5")
        shutil.copy(valid, path)
        with h5py.File(path, "r+") as f:
            edit(f)
        with open(path, "rb") as f:
            write(out, f"crafted_{name}.h5", f.read())

    def drop(name):
        return lambda f: f.__delitem__(name)

    def set_attr(name, value):
        return lambda f: f.attrs.__setitem__(name, value)

    def replace_dataset(name, data):
        def edit(f):
            dims = f[name].attrs.get("dims")
            del f[name]
            f[name] = data
            if dims is not None:
                f[name].attrs["dims"] = dims
        return edit

    hook = "acts/blocks.0.attn.hook_pattern"
    variant("no_acts", drop("acts"))
    variant("no_tokens", drop("tokens"))
    variant("no_lengths", drop("lengths"))
    variant("no_format", lambda f: f.attrs.__delitem__("format"))
    variant("format_other", set_attr("format", "something-else"))
    variant("version_future", set_attr("format_version", 99))
    variant("complete_count_lies", set_attr("n_complete", 1000))
    variant("incomplete", set_attr("complete", 0))
    variant("tokens_strings", replace_dataset("tokens", np.array([b"a", b"b"])))
    variant("lengths_zero", replace_dataset("lengths", np.zeros(4, dtype=np.int64)))
    variant("lengths_negative", replace_dataset("lengths", -np.ones(4, dtype=np.int64)))
    variant("hook_short", replace_dataset(hook, np.zeros((2, 2, 8, 8), dtype=np.float32)))
    variant("hook_scalar", replace_dataset(hook, np.float32(1.0)))
    variant("dims_wrong_rank", lambda f: f[hook].attrs.__setitem__("dims", "batch,pos"))
    variant("vocab_numbers", replace_dataset("vocab", np.arange(45)))
    variant("format_is_number", set_attr("format", 7))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mechlens")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as work:
        config = os.path.join(work, "tiny.json")
        with open(config, "w") as f:
            json.dump(TINY_CONFIG, f)
        checkpoint = os.path.join(work, "tiny.safetensors")
        run(args.mechlens, "init", "--config", config, "--out", checkpoint)
        prompts = os.path.join(work, "prompts.txt")
        with open(prompts, "w") as f:
            f.write("1 2 3 4\n5 6 7 8\n9 10 11\n12 13 14 15\n")
        record = os.path.join(work, "record.h5")
        run(args.mechlens, "record", "--checkpoint", checkpoint, "--tokens-file", prompts, "--out", record,
            "--hooks", "blocks.0.attn.hook_pattern", "hook_embed", "--quiet")
        patch = os.path.join(work, "patch.h5")
        even = os.path.join(work, "even.txt")
        with open(even, "w") as f:
            f.write("1 2 3 4\n5 6 7 8\n")
        odd = os.path.join(work, "odd.txt")
        with open(odd, "w") as f:
            f.write("1 2 9 4\n5 6 3 8\n")
        run(args.mechlens, "patch", "--checkpoint", checkpoint, "--clean", even, "--corrupted", odd, "--out", patch,
            "--component", "head_z", "--quiet")

        out_st = os.path.join(args.out, "safetensors")
        data = open(checkpoint, "rb").read()
        write(out_st, "valid_tiny.safetensors", data)
        truncations_and_flips(data, rng, out_st, "tiny", ".safetensors")
        crafted_safetensors(out_st)

        crafted_configs(os.path.join(args.out, "config_json"))

        out_h5 = os.path.join(args.out, "record")
        for stem, path in (("record", record), ("patch", patch)):
            data = open(path, "rb").read()
            write(out_h5, f"valid_{stem}.h5", data)
            truncations_and_flips(data, rng, out_h5, stem, ".h5", n_flips=4)
        # The record needs a vocabulary to damage: the tiny model has none, so add one.
        with h5py.File(record, "r+") as f:
            f.create_dataset("vocab", data=np.array([f"t{i}" for i in range(45)], dtype=h5py.string_dtype()))
        crafted_records(record, out_h5, work)


if __name__ == "__main__":
    main()
