"""DDPM family: schedule invariants, losses per prediction type, Min-SNR weights, samplers, guidance, errors.

Tiny seeded denoisers at 16 px (tens of thousands of parameters) keep the file fast on a shared 2-core CPU.
"""

import math
import os

import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from glyphgen.errors import GlyphgenError  # noqa: E402
from glyphgen.methods.base import generators  # noqa: E402
from glyphgen.methods.ddpm import (  # noqa: E402
    DDPM,
    DDPMConfig,
    alphas_cumprod,
    ddim_loop,
    guided_prediction,
    min_snr_weight,
    noise_scheduler,
    sample_loop,
    sampler_scheduler,
)

# diffusers' DPM-Solver builds its sigmas with np.array(tensor, copy=False) semantics that numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

SIZE = 16
TINY = dict(widths=(16, 32), blocks=1, attention=(8,))


def make(num_classes=0, seed=0, **options) -> DDPM:
    torch.manual_seed(seed)
    return DDPM(DDPMConfig(**{**TINY, **options}), (1, SIZE, SIZE), num_classes=num_classes)


def glyph_batch(n=4) -> torch.Tensor:
    """(n, 1, 16, 16) in [0, 1]: a few distinct bars and boxes, ink high."""
    x = torch.zeros(n, 1, SIZE, SIZE)
    for i in range(n):
        x[i, 0, 3 + i : 6 + i, 2:14] = 1.0
        x[i, 0, 2:14, 10 - i : 12 - i] = 1.0
    return x


@pytest.fixture(scope="module")
def uncond() -> DDPM:
    return make()


@pytest.fixture(scope="module")
def cond() -> DDPM:
    return make(num_classes=3)


# -- noise schedule ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("timesteps", [1000, 37])
def test_own_alpha_bar_is_diffusers(schedule, timesteps):
    config = DDPMConfig(schedule=schedule, timesteps=timesteps)
    torch.testing.assert_close(alphas_cumprod(config), noise_scheduler(config).alphas_cumprod, rtol=0, atol=0)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
@pytest.mark.parametrize("steps", [1, 2, 4, 7])
def test_own_ddim_is_diffusers_ddim(prediction, steps):
    """The hand DDIM loop that students sample with is diffusers' DDIMScheduler step for step, conditional and
    guided included."""
    model = make(num_classes=3, prediction=prediction).eval()
    x_T = torch.randn(3, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2])
    scheduler = sampler_scheduler("ddim", model.noise)
    scheduler.set_timesteps(steps)
    theirs, t_traj = sample_loop(model.denoise, scheduler, x_T, generators([0, 1, 2]), y, 2.0, 3, True)
    ours, o_traj = ddim_loop(model.denoise, model.alphas_cumprod, steps, x_T, y, 2.0, 3, prediction, True)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert len(o_traj) == len(t_traj) == steps + 1


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_alpha_bar_strictly_decreasing_in_unit_interval(schedule):
    ab = noise_scheduler(DDPMConfig(schedule=schedule)).alphas_cumprod
    assert len(ab) == 1000
    assert bool((ab > 0).all()) and bool((ab < 1).all())
    assert bool((ab[1:] < ab[:-1]).all())


def test_linear_schedule_matches_ho_et_al_and_cosine_differs():
    linear = noise_scheduler(DDPMConfig(schedule="linear"))
    cosine = noise_scheduler(DDPMConfig(schedule="cosine"))
    assert linear.betas[0].item() == pytest.approx(1e-4) and linear.betas[-1].item() == pytest.approx(0.02)
    assert (linear.alphas_cumprod - cosine.alphas_cumprod).abs().max() > 0.1
    # Nichol & Dhariwal's point: the cosine schedule destroys information more slowly in the middle.
    assert cosine.alphas_cumprod[500] > linear.alphas_cumprod[500]


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_add_noise_and_velocity_closed_form(schedule):
    sched = noise_scheduler(DDPMConfig(schedule=schedule))
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(5, 1, 4, 4, generator=g) * 2 - 1, torch.randn(5, 1, 4, 4, generator=g)
    t = torch.tensor([0, 10, 250, 700, 999])
    ab = sched.alphas_cumprod[t].view(-1, 1, 1, 1)
    torch.testing.assert_close(sched.add_noise(x0, eps, t), ab.sqrt() * x0 + (1 - ab).sqrt() * eps)
    torch.testing.assert_close(sched.get_velocity(x0, eps, t), ab.sqrt() * eps - (1 - ab).sqrt() * x0)


