"""Benchmark sampling throughput of an exported or shipped model on this machine's CPU: glyphs per second for each
sampler and step count, the model's own (few-step) default first.

Variants run round-robin (one timed batch each per round) so load from other jobs hits all of them alike; compare
the ratios, and take absolute numbers only from an otherwise idle machine. Image quality at each setting is
`glyphgen eval MODEL --sampler S --steps N` (FGD against the real-data band), not measured here.

    .venv/bin/python benchmarks/bench_sampling.py                          # shipped kanji-ddpm, batch 64
    .venv/bin/python benchmarks/bench_sampling.py runs/my-run --variants dpm++:10 dpm++:20 ddim:50 --threads 1

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may download

import torch  # noqa: E402

from glyphgen.checkpoint import load  # noqa: E402
from glyphgen.generate import resolve_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=None, help="run folder, export or shipped name (default: kanji-ddpm)")
    ap.add_argument(
        "--variants",
        nargs="+",
        default=None,
        help="sampler:steps pairs (ddpm models); default: the model's own setting and dpm++ at 5, 10, 20 steps",
    )
    ap.add_argument("--batch", type=int, default=64, help="glyphs per sampling call")
    ap.add_argument("--rounds", type=int, default=3, help="timed batches per variant")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    folder = resolve_model(args.model)
    method, meta = load(folder)
    cfg = meta["config"]
    if meta["family"] == "ddpm":
        pairs = args.variants or [f"{cfg['sampler']}:{cfg['sample_steps']}", "dpm++:5", "dpm++:10", "dpm++:20"]
        variants = list(dict.fromkeys(pairs))
    else:
        variants = ["default"]  # one forward pass (vae, gan, cvae) or the dream walk: no sampler to choose

    labels = torch.arange(args.batch) % meta["num_classes"] if meta.get("num_classes") else None

    def run(variant: str) -> float:
        options = {}
        if variant != "default":
            sampler, steps = variant.split(":")
            options = {"sampler": sampler, "steps": int(steps)}
        t0 = time.perf_counter()
        with torch.no_grad():
            method.sample(list(range(args.batch)), labels, **options)
        return time.perf_counter() - t0

    for v in variants:  # warm-up: allocator, oneDNN primitive caches
        run(v)
    times = {v: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            times[v].append(run(v))
    results = []
    for v in variants:
        med = statistics.median(times[v])
        results.append({"variant": v, "seconds_per_batch": round(med, 3), "glyphs_per_s": round(args.batch / med, 2)})
    base = results[0]["glyphs_per_s"]
    for r in results:
        r["speed_vs_default"] = round(r["glyphs_per_s"] / base, 2)
    print(
        json.dumps(
            {
                "model": str(folder),
                "family": meta["family"],
                "image_shape": meta["image_shape"],
                "parameters": sum(p.numel() for p in method.parameters()),
                "batch": args.batch,
                "threads": torch.get_num_threads(),
                "load_average": os.getloadavg()[0],
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
