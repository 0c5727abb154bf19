#!/usr/bin/env python3
"""Writes the seed corpus of mechlens's fuzz targets and fault tests: small valid files made by the
mechlens binary (a checkpoint, a record, a patch result, configs) and, from each, damaged and crafted
variants: truncations, seeded bit flips, and hand-made lies (safetensors byte ranges that overlap or
overflow, shapes that are not integers, JSON nested too deep or with repeated keys; HDF5 files with a
missing group, a dataset of the wrong type or shape, counts that disagree with the data).

torch.save state dicts (torch_save/) are written by Debian's python3-torch (valid ones) and by hand
(zip entries and pickle opcodes that lie: globals that are no part of a state dict, storages that are
missing or short, views past a storage's end).

usage: make_damaged_files.py MECHLENS_BIN OUT_DIR [--seed N] [--targets NAME...]
OUT_DIR gets safetensors/, config_json/, record/ and torch_save/ (one folder per fuzz target).
Deterministic for a given seed and mechlens version. Needs Debian's python3-h5py, python3-numpy and
python3-torch.
"""
import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import tempfile
import zipfile

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


def pickle_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def pickle_string(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def pickle_int(value):
    return b"J" + struct.pack("<i", value) if -2**31 <= value < 2**31 else b"\x8a\x08" + struct.pack("<q", value)


def pickle_tuple(*parts):
    return b"(" + b"".join(parts) + b"t"


def pickle_tensor(storage_class, key, numel, offset, size, stride):
    """A _rebuild_tensor_v2 call on storage `key`, as torch.save writes it (protocol 2)."""
    storage = pickle_tuple(pickle_string("storage"), pickle_global("torch", storage_class), pickle_string(key),
                           pickle_string("cpu"), pickle_int(numel)) + b"Q"
    hooks = pickle_global("collections", "OrderedDict") + b")R"
    return (pickle_global("torch._utils", "_rebuild_tensor_v2") +
            pickle_tuple(storage, pickle_int(offset), pickle_tuple(*map(pickle_int, size)),
                         pickle_tuple(*map(pickle_int, stride)), b"\x89", hooks) + b"R")


def pickle_state_dict(entries):
    items = b"".join(pickle_string(name) + value for name, value in entries)
    return b"\x80\x02" + pickle_global("collections", "OrderedDict") + b")R(" + items + b"u."


def torch_save_zip(records):
    """A zip laid out as torch.save's (archive/version, archive/data.pkl, archive/data/KEY)."""
    with tempfile.TemporaryFile() as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, data in {"version": b"3\n", **records}.items():
                archive.writestr(zipfile.ZipInfo("archive/" + name, date_time=(2020, 1, 1, 0, 0, 0)), data)
        f.seek(0)
        return f.read()


def torch_save_files(out, rng):
    """Valid state dicts from torch itself, their damaged copies, and hand-made archives that lie."""
    import torch  # Debian's python3-torch; only this target needs it
    base = torch.arange(12, dtype=torch.float32)
    state = {"a": base[:6].view(2, 3), "t": base[:6].view(2, 3).t(), "tail": base[8:11],
             "b": (base[:4] * 0.5).to(torch.bfloat16), "h": (base[:4] * 0.25).to(torch.float16),
             "mask": torch.tril(torch.ones(3, 3, dtype=torch.bool)), "n": torch.arange(3, dtype=torch.int64)}
    for protocol in (2, 4):
        with tempfile.TemporaryFile() as f:
            torch.save(state, f, pickle_protocol=protocol)
            f.seek(0)
            data = f.read()
        write(out, f"valid_protocol{protocol}.pt", data)
        if protocol == 2:
            truncations_and_flips(data, rng, out, "tiny", ".pt")

    class Reduces:  # pickled by reference to os.system: a reader that runs pickles would call it
        def __reduce__(self):
            return (os.system, ("true",))

    with tempfile.TemporaryFile() as f:
        torch.save({"weights": Reduces()}, f)
        f.seek(0)
        write(out, "crafted_global_system.pt", f.read())
    with tempfile.TemporaryFile() as f:
        torch.save([torch.zeros(2)], f)
        f.seek(0)
        write(out, "crafted_list_not_dict.pt", f.read())

    floats = struct.pack("<8f", *range(8))
    cases = {
        "missing_storage": {"data.pkl": pickle_state_dict([("w", pickle_tensor("FloatStorage", "7", 8, 0, [8], [1]))]),
                            "data/0": floats},
        "storage_short": {"data.pkl": pickle_state_dict([("w", pickle_tensor("FloatStorage", "0", 1000, 0, [8], [1]))]),
                          "data/0": floats},
        "view_past_end": {"data.pkl": pickle_state_dict([("w", pickle_tensor("FloatStorage", "0", 8, 5, [10], [1]))]),
                          "data/0": floats},
        "stride_overflow": {"data.pkl": pickle_state_dict(
            [("w", pickle_tensor("FloatStorage", "0", 8, 0, [3, 3], [2**62, 1]))]), "data/0": floats},
        "numel_huge": {"data.pkl": pickle_state_dict([("w", pickle_tensor("FloatStorage", "0", 2**62, 0, [8], [1]))]),
                       "data/0": floats},
        "storage_untyped": {"data.pkl": pickle_state_dict(
            [("w", pickle_tensor("UntypedStorage", "0", 32, 0, [8], [1]))]), "data/0": floats},
        "memo_unset": {"data.pkl": b"\x80\x02h\x05."},
        "stack_underflow": {"data.pkl": b"\x80\x02u."},
        "no_stop": {"data.pkl": pickle_state_dict([])[:-1]},
        "unknown_opcode": {"data.pkl": b"\x80\x02\xff."},
        "key_not_string": {"data.pkl": b"\x80\x02}(K\x01K\x02u."},
        "no_pickle": {"data/0": floats},
        "big_endian": {"byteorder": b"big", "data.pkl": pickle_state_dict([]), "data/0": floats},
    }
    for name, records in cases.items():
        write(out, f"crafted_{name}.pt", torch_save_zip(records))
    write(out, "crafted_not_zip.pt", b"PK\x03\x04 but no zip follows")


def varint(value):
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def proto_field(number, wire, payload):
    """One protobuf field: varint (wire 0), fixed32 (5) or length-delimited (2) payload bytes."""
    if wire == 2:
        payload = varint(len(payload)) + payload
    return varint(number << 3 | wire) + payload


def sentencepiece_model(pieces, model_type=2, byte_fallback=True, unk_id=0, extra=b""):
    """A ModelProto (sentencepiece_model.proto field numbers): pieces (piece, score, type), a trainer
    spec and an identity normalizer spec with the dummy prefix."""
    body = b""
    for piece, score, kind in pieces:
        body += proto_field(1, 2, proto_field(1, 2, piece.encode()) + proto_field(2, 5, struct.pack("<f", score)) +
                            proto_field(3, 0, varint(kind)))
    trainer = proto_field(3, 0, varint(model_type)) + proto_field(35, 0, varint(int(byte_fallback))) + \
        proto_field(40, 0, varint(unk_id)) + proto_field(41, 0, varint(1)) + proto_field(42, 0, varint(2))
    normalizer = proto_field(1, 2, b"identity") + proto_field(3, 0, varint(1)) + proto_field(4, 0, varint(0))
    return body + proto_field(2, 2, trainer) + proto_field(3, 2, normalizer) + extra


def sentencepiece_files(out, rng):
    """A small valid BPE tokenizer.model (byte pieces, merges), cut and flipped, and crafted ones."""
    pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    pieces += [(f"<0x{b:02X}>", 0.0, 6) for b in range(256)]
    words = ["\u2581", "h", "e", "l", "o", "w", "r", "d", "\u2581h", "el", "\u2581hel", "lo", "\u2581hello",
             "\u2581w", "or", "\u2581wor", "ld", "\u2581world"]
    pieces += [(w, -float(i), 1) for i, w in enumerate(words)]
    valid = sentencepiece_model(pieces)
    write(out, "valid_bpe.model", valid)
    truncations_and_flips(valid, rng, out, "bpe", ".model")
    cases = {
        "unigram": sentencepiece_model(pieces, model_type=1),
        "unk_out_of_range": sentencepiece_model(pieces, unk_id=10**6),
        "negative_unk": sentencepiece_model(pieces, unk_id=-5),
        "no_pieces": proto_field(2, 2, proto_field(3, 0, varint(2))),
        "piece_length_beyond_file": proto_field(1, 2, b"") + varint(1 << 3 | 2) + varint(10**9) + b"abc",
        "score_as_varint": proto_field(1, 2, proto_field(2, 0, varint(7))),
        "tag_zero": b"\x00\x00\x00",
        "user_defined": sentencepiece_model(pieces + [("[X]", 0.0, 4)]),
        "group_wire_type": varint(1 << 3 | 3) + b"\x00",
    }
    for name, data in cases.items():
        write(out, f"crafted_{name}.model", data)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mechlens")
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", nargs="+",
                        default=["safetensors", "config_json", "record", "torch_save", "sentencepiece_model"])
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if "torch_save" in args.targets:
        torch_save_files(os.path.join(args.out, "torch_save"), random.Random(args.seed))
    if "sentencepiece_model" in args.targets:
        sentencepiece_files(os.path.join(args.out, "sentencepiece_model"), random.Random(args.seed))
    if set(args.targets) <= {"torch_save", "sentencepiece_model"}:
        return
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
