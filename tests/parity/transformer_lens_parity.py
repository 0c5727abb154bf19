#!/usr/bin/env python3
"""mechlens against TransformerLens itself, on random weights.

For each architecture variant: builds a TransformerLens HookedTransformer, sets *every* parameter to
random values (biases, norm weights and b_in included, so that conventions such as where a gated
MLP adds b_in cannot hide behind zeros), saves it as a TransformerLens user would
(state_dict + cfg.to_dict() in the safetensors metadata, no converter), and then checks that
  1. `mechlens run --save-cache` holds every hook TransformerLens's run_with_cache holds, with the
     same shape, and the logits, within --tol (float32 on both sides);
  2. `mechlens patch` gives the same metric as transformer_lens.patching's get_act_patch_* for each
     component, on the same clean/corrupted prompts and logit-difference metric;
  3. the same state dict written by torch.save (config JSON beside it) gives the same hooks, and with
     mechlens's weight-processing flags every hook equals that of TransformerLens's own
     process_weights_ (fold_ln, center_writing_weights, center_unembed, value biases folded).
Post-LN blocks, which TransformerLens cannot build, are checked against the plain-PyTorch
reference (reference_forward.py) instead.

Usage: transformer_lens_parity.py MECHLENS WORK_DIR [--variant NAME ...] [--tol 1e-4]
Exit status 0 when every variant matches.
"""
import argparse
import copy
import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file, save_file
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens import patching

BASE = dict(n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=64, n_ctx=24, d_vocab=40, act_fn="gelu",
            normalization_type="LN", use_attn_result=True, seed=0)

VARIANTS = {
    "pre_ln_gelu": {},
    "attn_only": dict(attn_only=True, d_mlp=None),
    "no_norm_gelu_new": dict(normalization_type=None, act_fn="gelu_new"),
    "relu_ln_pre": dict(act_fn="relu", normalization_type="LNPre"),
    "rotary_rms_gqa_gated": dict(positional_embedding_type="rotary", rotary_dim=8, normalization_type="RMS",
                                 n_key_value_heads=2, gated_mlp=True, act_fn="silu"),
    "rotary_partial_rms_pre": dict(positional_embedding_type="rotary", rotary_dim=4,
                                   normalization_type="RMSPre", act_fn="gelu"),
}

# (mechlens component, TransformerLens patching function); k and v are skipped under grouped-query
# attention, where TransformerLens's sweep indexes query heads but hook_k holds key-value heads.
PATCHES = [
    ("resid_pre", "get_act_patch_resid_pre"),
    ("resid_mid", "get_act_patch_resid_mid"),
    ("attn_out", "get_act_patch_attn_out"),
    ("mlp_out", "get_act_patch_mlp_out"),
    ("head_z", "get_act_patch_attn_head_out_by_pos"),
    ("head_q", "get_act_patch_attn_head_q_by_pos"),
    ("head_k", "get_act_patch_attn_head_k_by_pos"),
    ("head_v", "get_act_patch_attn_head_v_by_pos"),
    ("head_pattern", "get_act_patch_attn_head_pattern_by_pos"),
    ("head_z_all", "get_act_patch_attn_head_out_all_pos"),
    ("head_q_all", "get_act_patch_attn_head_q_all_pos"),
    ("head_k_all", "get_act_patch_attn_head_k_all_pos"),
    ("head_v_all", "get_act_patch_attn_head_v_all_pos"),
    ("head_pattern_all", "get_act_patch_attn_head_pattern_all_pos"),
]


def random_model(overrides, seed):
    cfg = HookedTransformerConfig(**{**BASE, **overrides})
    model = HookedTransformer(cfg)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            if name.endswith(".w"):  # norm weights around 1
                param.copy_(1.0 + 0.2 * noise)
            elif param.dim() == 1 or name.split(".")[-1].startswith(("b_", "_b_")):
                param.copy_(0.2 * noise)
            else:
                fan_in = param.shape[-2] if param.dim() >= 2 else param.shape[-1]
                param.copy_(noise / fan_in ** 0.5)
    return model.eval()


