"""Benchmark the DDPM denoisers on this machine's CPU: training throughput of each U-Net implementation and layout.

Runs every variant side by side, round-robin (one timed fwd+bwd+Adam step each per round), so load from other jobs on
a shared machine hits all of them alike; compare the ratios, not the absolute numbers. FLOPs are counted once per
variant with `torch.utils.flop_counter.FlopCounterMode` (convolutions and matmuls; norms and activations are free
there), so GFLOP/s says how well each one uses the CPU. `--samplers` also times `DDPM.sample` per sampler.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_unet.py                  # 64 px, batch 32, both impls
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_unet.py --samplers       # + sampling ms/image

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from glyphgen.models.unet import SMALL_WIDTHS, build_unet

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may download; diffusers is imported lazily, after this


def train_step(net, opt, x, t, y):
    opt.zero_grad(set_to_none=True)
    loss = (net(x, t, y) - x).square().mean()
    loss.backward()
    opt.step()


def count_flops(net, x, t, y) -> int:
    with FlopCounterMode(display=False) as counter:
        (net(x, t, y) - x).square().mean().backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def bench_training(args) -> list[dict]:
    variants = []
    for impl in args.impls:
        for cl in (False, True):
            torch.manual_seed(0)
            net = build_unet(
                1,
                args.size,
                widths=tuple(args.widths),
                blocks=args.blocks,
                attention=tuple(args.attention),
                num_classes=args.num_classes,
                impl=impl,
                channels_last=cl,
            )
            fmt = torch.channels_last if cl else torch.contiguous_format
            x = torch.randn(args.batch, 1, args.size, args.size).contiguous(memory_format=fmt)
            t = torch.randint(0, 1000, (args.batch,))
            y = torch.randint(0, args.num_classes, (args.batch,)) if args.num_classes else None
            opt = torch.optim.Adam(net.parameters(), lr=1e-4)
            variants.append(
                {
                    "impl": impl,
                    "channels_last": cl,
                    "net": net,
                    "opt": opt,
                    "x": x,
                    "t": t,
                    "y": y,
                    "times": [],
                    "flops": count_flops(net, x, t, y),
                }
            )
            train_step(net, opt, x, t, y)  # warm-up: oneDNN picks its kernels on the first call
    for _ in range(args.rounds):
        for v in variants:
            start = time.perf_counter()
            train_step(v["net"], v["opt"], v["x"], v["t"], v["y"])
            v["times"].append(time.perf_counter() - start)
    rows = []
    for v in variants:
        sec = statistics.median(v["times"])
        rows.append(
            {
                "impl": v["impl"],
                "channels_last": v["channels_last"],
                "params": sum(p.numel() for p in v["net"].parameters()),
                "train_images_per_s": round(args.batch / sec, 2),
                "step_s_median": round(sec, 3),
                "step_s_min": round(min(v["times"]), 3),
                "gflop_per_image_fwd_bwd": round(v["flops"] / args.batch / 1e9, 3),
                "gflop_per_s": round(v["flops"] / sec / 1e9, 1),
            }
        )
    best = max(r["train_images_per_s"] for r in rows)
    for r in rows:
        r["relative_to_best"] = round(r["train_images_per_s"] / best, 3)
    return rows


def bench_sampling(args) -> dict:
    from glyphgen.methods.ddpm import DDPM, DDPMConfig

    cfg = DDPMConfig(widths=tuple(args.widths), blocks=args.blocks, attention=tuple(args.attention))
    method = DDPM(cfg, (1, args.size, args.size), num_classes=args.num_classes).eval()
    seeds = list(range(args.sample_batch))
    labels = torch.zeros(len(seeds), dtype=torch.long) if args.num_classes else None
    out = {}
    runs = [("dpm++", args.steps, 1.0), ("ddim", args.steps, 1.0), ("ddpm", args.ddpm_steps, 1.0)]
    if args.num_classes:
        runs.append(("dpm++", args.steps, 3.0))  # guidance != 0, 1 runs cond and uncond in one doubled batch
    for sampler, steps, guidance in runs:
        method.sample(seeds[:1], labels[:1] if labels is not None else None, sampler=sampler, steps=2)  # warm-up
        start = time.perf_counter()
        method.sample(seeds, labels, sampler=sampler, steps=steps, guidance=guidance)
        sec = time.perf_counter() - start
        key = f"{sampler}_{steps}steps" + (f"_guidance{guidance:g}" if guidance != 1.0 else "")
        out[key] = {
            "ms_per_image": round(1000 * sec / len(seeds), 1),
            "ms_per_image_step": round(1000 * sec / len(seeds) / steps, 2),
        }
    out["ddpm_1000steps_estimated_ms_per_image"] = round(
        out[f"ddpm_{args.ddpm_steps}steps"]["ms_per_image_step"] * 1000
    )
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default (one per core)")
    p.add_argument("--widths", type=int, nargs="+", default=list(SMALL_WIDTHS))
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--attention", type=int, nargs="*", default=[16, 8])
    p.add_argument("--num-classes", type=int, default=0)
    p.add_argument("--impls", nargs="+", default=["diffusers", "lean"])
    p.add_argument("--no-train", action="store_true", help="skip the training comparison")
    p.add_argument("--samplers", action="store_true", help="also time DDPM.sample per sampler (default network)")
    p.add_argument("--sample-batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--ddpm-steps", type=int, default=50, help="ancestral steps actually timed; 1000 is extrapolated")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "size": args.size,
        "widths": args.widths,
        "blocks": args.blocks,
        "attention": args.attention,
        "num_classes": args.num_classes,
    }
    if not args.no_train:
        result["training"] = {"batch": args.batch, "rounds": args.rounds, "variants": bench_training(args)}
    if args.samplers:
        result["sampling"] = {"batch": args.sample_batch, **bench_sampling(args)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
