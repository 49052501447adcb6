"""Distribution metrics of generated glyphs in the recogniser's feature space, and their sample-size limits.

    FGD        Fréchet glyph distance: torchmetrics' FrechetInceptionDistance with the recogniser as `feature=`
    KID        kernel distance: torchmetrics' KernelInceptionDistance with the same module (unbiased MMD, cubic kernel)
    precision  fraction of generated glyphs inside the real k-NN manifold; recall the converse (Kynkäänniemi et al.
               2019, "Improved Precision and Recall Metric for Assessing Generative Models", k = 3)
    novelty    fraction of generated glyphs whose nearest reference glyph is farther than a threshold calibrated on
               real held-out glyphs (a low quantile of their nearest-neighbour distances), in pixel and in feature
               space; a glyph within the threshold in both spaces is a copy
    accuracy   recogniser top-1 on class-conditional samples ("is this 永?")

The k-NN metrics are written here with `torch.cdist` (chunked, so 10k x 10k distances never sit in memory at once):
torchmetrics has no generative precision/recall, and the formulas are a few lines.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from glyphgen.errors import GlyphgenError
from glyphgen.eval.features import GlyphFeatures, as_float

K_NN = 3  # neighbourhood size of the precision/recall manifolds (the paper's default)
NOVELTY_QUANTILE = 0.05  # held-out real glyphs closer to the reference than this quantile count as "copies"
MIN_KID = 50  # fewer samples per set make KID's subsets meaningless


def min_samples(num_features: int) -> int:
    """FGD needs more samples than feature dimensions per set, or the covariance is singular."""
    return num_features + 1


def check_count(n: int, num_features: int, what: str) -> None:
    need = min_samples(num_features)
    if n < need:
        raise GlyphgenError(
            f"too few samples for FGD: {what} has {n}; the recogniser's {num_features}-d features need at least "
            f"{need} per set for a full-rank covariance"
        )


def _input(x) -> torch.Tensor:
    """Glyphs -> float [0, 1]; features (2-D) stay as they are."""
    x = torch.as_tensor(x)
    return x.float() if x.ndim == 2 else as_float(x)


def fgd(features: GlyphFeatures, real, fake) -> float:
    """Fréchet distance between recogniser features of `real` and `fake`: glyphs ((N, 1, H, W) uint8 or [0, 1]) or
    their (N, D) features from `features`."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    check_count(len(real), features.num_features, "the real set")
    check_count(len(fake), features.num_features, "the generated set")
    metric = FrechetInceptionDistance(feature=features)
    metric.update(_input(real), real=True)
    metric.update(_input(fake), real=False)
    return max(0.0, float(metric.compute()))  # float round-off can leave a tiny negative for identical sets


def kid(features: GlyphFeatures, real, fake, subset_size: int = 1000, subsets: int = 100, seed: int = 0):
    """(mean, std) of the kernel distance over `subsets` random subsets of min(subset_size, N) glyphs."""
    from torchmetrics.image.kid import KernelInceptionDistance

    n = min(len(real), len(fake))
    if n < MIN_KID:
        raise GlyphgenError(f"too few samples for KID: {n} per set; it needs at least {MIN_KID}")
    with warnings.catch_warnings():  # "will save all extracted features": they are the (N, 256) features, not images
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=features, subsets=subsets, subset_size=min(subset_size, n))
    metric.update(_input(real), real=True)
    metric.update(_input(fake), real=False)
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # the subsets are drawn with torch's global generator
        mean, std = metric.compute()
    return float(mean), float(std)


def nearest(query: torch.Tensor, ref: torch.Tensor, k: int = 1, skip_self: bool = False, chunk: int = 1024):
    """Distances (Q, k) and indices (Q, k) of each query row's k nearest `ref` rows (L2). skip_self: query is ref,
    and each row's zero distance to itself is not counted."""
    dists, idx = [], []
    for s in range(0, len(query), chunk):
        d = torch.cdist(query[s : s + chunk].double(), ref.double())
        if skip_self:
            d[torch.arange(d.shape[0]), torch.arange(s, s + d.shape[0])] = float("inf")
        v, i = d.topk(k, dim=1, largest=False)
        dists.append(v.float())
        idx.append(i)
    return torch.cat(dists), torch.cat(idx)


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """For each point: is it within radius of any centre?"""
    out = []
    for s in range(0, len(points), chunk):
        d = torch.cdist(points[s : s + chunk].double(), centres.double())
        out.append((d <= radii.double()[None, :]).any(1))
    return torch.cat(out)


