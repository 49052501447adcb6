"""Benchmark the dream training step: a copy of the original Chinese Character Generator loop against glyphgen's.

Both do the same math on the same random 64x64 batch of 32: 36 generator passes in one chain, 8 MSE terms, the
mean-squared-weight term, one backward and one Adam step. The original is copied as it was written: nn.Sequential
blocks, NCHW, `torch.randn_like` noise on every pass (also kT = 0), out-of-place ReLUs, float32, torch's default
thread count. Every variant runs at every thread count, round-robin (one timed step each per round), so load from
other jobs on a shared machine hits all of them alike; compare the ratios, not the absolute numbers.

    .venv/bin/python benchmarks/bench_dream.py                    # threads: torch's default and 1
    .venv/bin/python benchmarks/bench_dream.py --threads 1        # quicker: 1 thread only
    .venv/bin/python benchmarks/bench_dream.py --compile          # + glyphgen with torch.compile (minutes to compile)

Prints one JSON object. `speedup` = original / glyphgen at the same (default) thread count: the code's own gain.
`speedup_same_threads` gives it per thread count; `speedup_best` compares the original at torch's default threads
with the fastest glyphgen variant at any thread count (on a busy shared CPU, 1 thread avoids OpenMP barrier stalls).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from glyphgen.methods.dream import Dream, DreamConfig

# -- the original, as written -----------------------------------------------------------------------------------------


class OriginalGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.input = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        )  # fmt: skip
        self.encoder = nn.ModuleList()
        for i in range(4):
            c = 8 * 2**i
            self.encoder.append(nn.Sequential(
                nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(),
                nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(),
            ))  # fmt: skip
        self.decoder = nn.ModuleList()
        for i in range(4):
            c = 8 * 2 ** (4 - i)
            self.decoder.append(nn.Sequential(
                nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                nn.BatchNorm2d(c // 2), nn.ReLU(),
                nn.Conv2d(c // 2, c // 2, 3, padding=1), nn.BatchNorm2d(c // 2), nn.ReLU(),
            ))  # fmt: skip
        self.output = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 1, 3, padding=1), nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, x):
        x = (x - x.mean(dim=(1, 2, 3), keepdim=True)) / x.std(dim=(1, 2, 3), keepdim=True)
        x = self.input(x)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        for i, block in enumerate(self.decoder):
            x = block(x + skips[-i - 1])
        return self.output(x)


def original_step(G, opt, target, kT):
    """The original training step; target (B, 1, 64, 64) black ink on white."""
    opt.zero_grad()
    loss = torch.cat([p.view(-1) for p in G.parameters()]).pow(2).mean()
    image = target
    for i in range(len(kT)):
        image = image + torch.randn_like(image) * kT[i]
        image = G(image)
        for j in range(i - 1, -1, -1):
            image = image + torch.randn_like(image) * kT[j]
            image = G(image)
        loss = loss + F.mse_loss(image, target)
    loss.backward()
    opt.step()
    return loss.item()


# -- harness ----------------------------------------------------------------------------------------------------------


def count_passes(net: nn.Module) -> list[int]:
    calls = [0]
    net.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def variants(args, x: torch.Tensor) -> dict:
    """name -> (step function, pass counter, network); every variant starts from the same weights."""
    torch.manual_seed(0)
    original = OriginalGenerator()
    for p in original.parameters():
        p.data = torch.randn_like(p) * 0.01  # the original's init
    kT = torch.linspace(0, 1.5, 8)
    opt = torch.optim.Adam(original.parameters(), lr=1e-3)
    target = 1 - x  # the original's polarity
    out = {"original": (lambda: original_step(original, opt, target, kT), count_passes(original), original)}

    configs = {"glyphgen": DreamConfig()}
    if args.levers:
        configs["glyphgen_nchw"] = DreamConfig(channels_last=False)
    if args.compile:
        configs["glyphgen_compiled"] = DreamConfig(compile=True)
    for name, config in configs.items():
        method = Dream(config, (1, args.size, args.size))
        with torch.no_grad():
            for p, q in zip(method.net.parameters(), original.parameters(), strict=True):
                p.copy_(q)
        opts = {g: torch.optim.Adam(ps, **method.optimizer_options(g)) for g, ps in method.param_groups().items()}

        def step(method=method, opts=opts):
            for opt in opts.values():
                opt.zero_grad()
            losses, _ = method.loss(x, None, 0)
            sum(losses.values()).backward()
            for opt in opts.values():
                opt.step()

        out[name] = (step, count_passes(method.net), method.net)
    return out


def main():
    default_threads = torch.get_num_threads()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per variant and thread count, round-robin")
    parser.add_argument(
        "--threads", default=f"{default_threads},1", help="comma-separated torch thread counts to run every variant at"
    )
    parser.add_argument("--compile", action="store_true", help="also time glyphgen with torch.compile")
    parser.add_argument("--levers", action="store_true", help="also time glyphgen in NCHW (the channels_last lever)")
    args = parser.parse_args()
    thread_counts = list(dict.fromkeys(int(t) for t in args.threads.split(",")))

    torch.manual_seed(1)
    x = torch.rand(args.batch, 1, args.size, args.size)  # the same random batch for everyone, ink high
    runs = variants(args, x)
    keys = [(name, t) for t in thread_counts for name in runs]
    passes, first, times = {}, {}, {k: [] for k in keys}
    for rnd in range(args.rounds + 1):  # round 0 warms up: oneDNN primitives, compilation, allocator
        for name, threads in keys:
            step, calls, _ = runs[name]
            torch.set_num_threads(threads)
            calls[0] = 0
            start = time.perf_counter()
            step()
            elapsed = time.perf_counter() - start
            passes[name] = calls[0]
            if rnd == 0:
                first[name, threads] = elapsed
            else:
                times[name, threads].append(elapsed)
    torch.set_num_threads(default_threads)

    med = {k: statistics.median(t) for k, t in times.items()}
    base_threads = thread_counts[0]
    best = min((k for k in keys if k[0] != "original"), key=med.get)
    result = {
        "original_s_per_step": round(med["original", base_threads], 3),
        "glyphgen_s_per_step": round(med["glyphgen", base_threads], 3),
        "speedup": round(med["original", base_threads] / med["glyphgen", base_threads], 2),
        "threads": base_threads,
        "speedup_same_threads": {t: round(med["original", t] / med["glyphgen", t], 2) for t in thread_counts},
        "speedup_best": {
            "original_threads": base_threads,
            "glyphgen_variant": best[0],
            "glyphgen_threads": best[1],
            "speedup": round(med["original", base_threads] / med[best], 2),
        },
        "forward_passes_per_step": passes,
        "params": {name: sum(p.numel() for p in net.parameters()) for name, (_, _, net) in runs.items()},
        "variants": {
            f"{name}@{t}threads": {
                "median_s": round(med[name, t], 3),
                "min_s": round(min(times[name, t]), 3),
                "first_step_s": round(first[name, t], 1),
            }
            for name, t in keys
        },
        "batch": args.batch,
        "size": args.size,
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
