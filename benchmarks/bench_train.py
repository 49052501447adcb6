"""Training and sampling speed of every family at 64 px on this machine, against the measured conv peak.

    .venv/bin/python benchmarks/bench_train.py [--batch 32] [--size 64] [--steps 3] [--families dream,ddpm,...]

For each family at its default config: train images/s (loss + backward + Adam step, channels_last, fp32), the
FLOPs of one step (torch's FlopCounterMode) and so the achieved GFLOP/s, and sampling ms/image (ddpm per sampler and
step count). "conv_peak_gflops" is a large 3x3 convolution's forward+backward rate measured in the same run, the
ceiling the families are read against. Prints JSON.
"""

import argparse
import json
import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from glyphgen.methods import FAMILIES, get_family  # noqa: E402


def conv_peak(size: int, batch: int) -> float:
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 64, size, size).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    with FlopCounterMode(display=False) as counter:
        conv(x).sum().backward()
    flops = counter.get_total_flops()
    best = float("inf")
    for _ in range(4):
        t0 = time.perf_counter()
        conv(x).sum().backward()
        best = min(best, time.perf_counter() - t0)
    return flops / best / 1e9


def bench_family(name: str, size: int, batch: int, steps: int) -> dict:
    cls = get_family(name)
    num_classes = 36 if name == "cvae" else 0
    torch.manual_seed(0)
    method = cls(cls.config_class(), (1, size, size), num_classes).to(memory_format=torch.channels_last)
    opts = {g: torch.optim.Adam(p, **method.optimizer_options(g)) for g, p in method.param_groups().items()}
    x = (torch.rand(batch, 1, size, size) > 0.85).float().contiguous(memory_format=torch.channels_last)
    y = torch.randint(num_classes, (batch,)) if num_classes else None

    def step(k: int):
        losses, _ = method.loss(x, y, k)
        for group, loss in losses.items():
            opts[group].zero_grad(set_to_none=True)
            loss.backward()
            opts[group].step()

    step(0)  # warm-up (allocations, lazy init)
    try:
        with FlopCounterMode(display=False) as counter:
            step(1)
        flops = counter.get_total_flops()
    except RuntimeError:  # FlopCounterMode cannot follow double backward (the GAN's gradient penalty)
        flops = None
    t0 = time.perf_counter()
    for k in range(steps):
        step(2 + k)
    seconds = (time.perf_counter() - t0) / steps
    result = {
        "params": sum(p.numel() for p in method.parameters()),
        "s_per_step": round(seconds, 3),
        "train_images_per_s": round(batch / seconds, 1),
        "gflop_per_step": flops and round(flops / 1e9, 2),
        "achieved_gflops": flops and round(flops / seconds / 1e9, 1),
    }
    method.eval()
    seeds = list(range(16))
    labels = torch.arange(16) % num_classes if num_classes else None
    runs = (
        [{}]
        if name != "ddpm"
        else [
            {"sampler": "dpm++", "steps": 20},
            {"sampler": "ddim", "steps": 50},
            {"sampler": "ddpm", "steps": 1000},
        ]
    )
    result["sample_ms_per_image"] = {}
    for opts_ in runs:
        n = 4 if opts_.get("steps", 0) >= 1000 else 16
        t0 = time.perf_counter()
        method.sample(seeds[:n], None if labels is None else labels[:n], **opts_)
        key = f"{opts_['sampler']}-{opts_['steps']}" if opts_ else "default"
        result["sample_ms_per_image"][key] = round((time.perf_counter() - t0) / n * 1000, 1)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args()
    out = {
        "batch": args.batch,
        "size": args.size,
        "threads": torch.get_num_threads(),
        "conv_peak_gflops": round(conv_peak(args.size, args.batch), 1),
        "families": {},
    }
    for name in args.families.split(","):
        out["families"][name] = bench_family(name, args.size, args.batch, args.steps)
        achieved = out["families"][name]["achieved_gflops"]
        out["families"][name]["fraction_of_peak"] = achieved and round(achieved / out["conv_peak_gflops"], 3)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