def precision_recall(real_feats: torch.Tensor, fake_feats: torch.Tensor, k: int = K_NN) -> dict[str, float]:
    """Kynkäänniemi et al. (2019): each set's manifold is the union of balls reaching each point's k-th neighbour."""
    if min(len(real_feats), len(fake_feats)) <= k:
        raise GlyphgenError(f"too few samples for precision/recall: each set needs more than k = {k}")
    r_real = nearest(real_feats, real_feats, k, skip_self=True)[0][:, -1]
    r_fake = nearest(fake_feats, fake_feats, k, skip_self=True)[0][:, -1]
    precision = _inside(fake_feats, real_feats, r_real).float().mean()
    recall = _inside(real_feats, fake_feats, r_fake).float().mean()
    return {"precision": float(precision), "recall": float(recall)}


def pixels(images) -> torch.Tensor:
    """(N, C, H, W) -> (N, C*H*W) in [0, 1] scaled by 1/sqrt(C*H*W): L2 distances become RMS pixel differences,
    comparable across image sizes."""
    x = as_float(images).flatten(1)
    return x / x.shape[1] ** 0.5


def novelty_thresholds(train: dict, held: dict, quantile: float = NOVELTY_QUANTILE) -> dict[str, float]:
    """Per space ("pixel", "feature"): the `quantile` of held-out real glyphs' distances to their nearest `train`
    glyph. A real glyph the model never saw is that close to the training set only `quantile` of the time."""
    return {space: float(torch.quantile(nearest(held[space], train[space])[0][:, 0], quantile)) for space in held}


def novelty(samples: dict, train: dict, thresholds: dict) -> dict:
    """Fraction of samples farther than the threshold from every training glyph, per space, and (key "novel") the
    fraction that is not a copy: a copy lies within the threshold of a training glyph in both spaces. Either space
    alone misleads: a blurry grey blob sits close, in pixels, to many glyphs (as a VAE's early samples do), and
    features ignore small differences that make a new character."""
    result, copy = {"thresholds": thresholds}, None
    for space in ("pixel", "feature"):
        d, i = nearest(samples[space], train[space])
        novel = d[:, 0] > thresholds[space]
        result[space] = float(novel.float().mean())
        result[f"{space}_distance"] = d[:, 0]
        result[f"{space}_index"] = i[:, 0]
        copy = ~novel if copy is None else copy & ~novel
    result["novel"] = float((~copy).float().mean())
    return result


def class_map(chars: list[str], recognizer_classes: list[str]) -> np.ndarray:
    """Model/dataset class -> recogniser class index, -1 where the recogniser does not know the character."""
    index = {c: i for i, c in enumerate(recognizer_classes)}
    return np.array([index.get(c, -1) for c in chars], dtype=np.int64)


def recognised(features: GlyphFeatures, images, labels, chars: list[str], recognizer_classes: list[str]) -> dict:
    """Recogniser top-1 against the intended characters (`labels` index `chars`), over the characters it knows."""
    target = class_map(chars, recognizer_classes)[np.asarray(labels)]
    known = target >= 0
    if not known.any():
        return {"top1": None, "n": 0, "coverage": 0.0}
    pred = features.logits(_input(images)[torch.from_numpy(known)]).argmax(1).numpy()
    return {"top1": float((pred == target[known]).mean()), "n": int(known.sum()), "coverage": float(known.mean())}


def legibility(features: GlyphFeatures, images, min_prob: float = 0.5) -> float:
    """Fraction of glyphs the recogniser names with probability above `min_prob` (whatever the character)."""
    probs = features.logits(_input(images)).softmax(1)
    return float((probs.max(1).values > min_prob).float().mean())
