"""Metric sanity on real KanjiVG glyphs: FGD of a set against itself is ~0 and grows with noise and blur;
precision/recall of a set against itself is 1; novelty flags copies of training glyphs and passes held-out ones."""

import pytest
import torch
import torch.nn.functional as F

from glyphgen.errors import GlyphgenError
from glyphgen.eval import metrics as M


def _noisy(x, sigma):
    g = torch.Generator().manual_seed(0)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def _blurred(x, k):
    return F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)


def test_fgd_is_zero_on_itself_and_grows_with_noise_and_blur(kanji, features):
    x = kanji.to_float()[:300]
    f = features(x)
    assert M.fgd(features, f, f) < 1e-3
    by_noise = [M.fgd(features, f, _noisy(x, s)) for s in (0.05, 0.15, 0.3, 0.5)]
    by_blur = [M.fgd(features, f, _blurred(x, k)) for k in (3, 5, 7)]
    assert by_noise == sorted(by_noise) and by_noise[0] > 1e-3, by_noise
    assert by_blur == sorted(by_blur) and by_blur[0] > 1e-3, by_blur
    assert M.fgd(features, x, _noisy(x, 0.5)) == pytest.approx(by_noise[-1], rel=1e-4)  # glyphs or features alike


def test_kid_is_small_on_itself_and_grows_with_noise(kanji, features):
    f = features(kanji.images[:300])
    same, _ = M.kid(features, f, f)
    noisy, _ = M.kid(features, f, features(_noisy(kanji.to_float()[:300], 0.3)))
    assert abs(same) < 0.1 * noisy


def test_precision_recall_of_a_set_against_itself_is_one(kanji, features):
    f = features(kanji.images[:300])
    assert M.precision_recall(f, f) == {"precision": 1.0, "recall": 1.0}
    far = M.precision_recall(f, features(_noisy(kanji.to_float()[:300], 0.5)))
    assert far["precision"] < 0.5


def test_novelty_flags_copies_and_passes_heldout_glyphs(kanji, features):
    sets = {"train": kanji.images[:300], "calibrate": kanji.images[300:450], "heldout": kanji.images[450:]}
    s = {k: {"pixel": M.pixels(v), "feature": features(v)} for k, v in sets.items()}
    thresholds = M.novelty_thresholds(s["train"], s["calibrate"])
    copies = {k: v[:100] for k, v in s["train"].items()}
    assert M.novelty(copies, s["train"], thresholds)["novel"] == 0.0
    held = M.novelty(s["heldout"], s["train"], thresholds)
    assert held["pixel"] >= 0.85 and held["feature"] >= 0.85 and held["novel"] >= 0.9, held


def test_too_few_samples_say_how_many_are_needed(kanji, features):
    need = features.num_features + 1
    f = features(kanji.images[: need - 1])
    with pytest.raises(GlyphgenError, match=f"at least {need}"):
        M.fgd(features, f, f)
    with pytest.raises(GlyphgenError, match="at least 50"):
        M.kid(features, f[:20], f[:20])


def test_features_reject_other_channel_counts(features):
    with pytest.raises(GlyphgenError, match="3 channels"):
        features(torch.rand(4, 3, 32, 32))
