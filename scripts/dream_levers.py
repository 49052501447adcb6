"""Why a dream model dreams what it dreams: the same seeds dreamt with one sampling lever changed at a time.

    .venv/bin/python scripts/dream_levers.py runs/hanzi-dream-original --out docs/hanzi-dream-original/levers.png

Variants (rows of the figure, top to bottom): the original's dream (10 cycles, BatchNorm with its running
statistics), BatchNorm with the statistics of the dreamt batch instead, one cycle, three cycles, and the schedule's
top temperature halved. Prints JSON per variant: the recogniser's legibility (share read with p > 0.5), mean ink, and
the spread across seeds (mean per-pixel standard deviation: 0 when every seed dreams the same picture).
"""

from __future__ import annotations

import argparse
import copy
import json

import torch

from glyphgen.checkpoint import load
from glyphgen.eval import metrics as M
from glyphgen.eval.features import load_features
from glyphgen.generate import resolve_model
from glyphgen.images import save_grid
from glyphgen.methods.base import generators, randn_per_image
from glyphgen.methods.dream import dream


@torch.no_grad()
def dream_variant(method, seeds: list[int], cycles: int, kT: list[float], batch_stats: bool) -> torch.Tensor:
    """Dream `seeds` as one batch: (N, C, H, W) in [0, 1], ink high."""
    net = copy.deepcopy(method.net)  # batch statistics update running ones; the model itself stays untouched
    net.train(batch_stats)
    gens = generators(seeds)

    def noise():
        return randn_per_image(gens, method.image_shape).contiguous(memory_format=method._memory_format)

    return method._from_model(dream(net, noise(), kT, cycles, noise)).clamp(0, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a dream model: run folder, export or shipped name")
    ap.add_argument("--n", type=int, default=16, help="seeds per variant (one batch)")
    ap.add_argument("--out", default="dream-levers.png", help="the figure: one row of seeds per variant")
    args = ap.parse_args()
    torch.set_num_threads(1)
    method, meta = load(resolve_model(args.model))
    if meta["family"] != "dream":
        raise SystemExit(f"error: {args.model} is a {meta['family']} model, not a dream model")
    kT, cycles = method.kT, method.config.num_cycles
    half = torch.linspace(0, method.config.kT_max / 2, len(kT)).tolist()
    variants = {
        "original (10 cycles, running BN statistics)": (cycles, kT, False),
        "BN statistics of the dreamt batch": (cycles, kT, True),
        "1 cycle": (1, kT, False),
        "3 cycles": (3, kT, False),
        "kT_max halved": (cycles, half, False),
    }
    features, _ = load_features()
    seeds = list(range(args.n))
    rows, report = [], {"model": args.model, "step": meta.get("step"), "n": args.n}
    for name, (c, schedule, batch_stats) in variants.items():
        x = dream_variant(method, seeds, c, schedule, batch_stats)
        rows.append(x)
        report[name] = {
            "legibility": round(float(M.legibility(features, x)), 4),
            "mean_ink": round(float(x.mean()), 4),
            "spread": round(float(x.std(dim=0).mean()), 4),
        }
    save_grid(torch.cat(rows), args.out, nrow=args.n, scale=1)
    report["figure"] = args.out
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