def save_transformer_lens(model, path):
    tensors = {name: t.detach().contiguous().clone() for name, t in model.state_dict().items()}
    save_file(tensors, path, metadata={"config": json.dumps(model.cfg.to_dict(), default=str)})


def write_prompts(path, tokens):
    with open(path, "w") as f:
        for row in tokens.tolist():
            f.write(" ".join(str(t) for t in row) + "\n")


def max_diff(ours, ref):
    ours, ref = ours.double(), ref.double()
    both_inf = torch.isinf(ours) & torch.isinf(ref) & (ours == ref)
    diff = torch.where(both_inf, torch.zeros_like(ours), (ours - ref).abs())
    return float(torch.nan_to_num(diff, nan=float("inf")).max())


def check_hooks(mechlens, model, checkpoint, tokens, work, tol, flags=()):
    prompts = os.path.join(work, "prompts.txt")
    cache_path = os.path.join(work, "cache.safetensors")
    write_prompts(prompts, tokens)
    subprocess.run([mechlens, "run", "--checkpoint", checkpoint, "--tokens-file", prompts, "--cache", "*",
                    "--save-cache", cache_path, "--force", *flags], check=True, stdout=subprocess.DEVNULL)
    ours = load_file(cache_path)
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
    reference = dict(cache.items())
    reference["logits"] = logits
    failures, worst = [], 0.0
    missing = sorted(set(reference) - set(ours))
    if missing:
        failures.append(f"hooks TransformerLens caches but mechlens does not: {missing}")
    for name in sorted(set(reference) & set(ours)):
        if tuple(ours[name].shape) != tuple(reference[name].shape):
            failures.append(f"{name}: shape {tuple(ours[name].shape)} vs TransformerLens {tuple(reference[name].shape)}")
            continue
        diff = max_diff(ours[name], reference[name])
        worst = max(worst, diff)
        if not diff <= tol:
            failures.append(f"{name}: max |diff| {diff:.3g} > {tol}")
    return len(set(reference) & set(ours)), worst, failures


def check_patching(mechlens, model, checkpoint, clean, corrupted, work, tol):
    paths = {k: os.path.join(work, f"{k}.txt") for k in ("clean", "corrupted", "answers")}
    write_prompts(paths["clean"], clean)
    write_prompts(paths["corrupted"], corrupted)
    with torch.no_grad():
        correct = model(clean)[:, -1].argmax(-1)
        wrong = model(corrupted)[:, -1].argmax(-1)
    wrong = torch.where(wrong == correct, (correct + 1) % model.cfg.d_vocab, wrong)
    write_prompts(paths["answers"], torch.stack([correct, wrong], dim=1))

    def metric(logits):
        last = logits[:, -1]
        rows = torch.arange(last.shape[0])
        return (last[rows, correct] - last[rows, wrong]).mean()

    with torch.no_grad():
        _, clean_cache = model.run_with_cache(clean)
    grouped = (model.cfg.n_key_value_heads or model.cfg.n_heads) != model.cfg.n_heads
    failures, worst, compared = [], 0.0, 0
    for component, function in PATCHES:
        if model.cfg.attn_only and component in ("resid_mid", "mlp_out"):
            continue
        if grouped and component.startswith(("head_k", "head_v")):
            continue
        out = os.path.join(work, f"patch_{component}.json")
        subprocess.run([mechlens, "patch", "--checkpoint", checkpoint, "--clean", paths["clean"], "--corrupted",
                        paths["corrupted"], "--answers", paths["answers"], "--component", component, "--metric",
                        "logit-diff", "--quiet", "--json", out], check=True, stdout=subprocess.DEVNULL)
        with open(out) as f:
            result = json.load(f)["results"][component]
        ours = torch.tensor(result["metric"], dtype=torch.float64).reshape(result["shape"])
        with torch.no_grad():
            reference = getattr(patching, function)(model, corrupted, clean_cache, metric)
        if tuple(ours.shape) != tuple(reference.shape):
            failures.append(f"patch {component}: shape {tuple(ours.shape)} vs TransformerLens "
                            f"{tuple(reference.shape)} ({function})")
            continue
        diff = max_diff(ours, reference)
        worst, compared = max(worst, diff), compared + 1
        if not diff <= tol:
            failures.append(f"patch {component}: max |diff| {diff:.3g} > {tol} against {function}")
    return compared, worst, failures


