#!/usr/bin/env python3
"""mechlens against TransformerLens itself, timed in the same run on the same weights and prompts.

For each model shape (a 3-layer d_model-128 model and a GPT-2-small shape, random weights), builds a
TransformerLens HookedTransformer, saves it as TransformerLens users do (mechlens loads it without a
converter), and times:
  - run_with_cache (every hook TransformerLens caches by default);
  - get_act_patch_resid_pre, get_act_patch_attn_head_out_by_pos and get_act_patch_attn_head_out_all_pos
    against mechlens's resid_pre, head_z and head_z_all sweeps (denoising, logit difference),
checking that both compute the same metric. mechlens's sweeps skip (run, prompt) rows a patch cannot
change; the "dense" column recomputes every row, as TransformerLens does. Each sweep is also reported
against its work at the machine's GEMM rate (FLOPs by the model's cost model / a 1024^3 matmul's
FLOP/s, measured in the mechlens process): "x GEMM" is time / that bound.

Usage: transformer_lens_bench.py BENCH_BINARY WORK_DIR [--shapes small gpt2] [--repeats N]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
from safetensors.torch import save_file
from transformer_lens import HookedTransformer, HookedTransformerConfig, patching

SHAPES = {
    "small": dict(n_layers=3, d_model=128, n_heads=4, d_head=32, d_mlp=512, n_ctx=64, d_vocab=64, act_fn="gelu"),
    "gpt2": dict(n_layers=12, d_model=768, n_heads=12, d_head=64, d_mlp=3072, n_ctx=1024, d_vocab=50257,
                 act_fn="gelu_new"),
}
# TransformerLens's head_z-by-position sweep on the GPT-2 shape is 4,608 forward passes (about ten
# minutes on one core), so that shape times the other two sweeps only.
SWEEPS = {
    "small": ("resid_pre", "head_z", "head_z_all"),
    "gpt2": ("resid_pre", "head_z_all"),
}


def median_seconds(repeats, work):
    work()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def write_rows(path, rows):
    with open(path, "w") as f:
        for row in rows.tolist():
            f.write(" ".join(str(t) for t in row) + "\n")


def bench_shape(binary, work, name, repeats):
    cfg = HookedTransformerConfig(**SHAPES[name], normalization_type="LN", seed=0)
    model = HookedTransformer(cfg).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for pname, param in model.named_parameters():
            if pname.endswith(".b") or pname.split(".")[-1].startswith("b_"):
                param.copy_(0.02 * torch.randn(param.shape, generator=generator))
    path = os.path.join(work, f"{name}.safetensors")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path,
              metadata={"config": json.dumps(cfg.to_dict(), default=str)})
    clean = torch.randint(0, cfg.d_vocab, (8, 32), generator=generator)
    corrupted = clean.clone()
    for pos in (8, 16, 29):
        corrupted[:, pos] = torch.randint(0, cfg.d_vocab, (8,), generator=generator)
    with torch.no_grad():
        top2 = model(clean)[:, -1].topk(2).indices
    correct, wrong = top2[:, 0], top2[:, 1]
    files = [os.path.join(work, f"{name}_{kind}.txt") for kind in ("clean", "corrupted", "answers")]
    write_rows(files[0], clean)
    write_rows(files[1], corrupted)
    write_rows(files[2], top2)
    ours = json.loads(subprocess.run([binary, path, *files, "--repeats", str(repeats if name == "small" else 1), "--sweeps",
                                      ",".join(SWEEPS[name])], check=True,
                                     capture_output=True, text=True).stdout)

    def metric(logits):
        rows = torch.arange(logits.shape[0])
        return (logits[rows, -1, correct] - logits[rows, -1, wrong]).mean()

    with torch.no_grad():
        tl_cache_s = median_seconds(repeats, lambda: model.run_with_cache(clean))
        _, clean_cache = model.run_with_cache(clean)
        rows = [("run_with_cache", tl_cache_s, ours["run_with_cache_seconds"], None, None, 0.0)]
        functions = {"resid_pre": "get_act_patch_resid_pre", "head_z": "get_act_patch_attn_head_out_by_pos",
                     "head_z_all": "get_act_patch_attn_head_out_all_pos"}
        for component in SWEEPS[name]:
            function = functions[component]
            fn = getattr(patching, function)
            result = {}
            tl_s = median_seconds(repeats if name == "small" else 1,
                                  lambda: result.update(v=fn(model, corrupted, clean_cache, metric)))
            sweep, dense = ours["sweeps"][component], ours["sweeps"][component + "_dense"]
            ours_metric = torch.tensor(sweep["metric"], dtype=torch.float64).reshape(sweep["shape"])
            diff = float((ours_metric - result["v"].double()).abs().max())
            rows.append((function, tl_s, sweep["seconds"], dense["seconds"],
                         (sweep["flops"] / ours["gemm_flops_per_second"], dense["flops"] / ours["gemm_flops_per_second"]),
                         diff))
    print(f"\n{name}: {cfg.n_layers} layers, d_model {cfg.d_model}, d_vocab {cfg.d_vocab}, 8 x 32 tokens; "
          f"threads {ours['threads']}; GEMM {ours['gemm_flops_per_second'] / 1e9:.0f} GFLOP/s")
    print("| workload | TransformerLens s | mechlens s | ratio | mechlens dense s | dense ratio | "
          "x GEMM (skip) | x GEMM (dense) | max |diff| |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for label, tl_s, ml_s, dense_s, bound, diff in rows:
        worst = max(worst, diff)
        if dense_s is None:
            print(f"| {label} | {tl_s:.4f} | {ml_s:.4f} | {tl_s / ml_s:.1f}x | | | | | |")
            continue
        print(f"| {label} | {tl_s:.3f} | {ml_s:.4f} | {tl_s / ml_s:.1f}x | {dense_s:.4f} | {tl_s / dense_s:.1f}x | "
              f"{ml_s / max(bound[0], 1e-12):.2f} | {dense_s / max(bound[1], 1e-12):.2f} | {diff:.2g} |")
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary")
    parser.add_argument("work")
    parser.add_argument("--shapes", nargs="+", default=["small", "gpt2"], choices=sorted(SHAPES))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import transformer_lens
    from importlib.metadata import version
    print(f"TransformerLens {version('transformer-lens')}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    worst = max(bench_shape(args.binary, args.work, shape, args.repeats) for shape in args.shapes)
    print(f"\nlargest metric difference between the two: {worst:.2g}")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