# -- training loss ----------------------------------------------------------------------------------------------------


def fixed_draw_loss(method: DDPM, x, y=None, seed=123, repeats=4) -> float:
    """The loss averaged over `repeats` draws of (t, eps) that are the same on every call."""
    torch.manual_seed(seed)
    with torch.no_grad():
        return sum(method.loss(x, y, 0)[0]["model"].item() for _ in range(repeats)) / repeats


def fit_one_batch(method: DDPM, steps: int = 30) -> tuple[float, float]:
    """Train `method` on one glyph batch for `steps` Adam steps; its fixed-draw loss before and after."""
    x = glyph_batch()
    before = fixed_draw_loss(method, x)
    assert math.isfinite(before)
    opt = torch.optim.Adam(method.param_groups()["model"], lr=method.config.lr)
    torch.manual_seed(1)
    for step in range(steps):
        losses, logs = method.loss(x, None, step)
        assert set(losses) == {"model"} and math.isfinite(logs["loss"])
        opt.zero_grad()
        losses["model"].backward()
        opt.step()
    return before, fixed_draw_loss(method, x)


@pytest.mark.parametrize("loss", ["l2", "l1"])
@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_tiny_model_overfits_one_batch(prediction, loss):
    # An even smaller net: on a tiny CPU workload each step is per-op overhead, so fewer layers is what saves time.
    before, after = fit_one_batch(make(prediction=prediction, loss=loss, lr=5e-3, widths=(8, 16), attention=()))
    assert after < 0.65 * before, (before, after)  # measured 0.14 (eps, l2) to 0.54 (v, l1)


def test_min_snr_weight_formula():
    snr = torch.tensor([0.5, 5.0, 50.0])
    torch.testing.assert_close(min_snr_weight(snr, 5.0, "eps"), torch.tensor([1.0, 1.0, 0.1]))
    torch.testing.assert_close(min_snr_weight(snr, 5.0, "x0"), torch.tensor([0.5, 5.0, 5.0]))
    torch.testing.assert_close(min_snr_weight(snr, 5.0, "v"), torch.tensor([0.5 / 1.5, 5 / 6, 5 / 51]))


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_min_snr_changes_the_loss_and_is_neutral_where_the_weight_is_one(uncond, prediction):
    method = make(prediction=prediction)
    x = glyph_batch()
    off = fixed_draw_loss(method, x)
    method.config.min_snr_gamma = 5.0
    assert fixed_draw_loss(method, x) != pytest.approx(off, rel=1e-3)
    if prediction == "eps":  # eps weight min(SNR, gamma) / SNR is 1 once gamma exceeds every SNR (~1e4 at t=0)
        method.config.min_snr_gamma = 1e9
        assert fixed_draw_loss(method, x) == pytest.approx(off, rel=1e-6)


