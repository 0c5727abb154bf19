#!/usr/bin/env python3
"""Which embeddings a matching model's hop layer can match: the out-of-distribution rows of W_E replaced
by vectors of chosen direction at the trained rows' norm, and what the first hop then does.

OOD tokens never occur in training prompts, so their rows of W_E keep their initial values while the
in-distribution (ID) rows are learned. Rescaling the OOD rows to the ID norm (ood_embedding_scale.py) is
enough for some models and not for others. This script asks whether direction matters too: every OOD
row is replaced, in memory, by a vector at the mean ID row norm whose direction is
- `as trained`: the row's own direction;
- `random`: a fresh Gaussian direction;
- `ID subspace`: a Gaussian direction inside the ID rows' principal subspace (the top right singular
  vectors of the ID rows that hold `--energy` of their squared norm; our definition);
- `ID-row mixtures`: a Gaussian combination of the ID rows (their spectrum, not any one row: the largest
  |cosine| of a new row with an ID row is printed for every variant);
- `complement`: a Gaussian direction orthogonal to that subspace.
For each variant, on the record's prompts (an `ood` or `ood_decoy` split): first-token accuracy; layer
`--layer`'s attention from the query to the hop-1 child; that score above the mean over the prompt's
child positions, and its match term, the query's token part against the key's layer-0 attention part
(the pair-fused parent; matching_score_decomposition.py's split); and the share of the rows' squared
norm inside the ID subspace. With shared_embed_norm every row enters at one norm already; the
directions still apply.

Reads a checkpoint and a `mechlens record --task matching --hooks 'blocks.*.attn.hook_pattern'` file of
the prompts (layout `single_chain` or `noised_double_chain`); the forward is the parity tests'
float64 reference, checked against the record. `--json OUT` writes every number.

Usage: matching_ood_subspace.py CHECKPOINT RECORD.h5 [--layer 1] [--energy 0.9] [--n 1000] [--seed 0]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import matching_knockout_attention as knockout  # noqa: E402
import matching_score_decomposition as decomposition  # noqa: E402
import reference_forward  # noqa: E402  (on the path through the module above)
from safetensors_np import read_safetensors  # noqa: E402  (likewise)

TOOL = "matching_ood_subspace"
VARIANTS = ("as trained", "random", "ID subspace", "ID-row mixtures", "complement")


def node_ranges(task):
    """(ID token ids, OOD token ids) the checkpoint's matching task drew: 1-99 / 101-199 (ranges=paper)
    or 1-100 / 101-200 (ranges=full; settings written before the option drew from the full ranges)."""
    full = task.get("ranges", "full") == "full"
    return (np.arange(1, 101 if full else 100), np.arange(101, 201 if full else 200))


def principal_subspace(rows, energy):
    """Orthonormal basis [k, d] of the top right singular vectors of rows [n, d] that hold `energy` of
    their squared norm, and the orthonormal complement [d - k, d]."""
    _, singular, vt = torch.linalg.svd(rows, full_matrices=True)
    share = torch.cumsum(singular ** 2, 0) / (singular ** 2).sum()
    k = min(int(torch.searchsorted(share, torch.tensor(energy, dtype=share.dtype))) + 1, len(singular))
    return vt[:k], vt[k:]


def replacement_rows(kind, trained, id_rows, basis, complement, generator):
    """[n_ood, d] unit directions of one variant (before scaling to the ID norm)."""
    n, d = trained.shape
    gauss = lambda *shape: torch.randn(*shape, generator=generator, dtype=trained.dtype)  # noqa: E731
    rows = {"as trained": lambda: trained,
            "random": lambda: gauss(n, d),
            "ID subspace": lambda: gauss(n, basis.shape[0]) @ basis,
            "ID-row mixtures": lambda: gauss(n, id_rows.shape[0]) @ id_rows,
            "complement": lambda: gauss(n, complement.shape[0]) @ complement}[kind]()
    return rows / rows.norm(dim=-1, keepdim=True)


def first_hop(params, cfg, tokens, answers, role_maps, layer):
    """(accuracy, the query's attention on the hop-1 child in `layer`, that score above the mean over
    child positions, its query-token x key-attn0 term) over the prompts, and the forward's hooks."""
    logits, acts = reference_forward.forward(torch.from_numpy(tokens).long(), None, cfg, params)
    pattern = acts[f"blocks.{layer}.attn.hook_pattern"][:, 0].numpy()          # [B, T, T], head 0
    share = float(np.mean([pattern[b, r["query"], r["hop1_child"]] for b, r in enumerate(role_maps)]))
    names, table, _, _ = decomposition.decompose(layer, 0, role_maps, "query", cfg, params, acts)
    split = table["hop1_child"]                                                   # [parts_q, parts_k]
    accuracy = float((logits[:, -1].numpy().argmax(-1) == answers).mean())
    return (accuracy, share, float(split.sum()), float(split[names.index("tok"), names.index("attn0")])), acts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("record")
    ap.add_argument("--layer", type=int, default=1, help="the hop layer that reads hop 1 (default 1)")
    ap.add_argument("--energy", type=float, default=0.9,
                    help="share of the ID rows' squared norm the principal subspace holds (default 0.9)")
    ap.add_argument("--n", type=int, default=1000, help="prompts read from the record (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random directions (default 0)")
    ap.add_argument("--json", help="also write every number here")
    args = ap.parse_args()
    if not 0 < args.energy <= 1:
        sys.exit(f"{TOOL}: --energy {args.energy}: a share in (0, 1] is expected")
    params, cfg, tokens, answers, role_maps, recorded = knockout.load(args.checkpoint, args.record, args.n)
    task = json.loads(read_safetensors(args.checkpoint)[1].get("task") or "{}")
    if task.get("task") != "matching":
        sys.exit(f"{TOOL}: {args.checkpoint}: no matching task in its metadata ('task')")
    if not 1 <= args.layer < cfg["n_layers"]:
        sys.exit(f"{TOOL}: --layer {args.layer}: a hop layer after layer 0's pair fusion, 1..{cfg['n_layers'] - 1}")
    if cfg["n_heads"] != 1 or cfg["positional_embedding_type"] == "rotary":
        sys.exit(f"{TOOL}: {args.checkpoint}: one head per layer and learned or no positions are supported")
    knockout.check_role("hop1_child", role_maps, "the record:")
    id_ids, ood_ids = node_ranges(task)
    if not np.isin(tokens, ood_ids).any():
        sys.exit(f"{TOOL}: {args.record}: no out-of-distribution token in its prompts (record --task-option "
                 "split=ood or ood_decoy)")
    embed = params["embed.W_E"]
    id_rows, trained = embed[id_ids], embed[ood_ids]                              # [n_id, d], [n_ood, d]
    id_norm = float(id_rows.norm(dim=-1).mean())
    basis, complement = principal_subspace(id_rows, args.energy)
    generator = torch.Generator().manual_seed(args.seed)
    print(f"{len(tokens)} prompts; ID rows: mean norm {id_norm:.3f}, principal subspace {basis.shape[0]} of "
          f"{embed.shape[1]} dimensions ({args.energy:g} of their squared norm); OOD rows as trained: mean norm "
          f"{float(trained.norm(dim=-1).mean()):.3f}")
    print(f"  OOD rows                          accuracy  L{args.layer} query->hop1 child  score above mean  "
          "tok x attn0  in ID subspace  max |cos| with an ID row")
    results = {"prompts": len(tokens), "layer": args.layer, "energy": args.energy, "subspace_dims": basis.shape[0],
               "d_model": embed.shape[1], "id_norm": id_norm, "variants": {}}
    for kind in ("unedited",) + VARIANTS:
        if kind == "complement" and complement.shape[0] == 0:
            print(f"  complement: none, the subspace fills all {embed.shape[1]} dimensions")
            continue
        rows = trained if kind == "unedited" else \
            replacement_rows(kind, trained, id_rows, basis, complement, generator) * id_norm
        edited = dict(params)
        edited["embed.W_E"] = embed.clone()
        edited["embed.W_E"][ood_ids] = rows
        (accuracy, share, above, match), acts = first_hop(edited, cfg, tokens, answers, role_maps, args.layer)
        if kind == "unedited":
            knockout.check_against_record(knockout.patterns_of(acts, cfg), recorded)
        inside = float(((rows @ basis.T) ** 2).sum() / (rows ** 2).sum())
        cosine = float(((rows / rows.norm(dim=-1, keepdim=True)) @ (id_rows / id_rows.norm(dim=-1, keepdim=True)).T)
                       .abs().max())
        results["variants"][kind] = {"accuracy": accuracy, "hop1_share": share, "score_above_mean": above,
                                     "match_term": match, "share_in_id_subspace": inside,
                                     "max_abs_cosine_with_id_row": cosine}
        label = kind if kind == "unedited" else kind + ", ID norm"
        print(f"  {label:<33}{accuracy:9.3f}{share:22.3f}{above:18.2f}{match:13.2f}{inside:16.3f}{cosine:26.2f}",
              flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
