"""Benchmark a few-step student against its teacher in one run: glyphs/s (1 and 2 threads) and quality (FGD,
precision, recall; recogniser top-1 of the asked-for character for conditional models) for the teacher at 5/10/20
DPM-Solver++ steps and the student at 1/2/4 DDIM steps, with the ratios the goals are stated in (student at its own
steps against the teacher at 10).

Speed variants run round-robin (one timed batch each per round), so load from other jobs hits all of them alike;
quality is `glyphgen eval`'s (same reference, same seeds) for every variant.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_students.py kanji-ddpm runs/kanji-ddpm-2step --n 1000

Prints one JSON object (and writes it to --out when given).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may download

import torch  # noqa: E402

from glyphgen.checkpoint import load  # noqa: E402
from glyphgen.eval.evaluate import evaluate  # noqa: E402
from glyphgen.generate import resolve_model  # noqa: E402

TEACHER_STEPS = (5, 10, 20)
STUDENT_STEPS = (1, 2, 4)


def glyphs_per_s(method, num_classes: int, variants: dict, batch: int, rounds: int, threads: int) -> dict:
    """Best-of-`rounds` glyphs/s of each (sampler, steps) variant of `method`, round-robin, at `threads`."""
    torch.set_num_threads(threads)
    labels = torch.arange(batch) % num_classes if num_classes else None
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds + 1):  # round 0 warms up
        for name, options in variants.items():
            t0 = time.perf_counter()
            method.sample(list(range(batch)), labels, **options)
            if r:
                times[name].append(time.perf_counter() - t0)
    return {name: round(batch / min(ts), 2) for name, ts in times.items()} | {
        "_median_spread": round(statistics.median(max(ts) / min(ts) for ts in times.values()), 3)
    }


def quality(model: Path, n: int, options: dict) -> dict:
    result = evaluate(model, n=n, progress=False, **options)
    scores = result["metrics"]
    out = {k: round(scores[k], 4) for k in ("fgd", "precision", "recall")}
    if "accuracy" in scores:
        out["top1"] = round(scores["accuracy"]["top1"], 4)
    out["band_fgd"] = round(result["band"]["fgd"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("teacher", help="the teacher: shipped name, export or run folder")
    ap.add_argument("student", help="the student: export or run folder (glyphgen distill's output)")
    ap.add_argument("--n", type=int, default=1000, help="samples per quality measurement")
    ap.add_argument("--batch", type=int, default=64, help="glyphs per timed sampling call")
    ap.add_argument("--rounds", type=int, default=3, help="timed batches per variant and thread count")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to time")
    ap.add_argument("--no-quality", action="store_true", help="speed only")
    ap.add_argument("--quality-threads", type=int, default=1, help="torch threads while scoring quality")
    ap.add_argument("--no-speed", action="store_true", help="quality only")
    ap.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = ap.parse_args()

    teacher_dir, student_dir = resolve_model(args.teacher), resolve_model(args.student)
    teacher, t_meta = load(teacher_dir)
    student, s_meta = load(student_dir)
    own = s_meta.get("distilled", {}).get("student_steps") or s_meta.get("sampling", {}).get("steps")
    variants = {f"teacher dpm++ {k}": (teacher, {"sampler": "dpm++", "steps": k}) for k in TEACHER_STEPS}
    variants |= {f"student ddim {k}": (student, {"sampler": "ddim", "steps": k}) for k in STUDENT_STEPS}
    result: dict = {
        "teacher": str(teacher_dir),
        "student": str(student_dir),
        "student_steps": own,
        "student_step": s_meta.get("step"),
        "teacher_train_cpu_min": round((t_meta.get("train_seconds") or 0) / 60, 1),
        "distill_cpu_min": round((s_meta.get("train_seconds") or 0) / 60, 1),
        "batch": args.batch,
        "glyphs_per_s": {},
    }
    num_classes = int(t_meta.get("num_classes") or 0)
    for threads in [] if args.no_speed else args.threads:
        speeds: dict = {}
        for who in (teacher, student):
            mine = {name: options for name, (m, options) in variants.items() if m is who}
            speeds |= glyphs_per_s(who, num_classes, mine, args.batch, args.rounds, threads)
        result["glyphs_per_s"][str(threads)] = speeds
    if not args.no_quality:
        torch.set_num_threads(args.quality_threads)
        result["quality"] = {
            name: quality(teacher_dir if m is teacher else student_dir, args.n, options)
            for name, (m, options) in variants.items()
        }
        ref, mine = result["quality"]["teacher dpm++ 10"], result["quality"][f"student ddim {own}"]
        result["ratios_vs_teacher_10"] = {
            "fgd": round(mine["fgd"] / ref["fgd"], 3),
            "recall": round(mine["recall"] / ref["recall"], 3),
            **({"top1": round(mine["top1"] / ref["top1"], 3)} if "top1" in ref else {}),
        }
    for threads, speeds in result["glyphs_per_s"].items():
        ratio = speeds[f"student ddim {own}"] / speeds["teacher dpm++ 10"]
        result.setdefault("ratios_vs_teacher_10", {})[f"speed_{threads}_threads"] = round(ratio, 2)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