class LabelRecorder(nn.Module):
    """A stand-in denoiser that records the labels it is given."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.seen = []

    def forward(self, x, t, y=None):
        self.seen.append(y)
        return x * self.w


def test_label_dropout_happens_at_the_configured_rate():
    method = make(num_classes=5, cond_drop=0.3)
    method.net = LabelRecorder()
    y = torch.arange(8000) % 5
    torch.manual_seed(0)
    method.loss(torch.zeros(8000, 1, 2, 2), y, 0)
    seen = method.net.seen[0]
    dropped = seen == 5  # the null class
    assert abs(dropped.float().mean().item() - 0.3) < 0.03  # ~6 sigma
    assert torch.equal(seen[~dropped], y[~dropped])


def test_unconditional_model_ignores_labels_in_training():
    method = make(num_classes=0, cond_drop=0.5)
    method.net = LabelRecorder()
    method.loss(torch.zeros(4, 1, 2, 2), torch.arange(4), 0)
    assert method.net.seen == [None]


# -- sampling ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm++"])
def test_sampler_shape_range_determinism_and_batch_independence(uncond, sampler):
    seeds = [11, 22, 33]
    a = uncond.sample(seeds, sampler=sampler, steps=8)
    assert a.shape == (3, 1, SIZE, SIZE) and a.dtype == torch.float32
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, uncond.sample(seeds, sampler=sampler, steps=8))
    alone = uncond.sample([22], sampler=sampler, steps=8)
    # Same noise, so the same image up to float rounding: oneDNN sums convolutions in a batch-size-dependent order
    # (1e-6 per forward here), and x0 = (x_t - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar) amplifies that near t = T.
    torch.testing.assert_close(alone[0], a[1], atol=1e-3, rtol=0)
    assert not torch.allclose(a[0], a[2])


def test_samplers_differ_and_ddpm_defaults_to_all_timesteps():
    method = make(timesteps=30)
    x, trajectory = method.sample([5], sampler="ddpm", return_trajectory=True)
    assert len(trajectory) == 31 and torch.equal(trajectory[-1], x)
    x_ddim = method.sample([5], sampler="ddim", steps=8)
    x_dpm = method.sample([5], sampler="dpm++", steps=8)
    assert not torch.allclose(x_ddim, x_dpm)


def test_sampling_leaves_training_mode_alone(uncond):
    uncond.train()
    uncond.sample([0], steps=2)
    assert uncond.training


@pytest.mark.parametrize(
    "layout",
    [
        dict(widths=(16, 32), blocks=1, attention=(8,), num_classes=3),
        dict(widths=(16, 32, 64), blocks=2, attention=(8,), extra_inputs=1),
        dict(widths=(16, 32), blocks=1, attention=()),
    ],
)
def test_a_diffusers_unet_carried_over_to_the_lean_one_predicts_the_same(layout):
    from glyphgen.models.unet import build_unet

    torch.manual_seed(0)
    theirs = build_unet(1, SIZE, impl="diffusers", head_dim=16, **layout).eval()
    ours = theirs.to_lean().eval()
    x = torch.randn(4, 1 + layout.get("extra_inputs", 0), SIZE, SIZE)
    t, y = torch.tensor([0, 10, 500, 999]), (torch.tensor([0, 1, 2, 3]) if layout.get("num_classes") else None)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, t, y), theirs(x, t, y), atol=1e-5, rtol=1e-5)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_lean_unet_trains_and_samples():
    method = make(num_classes=3, unet="lean")
    losses, _ = method.loss(glyph_batch(), torch.tensor([0, 1, 2, 0]), 0)
    losses["model"].backward()
    x = method.sample([1, 2], torch.tensor([0, 2]), steps=3, guidance=2.0)
    assert x.shape == (2, 1, SIZE, SIZE) and 0 <= x.min() <= x.max() <= 1


# -- classifier-free guidance -----------------------------------------------------------------------------------------


def test_guidance_zero_equals_unconditional_sampling(cond):
    seeds, labels = [3, 4, 5], torch.tensor([0, 1, 2])
    unconditional = cond.sample(seeds, None, sampler="dpm++", steps=6)
    assert torch.equal(cond.sample(seeds, labels, sampler="dpm++", steps=6, guidance=0.0), unconditional)
    conditional = cond.sample(seeds, labels, sampler="dpm++", steps=6, guidance=1.0)
    guided = cond.sample(seeds, labels, sampler="dpm++", steps=6, guidance=3.0)
    assert not torch.allclose(conditional, unconditional)
    assert not torch.allclose(guided, conditional)


def test_guided_prediction_combines_cond_and_uncond_in_one_batch(cond):
    g = torch.Generator().manual_seed(0)
    x, t, y = torch.randn(3, 1, SIZE, SIZE, generator=g), torch.tensor([900, 500, 10]), torch.tensor([0, 1, 2])
    with torch.no_grad():
        c, u = cond.net(x, t, y), cond.net(x, t, torch.full_like(y, 3))
        for w in (0.0, 0.5, 1.0, 4.0):
            torch.testing.assert_close(
                guided_prediction(cond.net, x, t, y, w, 3), u + w * (c - u), atol=1e-5, rtol=1e-4
            )


# -- errors -----------------------------------------------------------------------------------------------------------


def test_unknown_sampler_lists_the_choices(uncond):
    with pytest.raises(GlyphgenError, match="'ddpm', 'ddim', 'dpm\\+\\+'"):
        uncond.sample([0], sampler="euler")


@pytest.mark.parametrize("bad", [[-1], [3], [0, 1, 7]])
def test_labels_out_of_range(cond, bad):
    with pytest.raises(GlyphgenError, match="out of range"):
        cond.sample(list(range(len(bad))), torch.tensor(bad), steps=1)


def test_label_count_must_match_seeds(cond):
    with pytest.raises(GlyphgenError, match="one label per seed"):
        cond.sample([0, 1], torch.tensor([0]), steps=1)


def test_labels_to_unconditional_model(uncond):
    with pytest.raises(GlyphgenError, match="unconditional"):
        uncond.sample([0], torch.tensor([0]), steps=1)


@pytest.mark.parametrize(
    "options, match",
    [
        ({"schedule": "quadratic"}, "'linear', 'cosine'"),
        ({"prediction": "score"}, "'eps', 'x0', 'v'"),
        ({"loss": "huber"}, "'l2', 'l1'"),
        ({"sampler": "euler"}, "'dpm\\+\\+'"),
        ({"cond_drop": 1.0}, "cond_drop"),
        ({"min_snr_gamma": -1.0}, "min_snr_gamma"),
        ({"sample_steps": 0}, "sample_steps"),
    ],
)
def test_bad_config(options, match):
    with pytest.raises(GlyphgenError, match=match):
        DDPMConfig(**options)


def test_bad_steps_at_sampling(uncond):
    with pytest.raises(GlyphgenError, match="steps"):
        uncond.sample([0], sampler="ddim", steps=5000)


# ---- class prototypes ------------------------------------------------------------------------------------------


def test_prototypes_are_area_shrunk_class_means_and_the_null_class_is_blank():
    method = make(num_classes=3, prototype=8)
    x = glyph_batch(4)
    labels = torch.tensor([0, 1, 2, 0])
    method.prepare((x * 255).round().to(torch.uint8), labels)
    assert method.prototypes.shape == (4, 1, 8, 8)
    mean0 = (x[0] + x[3]) / 2
    expected = torch.nn.functional.avg_pool2d(mean0.unsqueeze(0), 2)[0]  # 16 -> 8 px: 2x2 means
    torch.testing.assert_close(method.prototypes[0], expected, atol=1e-3, rtol=0)
    torch.testing.assert_close(method.prototypes[1], torch.nn.functional.avg_pool2d(x[1:2], 2)[0], atol=1e-3, rtol=0)
    assert method.prototypes[3].abs().sum() == 0  # null class


def test_prototype_channel_reaches_the_net_and_is_saved_with_the_weights():
    method = make(num_classes=3, prototype=8).eval()
    x = glyph_batch(3)
    method.prepare((x * 255).to(torch.uint8), torch.arange(3))
    assert method.net.unet.conv_in.in_channels == 2
    x_t, t, y = torch.randn(3, 1, SIZE, SIZE), torch.tensor([10, 500, 900]), torch.tensor([0, 1, 2])
    with torch.no_grad():
        before, null_before = method.denoise(x_t, t, y), method.denoise(x_t, t)
        clone = make(num_classes=3, prototype=8, seed=1).eval()
        clone.load_state_dict(method.state_dict())  # the prototypes travel in the state dict
        torch.testing.assert_close(clone.denoise(x_t, t, y), before)
        method.prototypes[:3] = method.prototypes[:3].roll(1, dims=0)  # same weights, other classes' prototypes
        assert not torch.allclose(method.denoise(x_t, t, y), before)
        torch.testing.assert_close(method.denoise(x_t, t), null_before)  # the null class never reads them


def test_prototype_is_ignored_by_unconditional_models_and_checked():
    method = make(num_classes=0, prototype=8)
    assert method.net.unet.conv_in.in_channels == 1 and not hasattr(method, "prototypes")
    with pytest.raises(GlyphgenError, match="prototype = -1"):
        DDPMConfig(prototype=-1)
    with pytest.raises(GlyphgenError, match="larger than the 16 px"):
        make(num_classes=3, prototype=32)
    with pytest.raises(GlyphgenError, match="diffusers pipeline"):
        make(num_classes=3, prototype=8).diffusers_pipeline()


# ---- patches ------------------------------------------------------------------------------------------------------


def test_patch_model_runs_its_unet_on_folded_images_and_predicts_at_full_resolution():
    method = make(patch=2, attention=(4,)).eval()
    unet = method.net.unet
    assert unet.config.sample_size == SIZE // 2 and unet.conv_in.in_channels == 4 and unet.conv_out.out_channels == 4
    x_t, t = torch.randn(2, 1, SIZE, SIZE), torch.tensor([100, 700])
    with torch.no_grad():
        pred = method.denoise(x_t, t)
        assert pred.shape == x_t.shape
        swapped = x_t.clone()
        swapped[:, :, 0, 0], swapped[:, :, 0, 1] = x_t[:, :, 0, 1], x_t[:, :, 0, 0]  # same 2x2 block, same mean
        assert not torch.allclose(method.denoise(swapped, t), pred)  # the net sees each pixel, not the block's mean
    assert method.sample([0, 1], steps=3).shape == (2, 1, SIZE, SIZE)


def test_patch_model_learns_one_batch():
    before, after = fit_one_batch(make(patch=2, prediction="v", lr=5e-3, widths=(8, 16), attention=()))
    assert after < 0.65 * before


def test_patch_with_prototypes_and_bad_patches():
    method = make(num_classes=3, prototype=8, patch=2, attention=(4,))
    assert method.net.unet.conv_in.in_channels == 8  # (x_t + prototype) x 2 x 2
    with torch.no_grad():
        assert (
            method.denoise(torch.randn(2, 1, SIZE, SIZE), torch.tensor([5, 50]), torch.tensor([0, 2])).shape[-1] == SIZE
        )
    with pytest.raises(GlyphgenError, match="patch = 0"):
        DDPMConfig(patch=0)
    with pytest.raises(GlyphgenError, match="patch = 3 does not divide the 16 px"):
        make(patch=3)
    with pytest.raises(GlyphgenError, match="patch model"):
        make(patch=2, attention=(4,)).diffusers_pipeline()


def test_the_diffusers_export_samples_with_the_models_own_sampler_and_says_images_are_ink_high(tmp_path):
    from diffusers import DDPMPipeline, DPMSolverMultistepScheduler
    from typer.testing import CliRunner

    from glyphgen import checkpoint
    from glyphgen.cli import app

    method = DDPM(DDPMConfig(widths=(8, 16), blocks=1, attention=(), timesteps=20, sample_steps=3), (1, 16, 16))
    checkpoint.export(method, tmp_path / "src")
    result = CliRunner().invoke(
        app, ["export", str(tmp_path / "src"), str(tmp_path / "out"), "--diffusers", "--steps", "2"]
    )
    assert result.exit_code == 0, result.output
    pipe = DDPMPipeline.from_pretrained(str(tmp_path / "out" / "diffusers"))
    assert isinstance(pipe.scheduler, DPMSolverMultistepScheduler)
    readme = (tmp_path / "out" / "diffusers" / "README.md").read_text()
    assert "num_inference_steps=2" in readme and "ink high" in readme
    images = pipe(batch_size=2, num_inference_steps=2, output_type="np").images
    assert images.shape == (2, 16, 16, 1)
