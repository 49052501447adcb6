"""FGD against training minutes for dream runs: every kept export of each run, scored on the run's own data.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dream_curve.py runs/hanzi-dream-original runs/hanzi-dream \\
        --n 1000 --out benchmarks/dream_curve.json

For each run folder, every `snapshots/stepNNNNNNN` export (`train --snapshot-every`) and the final `model/` export is
sampled with its own default options and scored by `glyphgen eval` (FGD, precision, recall, legibility against the
same real glyphs, split as `glyphgen eval` splits them). Training time is the export's `train_seconds` (the trainer's
own clock, which stops while a run is not training), so runs trained in separate sittings on the same machine and
thread count compare. Prints one JSON object: per run, its curve, and its final FGD; and for the first run (the
reference, e.g. the faithful original), when each later run first reached the reference's final FGD and the ratio of
training times. Evaluations are cached per export in <export>/eval-curve-<n>.json, so a rerun only scores new exports.

Because the runs' clocks come from separate sittings, `--time-steps K` also times K training steps of each run's
final configuration side by side in this process (one thread, round-robin: one timed step of each per round, on the
same random batch), so load from other jobs hits all alike; `side_by_side` then gives the seconds per step and the
time to the reference's FGD recomputed from them (steps x seconds per step).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from glyphgen.atomic import atomic_path
from glyphgen.checkpoint import eval_reports, load, read_config


def exports(run: Path, every: int = 0) -> list[Path]:
    """The run's kept exports in training order: snapshots (only steps divisible by `every` when given), then model/
    (skipped if it is the last snapshot)."""
    snaps = sorted((run / "snapshots").glob("step*")) if (run / "snapshots").is_dir() else []
    if every:
        snaps = [p for p in snaps if int(p.name.removeprefix("step")) % every == 0]
    final = run / "model"
    found = [p for p in snaps if (p / "config.json").is_file()]
    if (final / "config.json").is_file():
        if not found or read_config(found[-1])["step"] != read_config(final)["step"]:
            found.append(final)
    return found


def earlier_eval(folder: Path, n: int) -> dict | None:
    """A `glyphgen eval` report already written for this export with the same n, seed 0 and step, if there is one
    (scoring a dream export costs minutes; the same seed gives the same numbers)."""
    step = read_config(folder)["step"]
    for report in eval_reports(folder):
        if report.is_file():
            r = json.loads(report.read_text())
            if r.get("n") == n and r.get("seed") == 0 and r.get("step") == step and "band" in r:
                return r
    return None


def score(folder: Path, n: int) -> dict:
    cache = folder / f"eval-curve-{n}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    result = earlier_eval(folder, n)
    if result is None:
        from glyphgen.eval.evaluate import evaluate

        result = evaluate(folder, n=n, progress=False)
    m, band = result["metrics"], result["band"]
    point = {
        "export": str(folder),
        "step": result["step"],
        "train_seconds": result["train_seconds"],
        "fgd": round(m["fgd"], 2),
        "precision": round(m["precision"], 3),
        "recall": round(m["recall"], 3),
        "legibility": round(m["legibility"], 4),
        "band_fgd": round(band["fgd"], 2),
        "band_legibility": round(band["legibility"], 4),
        "sampling_seconds_per_image": result["sampling_seconds_per_image"],
    }
    with atomic_path(cache) as tmp:
        tmp.write_text(json.dumps(point, indent=1))
    return point


def first_reaching(curve: list[dict], fgd: float) -> dict | None:
    return next((p for p in curve if p["fgd"] <= fgd), None)


def step_seconds(runs: list[Path], k: int) -> list[float]:
    """Median seconds of one training step (loss, backward, Adam) of each run's final configuration, timed
    round-robin at one thread on one random batch of the run's batch size."""
    torch.set_num_threads(1)
    steps = []
    for run in runs:
        method, meta = load(exports(run)[-1])  # its trained weights: a step costs the same as from a fresh init
        method.train()
        x = torch.rand(meta["train"]["batch_size"], *meta["image_shape"], generator=torch.Generator().manual_seed(0))
        opts = [torch.optim.Adam(ps, **method.optimizer_options(g)) for g, ps in method.param_groups().items()]

        def step(method=method, opts=opts, x=x):
            for opt in opts:
                opt.zero_grad()
            losses, _ = method.loss(x, None, 0)
            sum(losses.values()).backward()
            for opt in opts:
                opt.step()

        step()  # warm-up
        steps.append(step)
    times = [[] for _ in runs]
    for _ in range(k):
        for i, step in enumerate(steps):
            t = time.perf_counter()
            step()
            times[i].append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders; the first is the reference")
    ap.add_argument("--n", type=int, default=1000, help="samples per evaluation")
    ap.add_argument("--every", type=int, default=0, help="score only snapshots whose step is a multiple of this")
    ap.add_argument("--time-steps", type=int, default=0, help="also time this many steps of each, side by side")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()
    result = {"n": args.n, "runs": {}}
    for run in args.runs:
        points = exports(run, args.every)
        if not points:
            sys.exit(f"error: {run} has no exports (model/ or snapshots/)")
        curve = []
        for folder in points:
            curve.append(score(folder, args.n))
            print(json.dumps(curve[-1]), file=sys.stderr)
        result["runs"][run.name] = {"curve": curve, "final_fgd": curve[-1]["fgd"]}
    ref_name = args.runs[0].name
    ref = result["runs"][ref_name]["curve"][-1]
    for run in list(result["runs"].values())[1:]:
        hit = first_reaching(run["curve"], ref["fgd"])
        run["reaches_reference_fgd"] = None
        if hit:
            run["reaches_reference_fgd"] = {
                "step": hit["step"],
                "train_seconds": hit["train_seconds"],
                "time_ratio_to_reference": round(hit["train_seconds"] / ref["train_seconds"], 3),
            }
    result["reference"] = {"run": ref_name, "fgd": ref["fgd"], "train_seconds": ref["train_seconds"]}
    if args.time_steps:
        secs = step_seconds(args.runs, args.time_steps)
        side = {"steps_timed": args.time_steps, "threads": 1, "seconds_per_step": {}}
        for run, sec in zip(args.runs, secs, strict=True):
            side["seconds_per_step"][run.name] = round(sec, 4)
        ref_time = ref["step"] * secs[0]
        for (name, run), sec in zip(list(result["runs"].items())[1:], secs[1:], strict=True):
            hit = run["reaches_reference_fgd"]
            if hit:
                side[name] = {
                    "seconds_to_reference_fgd": round(hit["step"] * sec, 1),
                    "reference_seconds": round(ref_time, 1),
                    "time_ratio_to_reference": round(hit["step"] * sec / ref_time, 4),
                }
        result["side_by_side"] = side
    text = json.dumps(result, indent=1)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