def processing_for(cfg):
    """mechlens's flags and TransformerLens's process_weights_ arguments for the steps that apply
    (TransformerLens skips the others with a warning; mechlens refuses them). Parameter-free norms
    (LNPre, RMSPre) have nothing to fold, and TransformerLens's fold_ln fails on them."""
    layer_norm = cfg.normalization_type in ("LN", "LNPre")
    folds = cfg.normalization_type in ("LN", "RMS")
    flags = ["--center-unembed", "--fold-value-biases"]
    flags += ["--fold-ln"] if folds else []
    flags += ["--center-writing-weights"] if layer_norm else []
    return flags, dict(fold_ln=folds, center_writing_weights=layer_norm, center_unembed=True)


def check_torch_save(mechlens, model, tokens, work, tol):
    checkpoint = os.path.join(work, "model.pt")
    torch.save(model.state_dict(), checkpoint)
    with open(os.path.join(work, "model.json"), "w") as f:
        json.dump(model.cfg.to_dict(), f, default=str)
    hooks, worst, failures = check_hooks(mechlens, model, checkpoint, tokens, work, tol)
    flags, tl_arguments = processing_for(model.cfg)
    processed = copy.deepcopy(model)
    processed.process_weights_(**tl_arguments)
    processed_hooks, processed_worst, processed_failures = check_hooks(mechlens, processed, checkpoint, tokens, work,
                                                                       tol, flags)
    failures += [f"torch.save {' '.join(flags)}: {failure}" for failure in processed_failures]
    return hooks + processed_hooks, max(worst, processed_worst), flags, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mechlens")
    parser.add_argument("work")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS))
    parser.add_argument("--tol", type=float, default=1e-4)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    import transformer_lens
    version = getattr(transformer_lens, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version
        version = dist_version("transformer-lens")
    print(f"TransformerLens {version}, torch {torch.__version__}")

    failed = False
    for index, name in enumerate(args.variant or sorted(VARIANTS)):
        work = os.path.join(args.work, name)
        os.makedirs(work, exist_ok=True)
        model = random_model(VARIANTS[name], seed=100 + index)
        checkpoint = os.path.join(work, f"{name}.safetensors")
        save_transformer_lens(model, checkpoint)
        generator = torch.Generator().manual_seed(7 + index)
        tokens = torch.randint(0, BASE["d_vocab"], (3, 12), generator=generator)
        corrupted = tokens.clone()
        corrupted[:, 4] = (corrupted[:, 4] + 5) % BASE["d_vocab"]
        corrupted[:, 9] = (corrupted[:, 9] + 3) % BASE["d_vocab"]
        hooks, hook_worst, failures = check_hooks(args.mechlens, model, checkpoint, tokens, work, args.tol)
        sweeps, patch_worst, patch_failures = check_patching(args.mechlens, model, checkpoint, tokens, corrupted,
                                                             work, args.tol)
        failures += patch_failures
        saved_hooks, saved_worst, flags, saved_failures = check_torch_save(args.mechlens, model, tokens, work, args.tol)
        failures += saved_failures
        print(f"{name}: {hooks} hooks + logits, max |diff| {hook_worst:.3g}; {sweeps} patching sweeps, "
              f"max |diff| {patch_worst:.3g}; torch.save plain and {' '.join(flags)}: {saved_hooks} hooks, "
              f"max |diff| {saved_worst:.3g}")
        for failure in failures:
            print("  FAIL " + failure)
        failed |= bool(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
