"""CVAE family: tiny 16 px models plus the faithful 28 px / 36-class layer sizes; style transfer and recognition."""

import pytest
import torch

from glyphgen.errors import GlyphgenError
from glyphgen.methods.cvae import CVAE, CVAEConfig

SHAPE, K = (1, 16, 16), 4


def tiny(**options) -> CVAE:
    torch.manual_seed(0)
    return CVAE(CVAEConfig(latent=4, width=4, hidden=8, **options), SHAPE, num_classes=K)


def glyphs(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Blocky binary 'glyphs' (n, 1, 16, 16) in {0, 1} and labels 0..K-1."""
    g = torch.Generator().manual_seed(1)
    x = torch.nn.functional.interpolate((torch.rand(n, 1, 4, 4, generator=g) > 0.5).float(), scale_factor=4)
    return x, torch.arange(n) % K


@pytest.mark.parametrize("decoder_labels", ["predicted", "onehot"])
def test_loss_finite_and_decreases_when_overfitting_one_batch(decoder_labels):
    model, (x, y) = tiny(decoder_labels=decoder_labels, steps_per_epoch=10), glyphs()
    opt = torch.optim.Adam(model.param_groups()["model"], lr=1e-2)

    def evaluate():
        torch.manual_seed(123)
        return model.loss(x, y, 0)[0]["model"].item()

    before = evaluate()
    assert torch.isfinite(torch.tensor(before))
    for step in range(40):
        losses, logs = model.loss(x, y, step)
        opt.zero_grad()
        losses["model"].backward()
        opt.step()
    assert logs["kl_weight"] > 0  # the warm-up has started
    assert evaluate() < 0.8 * before


def test_kl_warmup_schedules():
    stair = tiny(steps_per_epoch=100, kl_per_epoch=0.001)
    assert [stair.kl_weight(s) for s in (0, 99, 100, 250)] == pytest.approx([0, 0, 0.001, 0.002])
    linear = tiny(steps_per_epoch=100, kl_per_epoch=0.01, kl_warmup="linear", kl_max=0.02)
    assert [linear.kl_weight(s) for s in (0, 50, 100, 10_000)] == pytest.approx([0, 0.005, 0.01, 0.02])


def test_samples_shape_range_and_per_seed():
    model = tiny()
    labels = torch.tensor([0, 3, 1])
    batch = model.sample([5, 6, 7], labels)
    assert batch.shape == (3, *SHAPE) and 0 <= batch.min() and batch.max() <= 1
    torch.testing.assert_close(model.sample([6], labels[1:2])[0], batch[1], atol=1e-6, rtol=0)
    assert not torch.allclose(model.sample([1], [2]), model.sample([2], [2]))
    assert model.sample([1, 2]).shape == (2, *SHAPE)  # labels drawn from the seeds
    with pytest.raises(GlyphgenError):
        model.sample([1], [K])


def test_recognize_and_write():
    model, (x, _) = tiny(), glyphs(2)
    label, confidence = model.recognize(x)
    assert label.shape == (2,) and ((0 <= label) & (label < K)).all()
    assert ((0 < confidence) & (confidence <= 1)).all()

    wanted = [0, 1, 2, 3, 1]
    averaged = model.write(x, wanted)
    assert averaged.shape == (5, *SHAPE) and 0 <= averaged.min() and averaged.max() <= 1
    per_glyph = model.write(x, wanted, average=False)
    assert not torch.allclose(averaged, per_glyph)
    # Per-glyph output k uses style image k mod 2; one style image alone gives the same pictures.
    torch.testing.assert_close(per_glyph[2], model.write(x[0], [2])[0], atol=1e-6, rtol=0)
    noisy = model.write(x, wanted, temperature=1.0, seeds=[1, 2, 3, 4, 5])
    assert not torch.allclose(noisy, averaged)
    with pytest.raises(GlyphgenError):
        model.write(x, [K])
    with pytest.raises(GlyphgenError):
        model.write(torch.rand(1, 1, 28, 28), [0])


def test_faithful_layer_sizes_at_28px_36_classes():
    model = CVAE(CVAEConfig(), (1, 28, 28), num_classes=36)
    enc, dec = model.encoder, model.decoder
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride) for m in enc.features[::2][:2]] == [
        (1, 32, (4, 4), (2, 2)),
        (32, 32, (4, 4), (2, 2)),
    ]
    assert enc.features(torch.zeros(1, 1, 28, 28)).shape == (1, 1568)
    assert [(m.in_features, m.out_features) for m in enc.classifier[::2]] == [(1568, 128), (128, 36)]
    assert (enc.mu.in_features, enc.mu.out_features) == (enc.logvar.in_features, enc.logvar.out_features) == (1568, 64)
    assert (dec.from_z.in_features, dec.from_z.out_features) == (64, 1568)
    assert [(m.in_features, m.out_features) for m in dec.from_class[::2]] == [(36, 128), (128, 1568)]
    assert dec(torch.zeros(2, 64), torch.zeros(2, 36)).shape == (2, 1, 28, 28)
    cfg = model.config
    assert (cfg.ce_weight, cfg.kl_per_epoch, cfg.kl_warmup, cfg.decoder_labels, cfg.lr) == (
        0.1,
        0.001,
        "staircase",
        "predicted",
        1e-3,
    )


def test_user_errors():
    with pytest.raises(GlyphgenError):
        CVAE(CVAEConfig(), (1, 28, 28), num_classes=0)
    with pytest.raises(GlyphgenError):
        CVAEConfig(kl_warmup="cosine")
    with pytest.raises(GlyphgenError):
        CVAEConfig(decoder_labels="soft")
    with pytest.raises(GlyphgenError):
        tiny().loss(glyphs()[0], None, 0)
