"""Evaluation reports: metrics.json, a markdown page, matplotlib plots and glyph grids.

One model (`write_report`) gets its scores beside the real-data band, a grid of samples and one of real glyphs, a
novelty grid (samples above the training glyphs nearest to them, in pixels and in features) and histograms of those
nearest-neighbour distances against the held-out real glyphs'. A comparison (`write_comparison`) puts several models'
rows in one table with their grids side by side, as markdown and as a self-contained HTML page.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np

from glyphgen.images import save_grid

# (key, label, which way is better, format)
ROWS = [
    ("fgd", "FGD (Fréchet glyph distance)", "lower", "{:.2f}"),
    ("kid", "KID x1000", "lower", "{:.2f}"),
    ("precision", "precision (k=3)", "higher", "{:.3f}"),
    ("recall", "recall (k=3)", "higher", "{:.3f}"),
    ("novelty", "novelty (not a copy)", "higher, if precise", "{:.3f}"),  # noise is novel too
    ("novelty_pixel", "novelty, pixel space", "higher, if precise", "{:.3f}"),
    ("novelty_feature", "novelty, feature space", "higher, if precise", "{:.3f}"),
    ("legibility", "legibility (recogniser p > 0.5)", "higher", "{:.3f}"),
    ("accuracy", "conditional accuracy (recogniser top-1)", "higher", "{:.3f}"),
]


def _value(scores: dict, key: str):
    v = scores.get(key)
    if isinstance(v, dict):
        v = v.get("top1")
    if v is None:
        return None
    return v * 1000 if key == "kid" else v


def _fmt(v, fmt: str) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt.format(v)


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def distance_plot(nov: dict, band_nov: dict, path: Path) -> Path:
    """Histograms of nearest-reference distances, samples vs held-out real glyphs, with the novelty thresholds."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, space in zip(axes, ("pixel", "feature"), strict=True):
        fake = nov[f"{space}_distance"].numpy()
        real = band_nov[f"{space}_distance"].numpy()
        bins = np.linspace(0, max(fake.max(), real.max()) * 1.02 + 1e-9, 40)
        ax.hist(real, bins=bins, alpha=0.6, label="held-out real", color="tab:blue")
        ax.hist(fake, bins=bins, alpha=0.6, label="samples", color="tab:orange")
        ax.axvline(nov["thresholds"][space], color="k", ls="--", lw=1, label="threshold")
        ax.set_xlabel(f"distance to nearest reference glyph ({space})")
        ax.set_ylabel("glyphs")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def metrics_plot(result: dict, path: Path) -> Path:
    """Bars of the [0, 1] scores, model beside the real-data band."""
    plt = _plt()
    keys = [k for k, *_ in ROWS if k not in ("fgd", "kid") and _value(result["metrics"], k) is not None]
    x = np.arange(len(keys))
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(keys)) + 1.5, 3))
    ax.bar(x - 0.2, [_value(result["metrics"], k) for k in keys], 0.4, label="model")
    ax.bar(x + 0.2, [_value(result["band"], k) or 0 for k in keys], 0.4, label="real-data band")
    ax.set_xticks(x, [k.replace("_", "\n") for k in keys], fontsize=8)
    ax.set_ylim(0, 1.05)
    fgd, band = result["metrics"]["fgd"], result["band"]["fgd"]
    title = "FGD: too few glyphs" if fgd is None else f"FGD {fgd:.2f} (real band {band:.2f})"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, never over them
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def novelty_grid(fake: np.ndarray, reference: np.ndarray, nov: dict, path: Path, columns: int = 16) -> Path:
    """Row 1: samples (the half nearest to the training glyphs, then random ones); row 2: each one's nearest
    reference glyph in pixels; row 3: in recogniser features. Copies show up as identical columns."""
    d = nov["pixel_distance"].numpy()
    closest = list(np.argsort(d)[: columns // 2])
    rest = [i for i in np.random.default_rng(0).permutation(len(fake)) if i not in set(closest)]
    pick = np.array((closest + rest)[:columns])
    rows = [fake[pick], reference[nov["pixel_index"].numpy()[pick]], reference[nov["feature_index"].numpy()[pick]]]
    return save_grid(np.concatenate(rows), path, nrow=len(pick), scale=2 if fake.shape[-1] <= 32 else 1)


def markdown_table(result: dict) -> str:
    lines = ["| metric | model | real-data band | better |", "|---|---|---|---|"]
    for key, label, better, fmt in ROWS:
        v, b = _value(result["metrics"], key), _value(result["band"], key)
        if v is None and key == "accuracy":
            continue
        lines.append(f"| {label} | {_fmt(v, fmt)} | {_fmt(b, fmt)} | {better} |")
    return "\n".join(lines)


def _clean(obj):
    """JSON-safe copy (tensors and numpy scalars out)."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return obj.item()
    return obj


def write_report(result: dict, out: Path, fake, real, reference, nov: dict, band_nov: dict) -> Path:
    """metrics.json, report.md, samples.png, real.png, novelty.png, distances.png, metrics.png in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    scale = 2 if fake.shape[-1] <= 32 else 1
    save_grid(fake[:64], out / "samples.png", scale=scale)
    save_grid(real[:64], out / "real.png", scale=scale)
    novelty_grid(fake, reference, nov, out / "novelty.png")
    distance_plot(nov, band_nov, out / "distances.png")
    metrics_plot(result, out / "metrics.png")
    (out / "metrics.json").write_text(json.dumps(_clean(result), indent=2, ensure_ascii=False), encoding="utf-8")
    r = result
    ref = r["reference"]
    c, h, w = r["image_shape"]
    opts = ", ".join(f"{k}={v}" for k, v in r["sample_options"].items()) or "model defaults"
    rec = r["recognizer"]
    rec_acc = f"{rec['heldout_top1']:.3f}" if rec["heldout_top1"] is not None else "unknown"
    text = f"""# Evaluation: {r["family"]} model

`{r["model"]}` — {c}x{h}x{w}, {"conditional" if r["conditional"] else "unconditional"}, step {r["step"]},
{r["parameters"]:,d} parameters, {_fmt(r["train_seconds"], "{:.0f}")} s of training; sampling
{r["sampling_seconds_per_image"] * 1000:.1f} ms per image ({opts}).

{r["n"]:,d} samples (seeds {r["seed"]}..{r["seed"] + r["n"] - 1}) scored against half A ({ref["half_a"]:,d} glyphs) of
the reference `{ref["spec"]}` ({ref["data"]["source"]}, charset `{ref["data"]["charset"] or "default"}`,
{ref["glyphs"]:,d} glyphs). The **real-data band** is the same metrics for {r["n"]:,d} real glyphs of the other half:
what unseen real glyphs score. Features: the glyph recogniser ({rec["num_features"]}-d embedding; held-out top-1
{rec_acc}).

{markdown_table(r)}

Novelty: a glyph is a copy when its nearest reference glyph is nearer than the {r["novelty_quantile"]:.0%}
quantile of held-out real glyphs' nearest distances (pixel RMS {r["thresholds"]["pixel"]:.4f}, feature
{r["thresholds"]["feature"]:.3f}) in both spaces; novelty is the fraction that is not a copy, and per space the
fraction farther than that space's threshold.

![scores](metrics.png)

| samples | real glyphs (band) |
|---|---|
| ![samples](samples.png) | ![real](real.png) |

**Nearest neighbours** — top row: samples (the left half are those nearest to the reference); middle: each one's
nearest reference glyph in pixels; bottom: in recogniser features. Identical columns are memorised glyphs.

![novelty](novelty.png)

![distances](distances.png)
"""
    (out / "report.md").write_text(text, encoding="utf-8")
    return out / "report.md"


# ------------------------------------------------------------------------------------------------------ comparison


def _name(result: dict) -> str:
    return result.get("name") or Path(result["model"]).parent.name or result["family"]


def comparison_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = ["model", "family", "size", "params", "train s", "ms/image"]
    head += [label.split(" (")[0] for key, label, *_ in ROWS if key not in ("novelty_pixel", "novelty_feature")]
    rows = []
    for r in results:
        c, h, w = r["image_shape"]
        row = [_name(r), r["family"], f"{h}x{w}", f"{r['parameters'] / 1e6:.2f}M", _fmt(r["train_seconds"], "{:.0f}")]
        row.append(f"{r['sampling_seconds_per_image'] * 1000:.1f}")
        for key, _, _, fmt in ROWS:
            if key in ("novelty_pixel", "novelty_feature"):
                continue
            row.append(f"{_fmt(_value(r['metrics'], key), fmt)} ({_fmt(_value(r['band'], key), fmt)})")
        rows.append(row)
    return head, rows


def write_comparison(results: list[dict], folders: list[Path], out: Path) -> Path:
    """report.md + report.html + comparison.json + metrics.png over the evaluated models in `folders`."""
    out.mkdir(parents=True, exist_ok=True)
    head, rows = comparison_rows(results)
    (out / "comparison.json").write_text(json.dumps(_clean(results), indent=2, ensure_ascii=False), encoding="utf-8")
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    names = [_name(r) for r in results]
    for ax, key in zip(axes, ("fgd", "precision", "recall"), strict=True):
        ax.bar(names, [r["metrics"][key] or 0 for r in results], color="tab:orange", label="model")
        ax.scatter(names, [r["band"][key] or 0 for r in results], color="k", marker="_", s=400, label="real band")
        ax.set_title(key)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=110)
    plt.close(fig)
    rel = [Path(f).resolve().relative_to(out.resolve()) if _inside(f, out) else Path(f).resolve() for f in folders]
    md = [
        "# Model comparison",
        "",
        "Each cell: the model's score (the real-data band of its reference in brackets).",
        "",
    ]
    md += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    md += ["", "![metrics](metrics.png)", "", "| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    md += ["| " + " | ".join(f"![{n}]({p / 'samples.png'})" for n, p in zip(names, rel, strict=True)) + " |"]
    md += ["", "Per-model reports: " + ", ".join(f"[{n}]({p / 'report.md'})" for n, p in zip(names, rel, strict=True))]
    (out / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    grids = "".join(
        f"<figure><img src='{html.escape(str(p / 'samples.png'))}'><figcaption>{html.escape(n)}</figcaption></figure>"
        for n, p in zip(names, rel, strict=True)
    )
    page = f"""<!doctype html><meta charset="utf-8"><title>glyphgen model comparison</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px;font-size:13px}}figure{{display:inline-block;margin:8px;text-align:center}}</style>
<h1>Model comparison</h1><p>Each cell: the model's score (the real-data band of its reference in brackets).</p>
<table><tr>{cells}</tr>{body}</table><p><img src="metrics.png"></p><div>{grids}</div>
"""
    (out / "report.html").write_text(page, encoding="utf-8")
    return out / "report.md"


def _inside(path, folder) -> bool:
    try:
        Path(path).resolve().relative_to(Path(folder).resolve())
        return True
    except ValueError:
        return False
