"""Dream family: the original's parameter and pass counts, the optimised step against a plain reference, samplers.

Tiny seeded generators (16 px, 4 base features) keep the file fast on a shared 2-core CPU; only the parameter count
builds the full-size network.
"""

import copy

import pytest
import torch
import torch.nn.functional as F

from glyphgen.errors import GlyphgenError
from glyphgen.methods.base import generators, randn_per_image
from glyphgen.methods.dream import Dream, DreamConfig, annealed_dream, annealed_schedule, noise_schedule, training_chain
from glyphgen.models.dream import DreamGenerator

SIZE = 16
TINY = dict(base_features=4, levels=2)


def make(seed=0, **options) -> Dream:
    torch.manual_seed(seed)
    return Dream(DreamConfig(**{**TINY, **options}), (1, SIZE, SIZE))


def glyph_batch(n=4) -> torch.Tensor:
    """(n, 1, 16, 16) in [0, 1]: a few distinct bars, ink high."""
    x = torch.zeros(n, 1, SIZE, SIZE)
    for i in range(n):
        x[i, 0, 3 + i : 6 + i, 2:14] = 1.0
        x[i, 0, 2:14, 10 - i : 12 - i] = 1.0
    return x


def chain_noise(n=4, seed=1) -> torch.Tensor:
    """(36, n, 1, 16, 16): one standard normal slice per pass of the 8-level chain."""
    return torch.randn(36, n, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def count_passes(net) -> list[int]:
    calls = [0]
    net.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def reference_step(net, x, kT, noise, weight_reg=1.0) -> torch.Tensor:
    """The original training step written plainly: NCHW, image += noise * kT on every pass (also kT = 0)."""
    target = 1 - x  # the original's black-on-white polarity
    params = list(net.parameters())
    loss = weight_reg * torch.cat([p.flatten() for p in params]).pow(2).mean()
    image, k = target, 0
    for i in range(len(kT)):
        image = net(image + noise[k] * kT[i])
        k += 1
        for j in range(i - 1, -1, -1):
            image = net(image + noise[k] * kT[j])
            k += 1
        loss = loss + F.mse_loss(image, target)
    return loss


def reference_dream(net, start, kT, num_cycles, noise) -> torch.Tensor:
    """The original's dream() written plainly: x = G(x + randn * kT) up and down the schedule, every pass noised."""
    x, k = start, 0
    for _ in range(num_cycles):
        for level in kT + kT[::-1]:
            x = net(x + noise[k] * level)
            k += 1
    return x


def sampler_noise(seeds, kT, num_cycles) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Draws of `Dream.sample` (one generator per seed: the start, then one draw per pass with kT != 0), laid out as
    the original's one randn per pass; a kT = 0 pass gets an unrelated draw, which the original multiplies by 0."""
    gens, spare = generators(seeds), torch.Generator().manual_seed(99)
    start = randn_per_image(gens, (1, SIZE, SIZE))
    noise = [
        randn_per_image(gens, (1, SIZE, SIZE)) if level else torch.randn(len(seeds), 1, SIZE, SIZE, generator=spare)
        for _ in range(num_cycles)
        for level in kT + kT[::-1]
    ]
    return start, noise


# -- the original's numbers -------------------------------------------------------------------------------------------


def test_default_generator_has_the_originals_444169_parameters():
    assert sum(p.numel() for p in DreamGenerator().parameters()) == 444_169


def test_training_step_makes_36_passes_and_8_mse_terms(monkeypatch):
    method = make()
    calls = count_passes(method.net)
    terms = []
    mse_loss = F.mse_loss
    monkeypatch.setattr(F, "mse_loss", lambda *a, **k: terms.append(1) or mse_loss(*a, **k))
    losses, logs = method.loss(glyph_batch(), None, 0)
    assert calls[0] == 36
    assert len(terms) == 8
    assert set(losses) == {"model"} and set(logs) >= {"mse", "reg"}


def test_sampling_ten_cycles_makes_160_passes():
    method = make()
    calls = count_passes(method.net)
    method.sample([0], num_cycles=10)
    assert calls[0] == 160


def test_faithful_model_sees_black_ink_on_white():
    method = make()
    seen = []
    method.net.register_forward_pre_hook(lambda m, args: seen.append(args[0]) if not seen else None)
    x = glyph_batch()
    method.loss(x, None, 0)
    torch.testing.assert_close(seen[0], 1 - x, rtol=0, atol=0)  # first pass: kT[0] = 0, so no noise yet


# -- the optimised step is the original's math ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_optimised_step_equals_plain_reference_in_loss_gradients_and_running_stats(dtype):
    # float64 shows the math is the same to rounding; float32 is the executed path (oneDNN, channels_last), where the
    # conv biases before BatchNorm have a data gradient of exactly 0 in theory and rounding noise in practice
    method = make().to(dtype)
    reference = copy.deepcopy(method.net).to(memory_format=torch.contiguous_format)
    x, noise = glyph_batch().to(dtype), chain_noise().to(dtype)

    losses, _ = method.loss(x, None, 0, noise=noise)
    losses["model"].backward()
    expected = reference_step(reference, x, noise_schedule(method.config), noise)
    expected.backward()

    tol = dict(rtol=1e-10, atol=1e-14) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(losses["model"], expected, **tol)
    for (name, p), q in zip(method.net.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, **tol, msg=name)
    for (name, b), c in zip(method.net.named_buffers(), reference.buffers(), strict=True):
        torch.testing.assert_close(b, c, **tol, msg=name)


@pytest.mark.parametrize("weights", ["faithful", "pytorch"])
def test_faithful_step_and_dream_equal_the_originals_loop_bit_for_bit(weights):
    """One Adam step (loss, parameters, running stats) and one 10-cycle dream equal the original's loop to the bit.

    channels_last=False: the original runs NCHW, and channels_last runs other oneDNN kernels whose reductions round
    differently (the first conv's weight is off in its last bits after the step). "pytorch" loads PyTorch's default
    init into the faithful model: at the original's randn*0.01 init the output is nearly constant (0.5044 +- 5e-5)
    and hides last-bit differences in its input, such as those of a fused torch.add(alpha=).
    """
    method = make(faithful=True, norm="batch", channels_last=False)
    if weights == "pytorch":
        method.net.load_state_dict(make(faithful=False).net.state_dict())
    reference = copy.deepcopy(method.net).to(memory_format=torch.contiguous_format)
    kT = torch.linspace(0, 1.5, 8).tolist()  # the original's schedule
    x, noise = glyph_batch(), chain_noise()

    losses, _ = method.loss(x, None, 0, noise=noise)
    expected = reference_step(reference, x, kT, noise)
    assert torch.equal(losses["model"], expected)
    for params, loss, options in [
        (method.parameters(), losses["model"], method.optimizer_options("model")),
        (reference.parameters(), expected, dict(lr=1e-3)),
    ]:
        opt = torch.optim.Adam(params, **options)
        loss.backward()
        opt.step()
    for (name, p), q in zip(method.net.named_parameters(), reference.parameters(), strict=True):
        assert torch.equal(p, q), name
    for (name, b), c in zip(method.net.named_buffers(), reference.buffers(), strict=True):
        assert torch.equal(b, c), name

    seeds = [5, 6, 7, 8]  # one sample_batch: no padding
    samples = method.sample(seeds, num_cycles=10)
    start, dream_noise = sampler_noise(seeds, kT, 10)
    reference.eval()
    with torch.no_grad():
        dreamed = reference_dream(reference, start, kT, 10, dream_noise)
    assert torch.equal(samples, 1 - dreamed)


def test_chain_returns_one_image_per_level_in_unit_range():
    method = make()
    outputs = training_chain(method.net, glyph_batch(), method.kT, chain_noise())
    assert len(outputs) == 8
    assert all(o.shape == (4, 1, SIZE, SIZE) and 0 <= o.min() and o.max() <= 1 for o in outputs)


def test_a_few_adam_steps_decrease_the_loss_on_a_fixed_batch():
    method = make(lr=3e-3, faithful=False)
    opt = torch.optim.Adam(method.parameters(), lr=method.config.lr)
    x, noise = glyph_batch(), chain_noise()
    history = []
    for step in range(8):
        losses, _ = method.loss(x, None, step, noise=noise)
        opt.zero_grad()
        losses["model"].backward()
        opt.step()
        history.append(losses["model"].item())
    assert history[-1] < 0.97 * history[0]


# -- sampling ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dreamer() -> Dream:
    """A tiny model whose output depends on its input: PyTorch's init and one step to fill the running stats."""
    method = make(faithful=False)
    method.loss(glyph_batch(), None, 0)
    return method


def test_samples_shape_range_and_seed_dependence(dreamer):
    samples = dreamer.sample([0, 1, 2, 3, 4], num_cycles=1)
    assert samples.shape == (5, 1, SIZE, SIZE)
    assert 0 <= samples.min() and samples.max() <= 1
    assert not torch.equal(samples[0], samples[1])


@pytest.mark.parametrize("faithful", [False, True])
def test_image_k_is_identical_alone_or_in_a_batch(dreamer, faithful):
    method = dreamer if not faithful else make(faithful=True)
    batch = method.sample([7, 8, 9, 10], num_cycles=2)
    alone = method.sample([9], num_cycles=2)
    assert torch.equal(batch[2], alone[0])


def test_sampling_leaves_training_mode_and_running_stats_alone(dreamer):
    stats = [b.clone() for b in dreamer.net.buffers()]
    dreamer.net.train()
    dreamer.sample([0], num_cycles=1)
    assert dreamer.net.training
    assert all(torch.equal(a, b) for a, b in zip(stats, dreamer.net.buffers(), strict=True))


def test_trajectory_has_every_pass_and_ends_at_the_sample(dreamer):
    samples, frames = dreamer.sample([3, 4], num_cycles=1, return_trajectory=True)
    assert frames.shape == (16, 2, 1, SIZE, SIZE)
    assert torch.equal(frames[-1], samples)
    assert 0 <= frames.min() and frames.max() <= 1


# -- configuration ----------------------------------------------------------------------------------------------------


def test_invalid_norm_choice_is_a_glyphgen_error():
    with pytest.raises(GlyphgenError, match="norm"):
        DreamConfig(norm="layer")


def test_group_norm_variant_trains_and_samples():
    method = make(norm="group")
    losses, _ = method.loss(glyph_batch(), None, 0)
    losses["model"].backward()
    assert method.sample([0, 1], num_cycles=1).shape == (2, 1, SIZE, SIZE)


def test_image_size_must_fit_the_levels():
    with pytest.raises(GlyphgenError, match="divisible"):
        Dream(DreamConfig(levels=5), (1, 16, 16))


# -- the improved dream: the level denoiser ------------------------------------------------------------------------


def make_level(**kw) -> Dream:
    torch.manual_seed(0)
    kw = {"denoiser": "level", "faithful": False, "norm": "group", "kT_max": 20.0, "kT_steps": 8, **kw}
    kw.setdefault("weight_reg", 0.0)
    return Dream(DreamConfig(base_features=4, levels=2, noise_embed=8, **kw), (1, SIZE, SIZE))


def test_annealed_schedule_runs_from_kT_max_to_kT_min_then_zero_mostly_low():
    kT = annealed_schedule(0.005, 20.0, 16, 7.0)
    assert len(kT) == 17 and kT[-1] == 0.0
    assert kT[0] == pytest.approx(20.0) and kT[-2] == pytest.approx(0.005)
    assert all(a > b for a, b in zip(kT, kT[1:], strict=False))
    assert sum(t < 1.0 for t in kT[:-1]) >= 8  # half the passes below kT 1 (a linear ramp from 20 puts 1 there)


def test_annealed_step_with_a_perfect_denoiser_lands_on_the_glyph():
    """If D always returns the glyph, the Euler step keeps x = glyph + (kT_next/kT)-scaled noise: exactly the glyph
    at kT = 0, whatever the cycles did in between."""
    glyph = glyph_batch()
    frames = []
    out = annealed_dream(
        lambda x, kT: glyph,
        torch.randn_like(glyph) * 20,
        annealed_schedule(0.01, 20.0, 6, 7.0),
        annealed_schedule(0.01, 0.6, 3, 7.0),
        3,
        lambda: torch.randn_like(glyph),
        lambda k, d: frames.append(k),
    )
    torch.testing.assert_close(out, glyph)
    assert frames == list(range(6 + 3 + 3))


@pytest.mark.parametrize("churn", [0.0, 1.0])
def test_churn_keeps_the_seen_noise_or_draws_it_afresh(churn):
    """With D = glyph, the noise each pass sees is (x - glyph) / kT: the starting noise at every pass of the descent
    for churn 0 (the DDIM step), the noise() drawn just before that pass for churn 1 (the original's corruption)."""
    glyph = glyph_batch()
    start = torch.randn_like(glyph)
    fresh = [torch.randn_like(glyph) for _ in range(5)]
    draws = iter(fresh)
    seen = []

    def denoise(x, kT):
        seen.append((x - glyph) / kT)
        return glyph

    levels = annealed_schedule(0.01, 20.0, 5, 7.0)
    out = annealed_dream(denoise, glyph + start * levels[0], levels, levels, 1, lambda: next(draws), churn=churn)
    torch.testing.assert_close(out, glyph)
    expected = [start] * 5 if churn == 0 else [start, *fresh[:4]]
    for got, want in zip(seen, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_preconditioning_is_the_skip_alone_when_the_net_outputs_zero():
    method = make_level()
    x, kT = torch.rand(2, 1, SIZE, SIZE), torch.tensor([0.1, 5.0])
    out = method.denoise(x, kT, net=lambda x, c: torch.zeros_like(x))
    sd2 = method.config.sigma_data**2
    torch.testing.assert_close(out, x * (sd2 / (kT.square() + sd2))[:, None, None, None])


def test_level_denoiser_learns_one_pass_per_image_and_samples_the_contract():
    method = make_level(lr=3e-3)
    opt = torch.optim.Adam(method.parameters(), lr=method.config.lr)
    x = glyph_batch()
    torch.manual_seed(1)
    history = []
    for step in range(30):
        losses, logs = method.loss(x, None, step)
        opt.zero_grad()
        losses["model"].backward()
        opt.step()
        history.append(logs["mse"])
    assert sum(history[-5:]) < 0.8 * sum(history[:5])
    samples, frames = method.sample([0, 1, 2], return_trajectory=True, num_cycles=2)
    assert samples.shape == (3, 1, SIZE, SIZE) and 0 <= samples.min() and samples.max() <= 1
    assert frames.shape[0] == len(method.first) - 1 + len(method.later) - 1
    assert torch.equal(method.sample([1], num_cycles=2)[0], samples[1])  # image k alone = in a batch


def test_level_denoiser_refuses_the_faithful_init_and_a_bad_schedule():
    with pytest.raises(GlyphgenError, match="faithful"):
        DreamConfig(denoiser="level", faithful=True)
    with pytest.raises(GlyphgenError, match="kT_min"):
        DreamConfig(denoiser="level", faithful=False, kT_min=1.0, kT_up=0.5)
    with pytest.raises(GlyphgenError, match="churn"):
        DreamConfig(denoiser="level", faithful=False, churn=1.5)


@pytest.mark.slow  # torch.compile: tens of seconds to minutes on a busy 2-core CPU
def test_compiled_step_matches_eager():
    eager, compiled = make(), make(compile=True)
    x, noise = glyph_batch(), chain_noise()
    expected, _ = eager.loss(x, None, 0, noise=noise)
    losses, _ = compiled.loss(x, None, 0, noise=noise)
    expected["model"].backward()
    losses["model"].backward()
    torch.testing.assert_close(losses["model"], expected["model"], rtol=1e-4, atol=1e-7)
    for (name, p), q in zip(compiled.net.named_parameters(), eager.net.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-3, atol=1e-6, msg=name)


def test_churn_is_a_sampling_option_of_the_level_denoiser_only():
    level = make_level()
    calm, fresh = level.sample([0, 1]), level.sample([0, 1], churn=1.0)
    assert not torch.equal(calm, fresh)
    torch.testing.assert_close(level.sample([0, 1], churn=1.0), fresh)  # still one seed, one dream
    with pytest.raises(GlyphgenError, match="churn"):
        level.sample([0], churn=2.0)
    with pytest.raises(GlyphgenError, match="level denoiser"):
        make().sample([0], churn=0.5)


def test_kT_up_is_a_sampling_option_of_the_level_denoiser():
    level = make_level(kT_up=0.6)
    base = level.sample([0], num_cycles=2)
    assert torch.equal(level.sample([0], num_cycles=2, kT_up=0.6), base)
    assert not torch.equal(level.sample([0], num_cycles=2, kT_up=2.0), base)
    _, frames = level.sample([0], num_cycles=2, kT_up=2.0, return_trajectory=True)
    assert frames.shape[0] == len(level.first) - 1 + len(level.later_schedule(2.0)) - 1
    with pytest.raises(GlyphgenError, match="kT_up"):
        level.sample([0], kT_up=50.0)
    with pytest.raises(GlyphgenError, match="level denoiser"):
        make().sample([0], kT_up=0.5)
