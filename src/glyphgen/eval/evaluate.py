"""`glyphgen eval <model>`: sample a model, score it against reference glyphs, and read every score against the
real-data band.

The reference set (`--ref`) is split at random into two disjoint halves A and B. The model's N samples are scored
against A; the real-data band is the same metrics with B's first N glyphs in place of the samples, so each score has
the value real unseen glyphs get as its floor (or ceiling). N is the smaller of `--n` and |B|, the same for both.
Novelty looks for each glyph's nearest neighbour in the whole reference (by default the model's own training data),
with the threshold calibrated on B against A.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from glyphgen.config import DataConfig, from_dict, load_yaml
from glyphgen.errors import GlyphgenError
from glyphgen.eval import metrics as M
from glyphgen.eval.features import GlyphFeatures, check_glyphs, load_features

REF_NAMES = ("train", "kanjivg", "font", "digits")  # besides a YAML file of data options
# The fewest samples (and glyphs per reference half) scored: precision/recall look at 3 neighbours. FGD and KID need
# more than the recogniser's feature dimensions per set (257) and are left out below that, with a note.
MIN_SAMPLES = 16


def resolve_reference(ref: str, meta: dict) -> DataConfig:
    """`--ref`: "train" (the model's own training data), a data source name at the model's size ("kanjivg",
    "font", "digits"), or a YAML file of data options (a mapping, or a run config with a `data:` section)."""
    size = meta["image_shape"][-1]
    if ref == "train":
        if not meta.get("data"):
            raise GlyphgenError("this model's config.json does not say what data it was trained on; pass --ref")
        return from_dict(DataConfig, meta["data"])
    if ref in REF_NAMES:
        return DataConfig(source=ref, size=size)
    if ref.endswith((".yaml", ".yml")) or Path(ref).is_file():
        data = load_yaml(ref)
        return from_dict(DataConfig, data.get("data", data))  # a run config, or the data options alone
    raise GlyphgenError(
        f"unknown reference dataset {ref!r}; use {', '.join(REF_NAMES)} or a YAML file of data options "
        "(source, charset, size, ...)"
    )


def split_halves(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random halves of range(n)."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[: n // 2]), perm[n // 2 :]


@torch.no_grad()
def sample_model(method, n: int, seed: int, num_classes: int, batch_size: int = 64, progress=True, **options):
    """n samples (uint8 (n, C, H, W)), their labels (random classes of conditional models, else None), and seconds
    per image. Image k uses seed + k, so it does not depend on the batch size."""
    from tqdm import tqdm

    labels = None
    if num_classes:
        labels = torch.from_numpy(np.random.default_rng(seed).integers(num_classes, size=n))
    out = []
    t0 = time.perf_counter()
    for s in tqdm(range(0, n, batch_size), desc="sampling", unit="batch", disable=not progress):
        seeds = list(range(seed + s, seed + min(n, s + batch_size)))
        y = labels[s : s + len(seeds)] if labels is not None else None
        x = method.sample(seeds, y, **options)
        out.append((x.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu())
    seconds = (time.perf_counter() - t0) / max(n, 1)
    return torch.cat(out).numpy(), (None if labels is None else labels.numpy()), seconds


def score(features: GlyphFeatures, a: dict, fake: dict, ref: dict, thresholds: dict) -> dict:
    """FGD, KID, precision/recall of `fake` against half `a`; novelty against `ref` (each a dict of "pixel" and
    "feature" arrays: the glyphs' scaled pixels and recogniser features). FGD and KID are None for sets too small
    for the recogniser's feature covariance (a small custom reference); the other scores need no covariance."""
    need = M.min_samples(features.num_features)
    full = len(a["feature"]) >= need and len(fake["feature"]) >= need
    kid_mean, kid_std = M.kid(features, a["feature"], fake["feature"]) if full else (None, None)
    nov = M.novelty(fake, ref, thresholds)
    return {
        "fgd": M.fgd(features, a["feature"], fake["feature"]) if full else None,
        "kid": kid_mean,
        "kid_std": kid_std,
        **M.precision_recall(a["feature"], fake["feature"]),
        "novelty": nov["novel"],
        "novelty_pixel": nov["pixel"],
        "novelty_feature": nov["feature"],
        "legibility": M.legibility(features, fake["feature"]),
        "_nov": nov,
    }


def evaluate(
    model,
    n: int = 2000,
    ref: str = "train",
    out: str | Path | None = None,
    seed: int = 0,
    recognizer: str | Path | None = None,
    progress: bool = True,
    **sample_options,
) -> dict:
    """Score an exported model (or a run folder) and write metrics.json + report.md + figures into `out`."""
    from glyphgen.checkpoint import load
    from glyphgen.data.dataset import load as load_data
    from glyphgen.eval.recognizer import heldout_top1
    from glyphgen.generate import resolve_model

    folder = resolve_model(model)
    method, meta = load(folder)
    shape = tuple(meta["image_shape"])
    check_glyphs((1, *shape), f"{meta['family']} model {folder}'s images")
    sample_options = {k: v for k, v in sample_options.items() if v is not None}
    method.sample_options(**sample_options)  # an option the family lacks is an error now, not after the data
    features, rec_meta = load_features(recognizer)
    data_cfg = resolve_reference(ref, meta)
    glyphs = load_data(data_cfg, progress=progress)
    if glyphs.shape != shape:
        c, h, w = glyphs.shape
        raise GlyphgenError(
            f"the model makes {shape[0]}x{shape[1]}x{shape[2]} images but the reference data is {c}x{h}x{w}; "
            f"pass --ref with size {shape[1]} and {shape[0]} channel(s)"
        )
    if n < MIN_SAMPLES:
        raise GlyphgenError(f"too few samples: --n {n}; use --n {MIN_SAMPLES} or more (2000 is usual)")
    if len(glyphs) < 2 * MIN_SAMPLES:
        raise GlyphgenError(
            f"too few reference glyphs: {len(glyphs)}; the real-data band splits them in two halves of at least "
            f"{MIN_SAMPLES} each, so the reference needs {2 * MIN_SAMPLES} or more"
        )
    a, b = split_halves(len(glyphs), seed)
    n_used = min(n, len(b))

    fake, labels, sec_per_image = sample_model(
        method, n_used, seed, meta.get("num_classes", 0), progress=progress, **sample_options
    )
    # Every glyph goes through the recogniser once; the metrics take its features (FGD/KID via the same module).
    ref_all = {"pixel": M.pixels(glyphs.images), "feature": features(glyphs.images)}
    half_a = {k: v[a] for k, v in ref_all.items()}
    half_b = {k: v[b] for k, v in ref_all.items()}
    band_set = {k: v[:n_used] for k, v in half_b.items()}
    fake_set = {"pixel": M.pixels(fake), "feature": features(fake)}
    thresholds = M.novelty_thresholds(half_a, half_b)
    model_scores = score(features, half_a, fake_set, ref_all, thresholds)
    band = score(features, half_a, band_set, half_a, thresholds)  # B's own copies in the reference would be found
    rec_classes = rec_meta["classes"]
    if meta.get("num_classes"):
        model_scores["accuracy"] = M.recognised(features, fake_set["feature"], labels, meta["classes"], rec_classes)
    band["accuracy"] = M.recognised(
        features, band_set["feature"], glyphs.labels[b[:n_used]], glyphs.classes, rec_classes
    )

    result = {
        "model": str(folder),
        "family": meta["family"],
        "image_shape": list(shape),
        "conditional": bool(meta.get("num_classes")),
        "step": meta.get("step"),
        "train_seconds": meta.get("train_seconds"),
        "parameters": sum(p.numel() for p in method.parameters()),
        "sampling_seconds_per_image": sec_per_image,
        "sample_options": sample_options,
        "n": n_used,
        "n_requested": n,
        "seed": seed,
        "reference": {"spec": ref, "data": asdict(data_cfg), "glyphs": len(glyphs), "half_a": len(a)},
        "recognizer": {
            "path": str(recognizer or "shipped"),
            "heldout_top1": heldout_top1(rec_meta),
            "num_features": features.num_features,
        },
        "novelty_quantile": M.NOVELTY_QUANTILE,
        "thresholds": thresholds,
        "metrics": {k: v for k, v in model_scores.items() if not k.startswith("_")},
        "band": {k: v for k, v in band.items() if not k.startswith("_")},
    }
    if out is not None:
        from glyphgen.eval.report import write_report

        write_report(
            result,
            Path(out),
            fake=fake,
            real=glyphs.images[b[:n_used]],
            reference=glyphs.images,
            nov=model_scores["_nov"],
            band_nov=band["_nov"],
        )
    return result


def save_json(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
