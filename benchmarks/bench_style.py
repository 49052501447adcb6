"""Benchmark a style model's writing speed on this CPU: glyphs per second of `write` (k references encoded, then
DPM-Solver++ at several step counts), at 1 and 2 threads, batch 64, what `glyphgen style` and `glyphgen font --refs`
do per batch.

Variants run round-robin (one timed batch each per round) so load from other jobs hits all of them alike; take
absolute numbers from an otherwise idle machine. A 2,136-glyph face at R glyphs/s takes 2136 / R seconds.

    .venv/bin/python benchmarks/bench_style.py runs/kanji-style --steps 5 10 20 --threads 1 2

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
    ap.add_argument("model", help="a style model: run folder, export or shipped name")
    ap.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20], help="DPM-Solver++ steps to time")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch CPU threads to time")
    ap.add_argument("--refs", type=int, default=8, help="reference glyphs")
    ap.add_argument("--batch", type=int, default=64, help="glyphs per write call")
    ap.add_argument("--rounds", type=int, default=3, help="timed batches per variant")
    args = ap.parse_args()

    method, meta = load(resolve_model(args.model))
    if not method.capabilities().writes_in_style:
        raise SystemExit(f"{args.model} is a {meta['family']} model; this benchmark times style models")
    refs = torch.rand(args.refs, *meta["image_shape"])  # speed does not depend on what the references show
    labels = torch.arange(args.batch) % meta["num_classes"]
    seeds = list(range(args.batch))
    variants = [(t, s) for t in args.threads for s in args.steps]
    times: dict[tuple[int, int], list[float]] = {v: [] for v in variants}
    with torch.no_grad():
        for threads, steps in variants:  # warm-up
            torch.set_num_threads(threads)
            method.write(refs, labels[:8], seeds[:8], steps=steps)
        for _ in range(args.rounds):
            for threads, steps in variants:
                torch.set_num_threads(threads)
                t0 = time.perf_counter()
                method.write(refs, labels, seeds, steps=steps)
                times[(threads, steps)].append(time.perf_counter() - t0)
    result = {
        "model": str(args.model),
        "image_shape": meta["image_shape"],
        "step": meta.get("step"),
        "refs": args.refs,
        "batch": args.batch,
        "rounds": args.rounds,
        "glyphs_per_s": {
            f"threads{t}/steps{s}": round(args.batch / statistics.median(times[(t, s)]), 2) for t, s in variants
        },
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
