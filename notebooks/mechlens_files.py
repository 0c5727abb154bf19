"""Read any file mechlens writes (a record or an analysis result) with h5py and numpy only.

    from mechlens_files import open_file
    with open_file("patching.h5") as f:
        scores = f.array("/results/head_z/normalised")   # Labelled: values, dims, labels
        scores.values.shape, scores.dims, scores.labels["pos"]
        f.tokens(0)                                       # prompt 0 as token strings

Dimension names come from each dataset's "dims" attribute, labels from the sibling datasets
"label_<dim>" (and "label_<dim>_role"), token strings from "/vocab" (ids where a file has none).
"""
from dataclasses import dataclass, field

import h5py
import numpy as np


@dataclass
class Labelled:
    """A dataset's values with the name of each dimension and, where the file has them, labels."""
    values: np.ndarray
    dims: tuple
    labels: dict = field(default_factory=dict)  # dim -> list of labels (numbers or strings)

    def label(self, dim, index):
        """The label of index `index` along `dim` ("34 query"), or the index itself."""
        labels = self.labels.get(dim)
        text = str(labels[index]) if labels is not None else str(index)
        roles = self.labels.get(dim + "_role")
        return f"{text} {roles[index]}" if roles is not None and roles[index] else text


class MechlensFile:
    def __init__(self, path):
        self.path = str(path)
        self.h5 = h5py.File(self.path, "r")
        self.format = _text(self.h5.attrs.get("format", ""))
        if not self.format.startswith("mechlens-"):
            raise ValueError(f"{self.path}: root attribute 'format' is {self.format!r}; not a mechlens file")
        self.version = int(self.h5.attrs["format_version"])
        self.attrs = {k: _text(v) for k, v in self.h5.attrs.items()}
        self.vocab = list(self.h5["vocab"].asstr()[:]) if "vocab" in self.h5 else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.h5.close()

    def datasets(self):
        """Every dataset path in the file."""
        names = []
        self.h5.visititems(lambda name, obj: names.append("/" + name) if isinstance(obj, h5py.Dataset) else None)
        return names

    def array(self, path):
        """A numeric dataset as Labelled."""
        dataset = self.h5[path]
        if dataset.dtype.kind not in "iuf":
            raise ValueError(f"{self.path}: {path} holds {dataset.dtype}, not numbers (use .strings)")
        dims = tuple(_text(dataset.attrs["dims"]).split(",")) if "dims" in dataset.attrs else ()
        labels = {}
        parent = dataset.parent
        for dim in dims:
            for suffix in ("", "_role"):
                name = f"label_{dim}{suffix}"
                if name in parent:
                    entry = parent[name]
                    labels[dim + suffix] = list(entry.asstr()[:]) if entry.dtype.kind == "O" else entry[:].tolist()
        return Labelled(dataset[()], dims, labels)

    def strings(self, path):
        return list(self.h5[path].asstr()[:])

    def decode(self, ids):
        """Token ids as strings (the file's vocabulary, else the ids)."""
        return [self.vocab[i] if self.vocab is not None and 0 <= i < len(self.vocab) else str(i) for i in ids]

    def tokens(self, index, which="clean"):
        """Prompt `index` as token strings: a record's /tokens (its own length), or a patching file's
        clean or corrupted prompt."""
        if self.format == "mechlens-record":
            ids = self.h5["tokens"][index, : int(self.h5["lengths"][index])]
        else:
            ids = self.h5[f"prompts/{which}"][index]
        return self.decode(ids.tolist())

    def results(self):
        """A patching file's normalised scores per component."""
        return {name: self.array(f"/results/{name}/normalised") for name in self.h5["results"]}

    def pattern(self, layer, index):
        """A record's attention pattern of prompt `index`, cut to its tokens: Labelled [head, dest, src]."""
        length = int(self.h5["lengths"][index])
        values = self.h5[f"acts/blocks.{layer}.attn.hook_pattern"][index, :, :length, :length]
        tokens = self.tokens(index)
        return Labelled(values, ("head", "dest", "src"),
                        {"head": list(range(values.shape[0])), "dest": tokens, "src": tokens})


def open_file(path):
    return MechlensFile(path)


def _text(value):
    return value.decode() if isinstance(value, bytes) else value
