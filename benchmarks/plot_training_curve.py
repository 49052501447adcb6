"""Quality against training time of one run: the `glyphgen eval` reports of its snapshots, as a plot and JSON.

Evaluate snapshots of a run (copies of <run>/model taken while it trains) with the same settings, then:

    .venv/bin/python benchmarks/plot_training_curve.py runs/kanji-ddpm-snaps/eval-step-* --out docs/kanji-ddpm-curve.png

Each point is (training wall-clock minutes from config.json's train_seconds, FGD / precision / recall); the real-data
band of each report is drawn as the floor. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports", nargs="+", type=Path, help="folders holding glyphgen eval's metrics.json")
    ap.add_argument("--out", type=Path, default=Path("curve.png"))
    args = ap.parse_args()
    points = []
    for folder in args.reports:
        path = folder / "metrics.json"
        if not path.is_file():
            continue
        r = json.loads(path.read_text())
        points.append(
            {
                "step": r["step"],
                "minutes": round((r.get("train_seconds") or 0) / 60, 1),
                "n": r["n"],
                **{k: round(r["metrics"][k], 4) for k in ("fgd", "precision", "recall", "novelty")},
                "band_fgd": round(r["band"]["fgd"], 4),
                "band_precision": round(r["band"]["precision"], 4),
            }
        )
    if not points:
        raise SystemExit("error: no metrics.json in the given folders")
    points.sort(key=lambda p: p["minutes"])
    t = [p["minutes"] for p in points]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    a.plot(t, [p["fgd"] for p in points], "o-", label="model")
    a.plot(t, [p["band_fgd"] for p in points], "--", color="grey", label="real-data band")
    a.plot(t, [2 * p["band_fgd"] for p in points], ":", color="grey", label="goal: 2x band")
    a.set(xlabel="training minutes (2-core CPU)", ylabel="FGD", title="FGD (lower is better)")
    a.legend()
    b.plot(t, [p["precision"] for p in points], "o-", label="precision")
    b.plot(t, [p["recall"] for p in points], "s-", label="recall")
    b.axhline(0.7, ls=":", color="C0", label="goal: precision 0.7")
    b.axhline(0.5, ls=":", color="C1", label="goal: recall 0.5")
    b.set(xlabel="training minutes (2-core CPU)", ylim=(0, 1), title="precision / recall")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(json.dumps({"out": str(args.out), "points": points}, indent=2))


if __name__ == "__main__":
    main()
