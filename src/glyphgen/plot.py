"""`glyphgen plot RUN`: a run's training curves (loss and every other logged number against steps) from its
metrics.jsonl, as one PNG: each curve's raw points faint, an exponential moving average over them drawn on top."""

from __future__ import annotations

import json
from pathlib import Path

from glyphgen.errors import GlyphgenError

SKIP = {"step", "elapsed_s"}  # the x axis and the clock are not curves


def read_metrics(run: str | Path) -> list[dict]:
    """The records of a run's metrics.jsonl (a broken last line, from a run killed while writing, is skipped)."""
    path = Path(run) / "metrics.jsonl"
    if not path.is_file():
        raise GlyphgenError(f"{run} has no metrics.jsonl; pass a run folder (glyphgen train writes one)")
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "step" in record:
            records.append(record)
    if not records:
        raise GlyphgenError(f"{path} holds no records yet; plot again once the run has logged (every --log-every)")
    return records


def smooth(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased at the start."""
    out, avg = [], 0.0
    for k, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**k))
    return out


def plot(run: str | Path, out: str | Path, keys: list[str] | None = None, weight: float = 0.9) -> Path:
    """Plot `keys` (default: every number the run logs) against steps into the PNG `out`."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    from glyphgen.atomic import atomic_path

    records = read_metrics(run)
    found = [k for k in dict.fromkeys(k for r in records for k in r) if k not in SKIP]
    numeric = [k for k in found if all(isinstance(r.get(k, 0), int | float) for r in records)]
    keys = keys or numeric
    unknown = [k for k in keys if k not in numeric]
    if unknown:
        raise GlyphgenError(f"{run} logs no {unknown[0]!r}; it logs {', '.join(numeric)}")
    if not 0 <= weight < 1:
        raise GlyphgenError(f"smoothing {weight} is out of range; use 0 (none) to below 1")
    fig, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        points = [(r["step"], float(r[key])) for r in records if key in r]
        steps, values = zip(*points, strict=True)
        ax.plot(steps, values, color="tab:blue", alpha=0.25, linewidth=0.8)
        ax.plot(steps, smooth(list(values), weight), color="tab:blue", linewidth=1.5)
        if key.startswith("loss") and min(values) > 0:
            ax.set_yscale("log")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    axes[0, 0].set_title(f"{Path(run).name}: {records[-1]['step']:,} steps")
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return out
