"""GAN family: tiny 16 px models on CPU; D/G step schedule, losses, gradient penalties, EMA and per-seed sampling."""

import pytest
import torch

from glyphgen.errors import GlyphgenError
from glyphgen.methods.gan import GAN, GANConfig

SHAPE = (1, 16, 16)


def tiny(num_classes: int = 0, **options) -> GAN:
    torch.manual_seed(0)
    return GAN(GANConfig(latent=8, base_width=4, d_steps=2, **options), SHAPE, num_classes=num_classes)


def glyphs(n: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.nn.functional.interpolate((torch.rand(n, 1, 4, 4, generator=g) > 0.5).float(), scale_factor=4)


def adams(model: GAN) -> dict[str, torch.optim.Adam]:
    return {k: torch.optim.Adam(ps, **model.optimizer_options(k)) for k, ps in model.param_groups().items()}


def test_param_groups_and_optimizer_options():
    model = tiny()
    groups = model.param_groups()
    assert set(groups) == {"g", "d"}
    ids = {k: {id(p) for p in ps} for k, ps in groups.items()}
    assert ids["g"] == {id(p) for p in model.generator.parameters()} and not ids["g"] & ids["d"]
    assert model.optimizer_options("g")["betas"] == (0.0, 0.99) and model.optimizer_options("g")["lr"] == 1e-4


@pytest.mark.parametrize("loss", ["hinge", "bce", "wgan"])
def test_d_steps_then_one_g_step(loss):
    model, x = tiny(loss=loss), glyphs()
    returned = [set(model.loss(x, None, step)[0]) for step in range(6)]
    assert returned == [{"d"}, {"d"}, {"g"}] * 2
    losses, logs = model.loss(x, None, 0)
    assert torch.isfinite(losses["d"]) and logs["gp"] > 0


def test_d_loss_decreases_on_a_fixed_batch():
    model, x = tiny(), glyphs()
    opt = adams(model)["d"]
    for group in opt.param_groups:
        group["lr"] = 1e-3

    def d_loss():
        torch.manual_seed(7)  # same fake batch each time
        return model.loss(x, None, 0)[0]["d"]

    before = d_loss().item()
    for _ in range(20):
        loss = d_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert d_loss().item() < before - 0.3


def test_g_step_changes_g_only():
    model, x = tiny(num_classes=3), glyphs()
    opts = adams(model)
    g_before = [p.clone() for p in model.generator.parameters()]
    d_before = [p.clone() for p in model.discriminator.parameters()]
    losses, _ = model.loss(x, torch.tensor([0, 1, 2, 0]), 2)
    opts["g"].zero_grad()
    losses["g"].backward()
    assert all(p.grad is None for p in model.discriminator.parameters())  # D gets no gradient from G's loss
    opts["g"].step()
    assert any(not torch.equal(a, b) for a, b in zip(g_before, model.generator.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(d_before, model.discriminator.parameters(), strict=True))


@pytest.mark.parametrize("loss, penalty", [("hinge", "r1"), ("wgan", "interpolated")])
def test_gradient_penalty_positive_and_differentiable(loss, penalty):
    model, x = tiny(loss=loss, penalty=penalty), glyphs() * 2 - 1
    fake = torch.rand_like(x) * 2 - 1
    gp = model.gradient_penalty(x, None, fake)
    assert gp.item() > 0
    gp.backward()
    # Every weight gets a gradient; biases right before the (linear) score cannot change grad_x D, so may get none.
    weights = [p for name, p in model.discriminator.named_parameters() if name.endswith("weight")]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    assert tiny(penalty="none").gradient_penalty(x, None, fake).item() == 0


@pytest.mark.parametrize("num_classes", [0, 3])
def test_samples_shape_range_and_per_seed(num_classes):
    model = tiny(num_classes)
    labels = None if num_classes == 0 else torch.tensor([0, 2, 1])
    batch = model.sample([5, 6, 7], labels)
    assert batch.shape == (3, *SHAPE) and 0 <= batch.min() and batch.max() <= 1
    alone = model.sample([6], None if labels is None else labels[1:2])
    torch.testing.assert_close(alone[0], batch[1], atol=1e-6, rtol=0)
    assert not torch.allclose(batch[0], batch[2])


def test_user_errors():
    with pytest.raises(GlyphgenError):
        GANConfig(loss="lsgan")
    with pytest.raises(GlyphgenError):
        GANConfig(d_steps=0)
    with pytest.raises(GlyphgenError):
        GAN(GANConfig(base_width=4), (1, 28, 28))
    with pytest.raises(GlyphgenError):
        tiny().sample([0], labels=torch.tensor([1]))
    with pytest.raises(GlyphgenError):
        tiny(num_classes=3).sample([0], labels=torch.tensor([3]))


def test_minibatch_stddev_sees_collapse():
    from glyphgen.models.gan import minibatch_stddev

    diverse = torch.randn(8, 3, 4, 4)
    collapsed = diverse[:1].expand(8, 3, 4, 4)
    out = minibatch_stddev(diverse, 4)
    assert out.shape == (8, 4, 4, 4) and torch.equal(out[:, :3], diverse)
    assert out[:, 3].min() > 0.3  # std of unit normals across groups of 4
    assert minibatch_stddev(collapsed, 4)[:, 3].max() < 1e-6  # identical images: nothing to tell apart
    assert minibatch_stddev(torch.randn(6, 3, 4, 4), 4).shape == (6, 4, 4, 4)  # 4 does not divide 6: one group


def test_minibatch_stddev_discriminator_trains():
    model = tiny(mbstd_group=2)
    opts = adams(model)
    x = glyphs(4)
    losses, _ = model.loss(x, None, 0)
    losses["d"].backward()
    opts["d"].step()
    d = model.discriminator
    assert d.last.conv1.in_channels == d.blocks[-1].conv2.out_channels + 1  # features + the stddev channel
    with pytest.raises(GlyphgenError, match="mbstd_group"):
        GANConfig(mbstd_group=-1)
