"""VAE family: tiny 16 px models on CPU; loss, overfitting one batch, per-seed sampling, interpolation."""

import pytest
import torch

from glyphgen.errors import GlyphgenError
from glyphgen.methods.vae import VAE, VAEConfig

SHAPE = (1, 16, 16)


def tiny(**options) -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(latent=8, base_width=4, depth=3, **options), SHAPE)


def glyphs(n: int = 4) -> torch.Tensor:
    """Blocky binary 'glyphs': (n, 1, 16, 16) in {0, 1}, ink high."""
    g = torch.Generator().manual_seed(1)
    return torch.nn.functional.interpolate((torch.rand(n, 1, 4, 4, generator=g) > 0.5).float(), scale_factor=4)


def test_loss_finite_and_decreases_when_overfitting_one_batch():
    model, x = tiny(), glyphs()
    opt = torch.optim.Adam(model.param_groups()["model"], **(model.optimizer_options("model") | {"lr": 3e-3}))

    def evaluate():
        torch.manual_seed(123)  # same reparameterisation noise for both measurements
        return model.loss(x, None, 0)[0]["model"].item()

    before = evaluate()
    assert torch.isfinite(torch.tensor(before))
    for step in range(40):
        losses, logs = model.loss(x, None, step)
        opt.zero_grad()
        losses["model"].backward()
        opt.step()
    assert set(logs) == {"loss", "bce", "kl"}
    assert evaluate() < 0.8 * before


def test_samples_shape_range_and_per_seed():
    model = tiny().eval()
    batch = model.sample([5, 6, 7])
    assert batch.shape == (3, *SHAPE)
    assert 0 <= batch.min() and batch.max() <= 1
    torch.testing.assert_close(model.sample([6])[0], batch[1], atol=1e-6, rtol=0)
    assert not torch.allclose(batch[0], batch[2])
    with pytest.raises(GlyphgenError):
        model.sample([0], labels=torch.tensor([0]))


def test_interpolate_endpoints_are_reconstructions():
    model, x = tiny().eval(), glyphs(2)
    path = model.interpolate(x[0], x[1], steps=5)
    assert path.shape == (5, *SHAPE)
    ends = model.decode(model.encode(x)[0])
    torch.testing.assert_close(path[0], ends[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(path[-1], ends[1], atol=1e-5, rtol=0)
    slerp = model.interpolate(x[0], x[1], steps=3, spherical=True)
    torch.testing.assert_close(slerp[0], ends[0], atol=1e-4, rtol=0)


def test_ganji_default_architecture():
    model = VAE(VAEConfig(), (1, 64, 64))
    enc = model.encoder
    assert len(enc.blocks) == 7 and enc.stem.out_channels == 64 and enc.blocks[-1].conv2.out_channels == 512
    assert enc.head.out_features == 2 * 256


def test_bad_options_are_user_errors():
    with pytest.raises(GlyphgenError):
        VAEConfig(beta=-1.0)
    with pytest.raises(GlyphgenError):
        VAE(VAEConfig(base_width=4), (1, 28, 28))  # not a power of two
    with pytest.raises(GlyphgenError):
        VAE(VAEConfig(base_width=4, depth=2), (1, 64, 64))  # too shallow to reach 4x4
    with pytest.raises(GlyphgenError):
        tiny().encode(torch.rand(1, 3, 16, 16))
    with pytest.raises(GlyphgenError):
        VAE(VAEConfig(base_width=4), SHAPE, num_classes=3)  # conditional generation is the cvae family
