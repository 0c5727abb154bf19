#!/usr/bin/env python3
"""The matching paper's reference training run (Wang et al. 2024; the authors' teaching code) on a GPU,
in plain PyTorch, for mechlens checkpoints.

The authors' reference run (3L1H post-LN, d_model 400, 100 epochs over 270,000 fixed training
problems) takes days on one CPU core. mechlens's own trainer runs on a GPU too (`mechlens train
--device cuda`, LibTorch 2 flavour), but it draws fresh problems every step on a per-step schedule;
this script keeps the authors' fixed training set and per-epoch schedule, on a GPU:
  - the initial weights are a mechlens checkpoint (`mechlens init`), read and written in mechlens's
    parameter layout and names, so `mechlens eval/match/heads` read the result directly;
  - the problems come from `mechlens data` (converted by `--prepare` to compact .npz files);
  - the forward is the mechlens model's (LayerNorm pre or post, causal attention, ReLU/GELU MLP,
    learned positions; the configs the matching task uses), the loss is cross-entropy at the last
    position (the answer), AdamW (weight decay 0.01), gradient clipping at norm 1, batch 1000;
  - the schedule is our reading of the teaching code's: a linear warm-up from lr0 to 4 x lr0 over
    10 epochs, then a cosine from 4 x lr0 to 2e-5 with T_max = 100 epochs, stepped once per epoch.

Usage:
  train_matching_reference.py --prepare TRAIN.h5 TEST.h5 OOD.h5 --out-dir DIR    (here, with h5py)
  train_matching_reference.py --init CK.safetensors --data DIR --out CK.safetensors --log LOG.csv
                              [--epochs 100] [--batch 1000] [--lr0 5e-5] [--seed 0] [--device cuda]
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F


def prepare(paths, out_dir):
    """mechlens data files (.h5) -> uint8 token rows and answers (vocabulary 201 fits a byte)."""
    import h5py

    os.makedirs(out_dir, exist_ok=True)
    for name, path in zip(("train", "test", "ood"), paths):
        with h5py.File(path, "r") as f:
            tokens, answers = f["tokens"][:], f["annotations/answer"][:, 0]
            task = f.attrs["task"]
        assert tokens.max() < 256 and answers.max() < 256, f"{path}: token ids do not fit uint8"
        np.savez(os.path.join(out_dir, name + ".npz"), tokens=tokens.astype(np.uint8),
                 answers=answers.astype(np.uint8), task=np.array(task))
        print(f"{path}: {tokens.shape[0]} problems of {tokens.shape[1]} tokens -> {out_dir}/{name}.npz")


def read_checkpoint(path, device):
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
        params = {k: f.get_tensor(k).to(device) for k in f.keys()}
    return params, meta


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def forward(p, cfg, tokens):
    """Logits at the last position: tokens [batch, pos] -> [batch, d_vocab]."""
    assert cfg["normalization_type"] == "LN" and cfg["positional_embedding_type"] == "standard"
    assert cfg["orthogonal_noise"] == "none" and not cfg["gated_mlp"]
    eps, post = cfg["eps"], cfg["norm_placement"] == "post"
    act = {"relu": F.relu, "gelu": F.gelu}[cfg["act_fn"]]
    n_pos = tokens.shape[1]
    x = p["embed.W_E"][tokens]
    if cfg.get("shared_embed_norm", False):
        x = x / torch.linalg.vector_norm(x, dim=-1, keepdim=True) * p["embed.row_norm"]
    x = x + p["pos_embed.W_pos"][:n_pos]
    for l in range(cfg["n_layers"]):
        b = f"blocks.{l}."
        a_in = x if post else layer_norm(x, p[b + "ln1.w"], p[b + "ln1.b"], eps)
        q, k, v = (torch.einsum("bpm,hmd->bhpd", a_in, p[b + "attn.W_" + n]) for n in "QKV")
        if cfg["attn_bias"]:
            q, k, v = (t + p[b + "attn.b_" + n][None, :, None] for t, n in zip((q, k, v), "QKV"))
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [batch, head, pos, d_head]
        attn_out = torch.einsum("bhpd,hdm->bpm", z, p[b + "attn.W_O"])
        if cfg["attn_bias"]:
            attn_out = attn_out + p[b + "attn.b_O"]
        x = x + attn_out
        if post:
            x = layer_norm(x, p[b + "ln1.w"], p[b + "ln1.b"], eps)
        if cfg["d_mlp"]:
            m_in = x if post else layer_norm(x, p[b + "ln2.w"], p[b + "ln2.b"], eps)
            h = m_in @ p[b + "mlp.W_in"]
            if cfg["mlp_bias"]:
                h = h + p[b + "mlp.b_in"]
            out = act(h) @ p[b + "mlp.W_out"]
            if cfg["mlp_bias"]:
                out = out + p[b + "mlp.b_out"]
            x = x + out
            if post:
                x = layer_norm(x, p[b + "ln2.w"], p[b + "ln2.b"], eps)
    last = x[:, -1]
    if not post:
        last = layer_norm(last, p["ln_final.w"], p["ln_final.b"], eps)
    logits = last @ p["unembed.W_U"]
    return logits + p["unembed.b_U"] if cfg["unembed_bias"] else logits


def lr_at_epoch(epoch, lr0, warmup=10, multiplier=4.0, t_max=100, eta_min=2e-5):
    peak = lr0 * multiplier
    if epoch < warmup:
        return lr0 + (peak - lr0) * epoch / warmup
    return eta_min + (peak - eta_min) * (1 + math.cos(math.pi * (epoch - warmup) / t_max)) / 2


@torch.no_grad()
def evaluate(p, cfg, tokens, answers):
    logits = torch.cat([forward(p, cfg, tokens[i:i + 4096]) for i in range(0, len(tokens), 4096)])
    loss = F.cross_entropy(logits, answers).item()
    return loss, (logits.argmax(-1) == answers).float().mean().item()


def train(args):
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    params, meta = read_checkpoint(args.init, device)
    cfg = json.loads(meta["config"])
    for t in params.values():
        t.requires_grad_(True)
    load = lambda name: np.load(os.path.join(args.data, name + ".npz"))  # noqa: E731
    train_set, test_set, ood_set = load("train"), load("test"), load("ood")
    to = lambda a: torch.from_numpy(a.astype(np.int64)).to(device)  # noqa: E731
    train_x, train_y = to(train_set["tokens"]), to(train_set["answers"])
    evals = {"train": (train_x[:2000], train_y[:2000]), "test": (to(test_set["tokens"]), to(test_set["answers"])),
             "ood": (to(ood_set["tokens"]), to(ood_set["answers"]))}
    optimizer = torch.optim.AdamW(params.values(), lr=args.lr0, weight_decay=0.01)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    n, steps_per_epoch = len(train_x), len(train_x) // args.batch
    # epoch_loss: the mean training loss of the epoch before; then loss and accuracy per evaluation set
    columns = ["epoch", "step", "lr", "epoch_loss"] + [f"{s}_{m}" for s in evals for m in ("loss", "acc")]
    log = open(args.log, "w")
    log.write(",".join(columns) + "\n")
    start, step, running = time.time(), 0, 0.0
    for epoch in range(args.epochs + 1):
        if epoch % args.eval_every == 0 or epoch == args.epochs:
            row = [epoch, step, optimizer.param_groups[0]["lr"], running]
            for tokens, answers in evals.values():
                row += list(evaluate(params, cfg, tokens, answers))
            log.write(",".join(f"{v:.6g}" for v in row) + "\n")
            log.flush()
            print(f"epoch {epoch} step {step} {dict(zip(columns[3:], (round(v, 4) for v in row[3:])))} "
                  f"{time.time() - start:.0f}s", flush=True)
            if epoch % args.save_every == 0 or epoch == args.epochs:
                save(params, meta, train_set, args, step, epoch)
        if epoch == args.epochs:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr_at_epoch(epoch, args.lr0)
        order = torch.randperm(n, device=device, generator=generator)
        total = torch.zeros((), device=device)
        for i in range(steps_per_epoch):
            index = order[i * args.batch:(i + 1) * args.batch]
            loss = F.cross_entropy(forward(params, cfg, train_x[index]), train_y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
            optimizer.step()
            total += loss.detach()
            step += 1
        running = (total / steps_per_epoch).item()
    log.close()
    print(f"wrote {args.out} after {step} steps, {time.time() - start:.0f}s")


def save(params, meta, train_set, args, step, epoch):
    """Writes the checkpoint (replaced atomically); train_steps and train_epochs say how far it got."""
    from safetensors.torch import save_file

    meta = dict(meta)
    meta["train_steps"] = str(step)
    meta["train_epochs"] = f"{epoch} of {args.epochs}"
    meta["train_command"] = ("scripts/train_matching_reference.py " +
                             f"--epochs {args.epochs} --batch {args.batch} --lr0 {args.lr0} --seed {args.seed} "
                             f"(init {os.path.basename(args.init)}, {len(train_set['answers'])} training problems, "
                             f"{args.device})")
    meta["task"] = str(train_set["task"])
    save_file({k: v.detach().float().cpu().contiguous() for k, v in params.items()}, args.out + ".tmp", metadata=meta)
    os.replace(args.out + ".tmp", args.out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepare", nargs=3, metavar=("TRAIN.h5", "TEST.h5", "OOD.h5"))
    parser.add_argument("--out-dir")
    parser.add_argument("--init")
    parser.add_argument("--data")
    parser.add_argument("--out")
    parser.add_argument("--log")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--save-every", type=int, default=25)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--lr0", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare, args.out_dir)
    else:
        train(args)


if __name__ == "__main__":
    main()
