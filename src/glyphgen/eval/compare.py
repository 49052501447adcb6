"""`glyphgen compare`: evaluate several models the same way and put them side by side in one report.

Every model is sampled with the same seeds and scored against its reference (by default its own training data) with
its own real-data band; the comparison table shows each score beside that band, with sampling time per image,
parameter count and training time, and the sample grids side by side (markdown and HTML).
"""

from __future__ import annotations

from pathlib import Path

from glyphgen.errors import GlyphgenError


def model_names(models: list[str | Path]) -> list[str]:
    """Readable, unique names: the run folder's name (not `model/`), suffixed -2, -3 ... on clashes."""
    names, seen = [], {}
    for m in models:
        p = Path(m).resolve()
        name = p.parent.name if p.name == "model" else p.name
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return names


def compare(
    models: list,
    n: int = 2000,
    ref: str = "train",
    out="report",
    seed: int = 0,
    recognizer=None,
    progress: bool = True,
    **sample_options,
) -> Path:
    """Evaluate each model into <out>/<name>/ and write <out>/report.md, report.html, comparison.json."""
    from glyphgen.eval.evaluate import evaluate
    from glyphgen.eval.report import write_comparison
    from glyphgen.generate import applicable_options, resolve_model

    if len(models) < 1:
        raise GlyphgenError("give at least one model to compare")
    out = Path(out)
    results, folders = [], []
    for model, name in zip(models, model_names(models), strict=True):
        options = applicable_options(resolve_model(model), sample_options)  # e.g. --steps for diffusion models only
        result = evaluate(
            model, n=n, ref=ref, out=out / name, seed=seed, recognizer=recognizer, progress=progress, **options
        )
        result["name"] = name
        results.append(result)
        folders.append(out / name)
    return write_comparison(results, folders, out)
