"""`Dream`: the Chinese Character Generator's "dream" model — a denoiser trained on its own noisy chains, sampled by
repeatedly re-noising and denoising pure noise until a glyph appears.

Noise schedule kT = linspace(0, kT_max, kT_steps) (standard deviations; kT[0] = 0).

Training (one chain per step, as in the original): starting from the clean batch, for i = 0 .. kT_steps-1 the image
is noised at kT[i], kT[i-1], ..., kT[0] and denoised by G after each noising; the image is never reset, so one step
is a single chain of kT_steps*(kT_steps+1)/2 = 36 passes through G, with an MSE against the clean batch after each i
(8 terms) and one backward. Loss = weight_reg * mean(p^2 over all parameters) + sum of the MSE terms.

Sampling ("dreaming"): x = randn; each cycle denoises x + randn*kT for kT up the schedule and back down
(2 * kT_steps passes), so num_cycles=10 is 160 passes. BatchNorm runs in eval mode with its running statistics,
every image draws its noise from its own seeded generator, and the generator always sees `sample_batch` images
(the last call padded), so image k is bit-identical however many images are sampled with it.

The level denoiser (`denoiser="level"`, the improved dream): the network is told its temperature and trained with
EDM's preconditioning and weighted loss, one pass per image at ln kT ~ N(P_mean, P_std^2); dreaming walks an annealed
schedule from kT_max to kT_min (more passes low), then num_cycles - 1 times back up to kT_up and down again, drawing
a share `churn` of the noise afresh at each pass (1: the original's fresh corruption at every pass).

What was measured (README, 64 px, U+4E00-9FFF from Noto Sans CJK SC, n 1,000): the faithful model dreams one grey
mean box for every seed until about 1,000 steps and crude characters with radicals by its 2,000 (FGD 109.7,
precision 0.08, recall 0.03), as the original reports; at 675 steps neither BatchNorm batch statistics, 1 or 3 cycles
nor kT_max halved changed the grey box; at 2,000 steps batch statistics bring the grey box back for every seed (the
running statistics are what let it dream), 1 or 3 cycles change little, and kT_max halved makes most seeds dream
the same radical column. The level denoiser passes that FGD after 1,000 steps (676 s against the
faithful run's 15,355 s) and reaches 15.2 at 12,000; churn 1 raises its precision from 0.28 to 0.42 (recall 0.82 ->
0.72), and with kT_up 1.2 and 3 cycles (the shipped sampling) to 0.53 (recall 0.67). Its dreams are new characters
made of real radicals: real glyphs noised to kT 0.6 and dreamt back down stay as legible as before.

Polarity: glyphgen data are ink high; the original trained on black ink on white. With `faithful=True` the model
sees 1 - x and samples are mapped back, so a faithful model behaves exactly like the original.

Speed: the step is the original's math (the same 36 passes and loss terms) with less work around the convolutions:
channels_last memory format, in-place ReLUs, one fused std_mean, all noise drawn in one call and nothing done for
the kT = 0 noise; `compile=True` adds torch.compile. The step is compute-bound (6.5 GFLOP per pass, 232 per step, in
3x3 convolutions with 8-128 channels), so equal-thread gains are modest (~1.3x at 1 thread); on an oversubscribed
CPU, fewer kernels also mean fewer OpenMP barriers (~2x at 2 threads, ~4x compiled), and one thread beats two for
both codes. `benchmarks/bench_dream.py` times it against a copy of the original loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from glyphgen.config import check_choices
from glyphgen.errors import GlyphgenError
from glyphgen.methods.base import (
    Capabilities,
    Method,
    MethodConfig,
    check_finite,
    check_labels,
    generators,
    randn_per_image,
)
from glyphgen.methods.options import DreamOptions
from glyphgen.models.dream import DreamGenerator, init_faithful_

MAX_KT_STEPS = 1000  # 500,500 passes per training step already; more is a typo or a hostile config


@dataclass
class DreamConfig(MethodConfig):
    """Defaults are the original model (444,169 parameters, 36 passes per step, 160 per sample)."""

    lr: float = 1e-3  # Adam learning rate (original: 1e-3, batch 32, 2,000 steps)
    kT_max: float = 1.5  # largest noise standard deviation of the schedule
    kT_steps: int = 8  # noise levels linspace(0, kT_max, kT_steps); a step makes kT_steps*(kT_steps+1)/2 passes
    weight_reg: float = 1.0  # coefficient of the mean-squared-weight term mean(p^2) over all parameters
    base_features: int = 8  # channels of the first block; doubled at each level
    levels: int = 4  # stride-2 encoder blocks (image side must be divisible by 2**levels)
    norm: Literal["batch", "group"] = "batch"  # "group" makes sampling independent of BatchNorm running statistics
    faithful: bool = True  # original polarity (model sees black ink on white) and randn*0.01 init of every parameter
    num_cycles: int = 10  # default dreaming cycles of `sample` (each 2*kT_steps passes)
    channels_last: bool = True  # run the generator in channels_last memory format (same math; ~1.2x here)
    sample_batch: int = 4  # images per generator call when sampling, fixed (last call padded); 0 = all at once
    compile: bool = False  # torch.compile the generator for training steps (same math; 1-2 min compile first)
    # The fields after `denoiser` are the level denoiser's; kT_max is then its top temperature.
    denoiser: Literal["chain", "level"] = "chain"  # chain = the original (own 36-pass chains); level = told its kT
    kT_min: float = 0.005  # lowest temperature of the annealed descent (level)
    kT_up: float = 0.6  # temperature each later cycle climbs back up to before it descends again (level)
    rho: float = 7.0  # schedule curvature: temperatures (kT_max^(1/rho) .. kT_min^(1/rho))^rho, more passes low (level)
    sigma_data: float = 0.4  # expected standard deviation of the clean glyphs, for the preconditioning (level)
    P_mean: float = -1.4  # training temperatures ln kT ~ N(P_mean, P_std^2) (level)
    P_std: float = 1.2  # spread of ln kT of the training temperatures (level)
    noise_embed: int = 32  # width of the noise-level embedding (level)
    churn: float = 0.0  # share of the noise drawn afresh at each pass of the descent: 0 = annealed (DDIM) step (level)

    def __post_init__(self):
        check_choices(self)
        if self.denoiser == "level":
            if self.faithful:
                raise GlyphgenError("denoiser 'level' is the improved dream: set faithful: false")
            if not 0 < self.kT_min < self.kT_up <= self.kT_max:
                got = f"{self.kT_min}, {self.kT_up}, {self.kT_max}"
                raise GlyphgenError(f"need 0 < kT_min < kT_up <= kT_max, got {got}")
            if self.kT_steps < 2:
                raise GlyphgenError(f"kT_steps {self.kT_steps} must be at least 2 for the level denoiser")
            check_finite(self.churn, "churn", 0, 1)
        if not 1 <= self.kT_steps <= MAX_KT_STEPS:  # one training step makes kT_steps * (kT_steps + 1) / 2 passes
            raise GlyphgenError(f"kT_steps {self.kT_steps} is out of range; use 1 to {MAX_KT_STEPS}")
        if self.kT_max < 0:
            raise GlyphgenError(f"kT_max {self.kT_max} must be non-negative")
        if self.sample_batch < 0:
            raise GlyphgenError(f"sample_batch {self.sample_batch} must be 0 (all at once) or positive")
        if self.levels < 1 or self.base_features < 1:
            raise GlyphgenError("levels and base_features must be at least 1")


def annealed_schedule(kT_min: float, kT_max: float, steps: int, rho: float) -> list[float]:
    """`steps` temperatures from kT_max down to kT_min, spaced as EDM's (uniform in kT^(1/rho)), then a final 0."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64, device="cpu")  # values even under a meta default
    hi, lo = kT_max ** (1 / rho), kT_min ** (1 / rho)
    return [*((hi + ramp * (lo - hi)) ** rho).tolist(), 0.0]


def annealed_dream(
    denoise: Callable[[torch.Tensor, float], torch.Tensor],
    x: torch.Tensor,
    first: list[float],
    later: list[float],
    num_cycles: int,
    noise: Callable[[], torch.Tensor],
    callback: Callable[[int, torch.Tensor], None] | None = None,
    churn: float = 0.0,
) -> torch.Tensor:
    """The improved dream: walk down `first` (x starts as noise at first[0]), then num_cycles - 1 times corrupt the
    glyph back up to later[0] and walk down `later` again. Each pass denoises, D = denoise(x, kT), and steps to the
    next temperature: x <- D + kT_next * eps, where eps = (x - D) / kT is the noise the denoiser saw. churn = 0 keeps
    it (the annealed Euler/DDIM step: the noise keeps its structure); churn = 1 draws it afresh, the original dream's
    corruption at every pass; in between, eps <- sqrt(1 - churn) eps + sqrt(churn) z (same variance).
    callback(k, D) after pass k; returns the last D."""
    k = 0
    for cycle in range(num_cycles):
        levels = first if cycle == 0 else later
        if cycle:
            x = x + noise() * levels[0]  # x is the clean glyph of the last descent (its final kT is 0)
        for kT, kT_next in zip(levels[:-1], levels[1:], strict=False):
            d = denoise(x, kT)
            eps = (x - d) / kT
            if churn and kT_next:
                eps = (1 - churn) ** 0.5 * eps + churn**0.5 * noise()
            x = d + kT_next * eps
            if callback is not None:
                callback(k, d)
            k += 1
    return x


def noise_schedule(config: DreamConfig) -> list[float]:
    """kT = linspace(0, kT_max, kT_steps) as Python floats (float32-rounded like the original's torch.linspace)."""
    # On the CPU whatever the default device: checkpoint.load builds networks on the meta device first, which holds
    # no values to turn into floats.
    return torch.linspace(0, config.kT_max, config.kT_steps, device="cpu").tolist()


def chain_passes(kT: list[float]) -> list[float]:
    """Noise level of each pass of one training chain: kT[i], kT[i-1], ..., kT[0] for each i (36 for 8 levels)."""
    return [kT[j] for i in range(len(kT)) for j in range(i, -1, -1)]


def dream_passes(kT: list[float], num_cycles: int) -> list[float]:
    """Noise level of each pass of `dream`: up the schedule and back down, num_cycles times (160 for 8 and 10)."""
    return (kT + kT[::-1]) * num_cycles


def training_chain(net: Callable, x0: torch.Tensor, kT: list[float], noise: torch.Tensor) -> list[torch.Tensor]:
    """The original's training chain: x0 (B, C, H, W) -> the image after each i (kT_steps tensors in [0, 1]).

    noise: (passes, B, C, H, W) standard normal, slice k for pass k (kT = 0 passes ignore theirs). Identical math
    to the original's `image += randn * kT; image = G(image)`, rounding for rounding: adding 0 * noise (exactly 0) is
    skipped; the scale and the add stay two ops (torch.add(alpha=) fuses them into one FMA, a last-bit change).
    """
    outputs, image, k = [], x0, 0
    for i in range(len(kT)):
        for j in range(i, -1, -1):  # noise at kT[i], then down to kT[0]; the image carries over, never reset
            if kT[j] != 0:
                image = image + noise[k] * kT[j]
            image = net(image)
            k += 1
        outputs.append(image)
    return outputs


def dream(
    net: Callable,
    x: torch.Tensor,
    kT: list[float],
    num_cycles: int,
    noise: Callable[[], torch.Tensor],
    trajectory: list[torch.Tensor] | None = None,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """The original's dream(): x = G(x + noise() * kT) up and down the schedule, num_cycles times.

    x: (N, C, H, W) start (the original: randn). noise() returns a fresh (N, C, H, W) standard normal; it is not
    called for kT = 0. When `trajectory` is a list, every pass's output is appended to it; callback(k, x) is
    called after pass k.
    """
    for k, level in enumerate(dream_passes(kT, num_cycles)):
        if level != 0:
            x = x + noise() * level  # not torch.add(alpha=): an FMA, off the original by a last bit
        x = net(x)
        if trajectory is not None:
            trajectory.append(x)
        if callback is not None:
            callback(k, x)
    return x


class Dream(Method):
    family = "dream"
    config_class = DreamConfig
    options_class = DreamOptions
    conditioning = "never"

    def __init__(self, config: DreamConfig, image_shape: tuple[int, int, int], num_classes: int = 0):
        super().__init__(config, image_shape, num_classes)
        if num_classes:
            raise GlyphgenError(
                "the dream model is unconditional: it cannot draw asked-for characters (no --conditional)"
            )
        c, h, w = self.image_shape
        if h != w:
            raise GlyphgenError(f"dream needs square images, got {h}x{w}")
        if h % 2**config.levels:
            raise GlyphgenError(f"image size {h} must be divisible by 2**levels = {2**config.levels}; change levels")
        level = config.denoiser == "level"
        self.net = DreamGenerator(
            c,
            config.base_features,
            config.levels,
            h,
            norm=config.norm,
            standardize=not level,  # the level denoiser gets EDM's input scaling instead
            noise_embed=config.noise_embed if level else 0,
            output="linear" if level else "sigmoid",
        )
        if config.faithful:
            init_faithful_(self.net)
        self._memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.net.to(memory_format=self._memory_format)
        self.kT = noise_schedule(config)
        if level:  # the first descent from kT_max; later cycles walk the same spacing down from kT_up
            self.first = annealed_schedule(config.kT_min, config.kT_max, config.kT_steps, config.rho)
            self.later = self.later_schedule(config.kT_up)
        # not a submodule: the compiled wrapper would duplicate every parameter under a second name in state_dict
        self.__dict__["_train_net"] = torch.compile(self.net) if config.compile else self.net

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        """glyphgen's ink-high [0, 1] -> what the model sees, in the generator's memory format."""
        x = 1 - x if self.config.faithful else x
        return x.contiguous(memory_format=self._memory_format)

    def _from_model(self, x: torch.Tensor) -> torch.Tensor:
        x = 1 - x if self.config.faithful else x
        if self.config.denoiser == "level":  # a linear output: clamp to the sample contract's [0, 1]
            x = x.clamp(0, 1)
        return x.contiguous()

    def later_schedule(self, kT_up: float) -> list[float]:
        """The descent of each later cycle: from kT_up down, with as many passes as the first descent has below it."""
        cfg = self.config
        if not cfg.kT_min < kT_up <= cfg.kT_max:
            raise GlyphgenError(f"kT_up {kT_up} must be above kT_min {cfg.kT_min} and at most kT_max {cfg.kT_max}")
        low = max(2, sum(t <= kT_up for t in self.first[:-1]))
        return annealed_schedule(cfg.kT_min, kT_up, low, cfg.rho)

    def denoise(self, x: torch.Tensor, kT: float | torch.Tensor, net: Callable | None = None) -> torch.Tensor:
        """The level denoiser with EDM's preconditioning (Karras et al. 2022, table 1): D(x; kT) = c_skip x +
        c_out F(c_in x, ln(kT) / 4). x in the model's layout; kT a float or (B,) tensor."""
        net = self.net if net is None else net
        kT = torch.as_tensor(kT, dtype=x.dtype, device=x.device).expand(x.shape[0])
        sd2, s2 = self.config.sigma_data**2, kT.square()[:, None, None, None]
        c_skip, c_in = sd2 / (s2 + sd2), (s2 + sd2).rsqrt()
        c_out = s2.sqrt() * self.config.sigma_data * c_in
        return c_skip * x + c_out * net(x * c_in, kT.log() / 4)

    def _level_loss(self, x0: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict]:
        """One pass per image at a random temperature, EDM's weighted MSE: a loss at every pass the model makes."""
        cfg = self.config
        kT = (torch.randn(x0.shape[0], device=x0.device) * cfg.P_std + cfg.P_mean).exp()
        noisy = x0 + torch.randn_like(x0) * kT[:, None, None, None]
        d = self.denoise(noisy, kT, self._train_net)
        weight = (kT.square() + cfg.sigma_data**2) / (kT * cfg.sigma_data).square()
        per_image = (d - x0).square().mean(dim=(1, 2, 3))
        loss = (weight * per_image).mean()
        logs = {"loss": loss.item(), "mse": per_image.mean().item()}
        if cfg.weight_reg:
            reg = torch.cat([p.flatten() for p in self.net.parameters()]).pow(2).mean()
            loss = loss + cfg.weight_reg * reg
            logs["reg"] = reg.item()
        return {"model": loss}, logs

    def loss(
        self, x: torch.Tensor, y: torch.Tensor | None, step: int, noise: torch.Tensor | None = None
    ) -> tuple[dict[str, torch.Tensor], dict]:
        """One training chain (or, for the level denoiser, one pass per image). noise: (36, B, C, H, W) standard
        normal for the chain; drawn here in one call when None."""
        x0 = self._to_model(x)  # (B, C, H, W) in [0, 1], the model's polarity
        if self.config.denoiser == "level":
            return self._level_loss(x0)
        passes = len(chain_passes(self.kT))
        if noise is None:
            noise = torch.randn((passes, *x0.shape), device=x0.device, dtype=x0.dtype)
        params = list(self.net.parameters())
        reg = torch.cat([p.flatten() for p in params]).pow(2).mean()
        outputs = training_chain(self._train_net, x0, self.kT, noise)
        terms = [F.mse_loss(out, x0) for out in outputs]  # one per i: kT_steps terms
        loss = self.config.weight_reg * reg
        for term in terms:  # summed in the original's order (reg, then += each term), so the loss is its bits too
            loss = loss + term
        mse = torch.stack(terms).sum()
        logs = {"mse": mse.item(), "reg": reg.item(), "mse_last": terms[-1].item()}
        return {"model": loss}, logs

    @torch.no_grad()
    def noising(self, x0: torch.Tensor, seed: int, n: int) -> list[torch.Tensor]:
        """x0 (C, H, W) with one noise draw (seed) at n temperatures from 0 to kT_max, as the generator sees it
        before a pass, each mapped back to [0, 1] ink high: the left half of the noising/denoising strip."""
        eps = randn_per_image(generators([seed]), self.image_shape, x0.device)[0]
        x = 1 - x0 if self.config.faithful else x0
        if self.config.denoiser == "level":  # the annealed schedule's spacing, clean first
            levels = annealed_schedule(self.config.kT_min, self.config.kT_max, n - 1, self.config.rho)[::-1]
        else:
            levels = torch.linspace(0, self.config.kT_max, n).tolist()
        frames = [x + eps * kT for kT in levels]
        return [(1 - f if self.config.faithful else f).clamp(0, 1) for f in frames]

    @classmethod
    def capabilities_for(cls, num_classes: int) -> Capabilities:
        return Capabilities(trajectory=True)

    @classmethod
    def options_for(cls, config: DreamConfig) -> DreamOptions:
        kT_up = config.kT_up if config.denoiser == "level" else None  # the original dream has no climb-back level
        return DreamOptions(num_cycles=config.num_cycles, churn=config.churn, kT_up=kT_up)

    @torch.no_grad()
    def sample(
        self,
        seeds: list[int],
        labels: torch.Tensor | None = None,
        return_trajectory: bool = False,
        callback=None,
        **options,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Dream one image per seed: (N, C, H, W) in [0, 1], ink high.

        num_cycles (option): dreaming cycles (default config.num_cycles); each is 2 * kT_steps generator passes.
        churn (option, level denoiser): share of the noise drawn afresh at each pass (default config.churn).
        kT_up (option, level denoiser): temperature each later cycle climbs back to (default config.kT_up).
        return_trajectory: also return every pass's output, (passes, N, C, H, W) in [0, 1], ink high — the frames
        of a "watch a glyph dream" strip or animation. callback(k, x) after pass k (x of the current chunk of
        images, in [0, 1]). The model is unconditional: labels must be None.
        """
        opts = self.sample_options(**options)
        num_cycles, churn = opts.num_cycles, check_finite(opts.churn, "churn", 0, 1)
        level = self.config.denoiser == "level"
        if not level and (churn or opts.kT_up is not None):
            raise GlyphgenError("churn and kT_up are options of the level denoiser, not of the original dream")
        later = self.later_schedule(check_finite(opts.kT_up, "kT_up")) if level else None
        if isinstance(num_cycles, float) and not num_cycles.is_integer():
            raise GlyphgenError(f"num_cycles {num_cycles} must be a whole number")
        num_cycles = int(num_cycles)
        if num_cycles < 1:
            raise GlyphgenError(f"num_cycles {num_cycles} must be at least 1")
        check_labels(labels, len(seeds), self.num_classes)
        device = next(self.net.parameters()).device
        chunk = self.config.sample_batch or max(len(seeds), 1)
        samples, trajectories = [], []
        was_training = self.net.training
        self.net.eval()  # BatchNorm with running statistics: image k does not depend on the rest of the batch
        try:
            for start in range(0, len(seeds), chunk):
                part = list(seeds[start : start + chunk])
                n = len(part)
                # pad with repeats of the last seed: oneDNN picks its kernels by batch size (not by position), so a
                # fixed batch keeps image k bit-identical however many images are asked for
                gens = generators(part + part[-1:] * (chunk - n))

                def noise(gens=gens):
                    return randn_per_image(gens, self.image_shape, device).contiguous(memory_format=self._memory_format)

                frames = [] if return_trajectory else None
                report = None if callback is None else (lambda k, x, n=n: callback(k, self._from_model(x[:n])))
                if self.config.denoiser == "level":

                    def each(k, d, frames=frames, report=report):
                        if frames is not None:
                            frames.append(d)
                        if report is not None:
                            report(k, d)

                    start = noise() * self.first[0]
                    x = annealed_dream(self.denoise, start, self.first, later, num_cycles, noise, each, churn)
                else:
                    x = dream(self.net, noise(), self.kT, num_cycles, noise, frames, report)
                samples.append(self._from_model(x[:n]))
                if return_trajectory:
                    trajectories.append(self._from_model(torch.stack(frames)[:, :n]))
        finally:
            self.net.train(was_training)
        if return_trajectory:
            return torch.cat(samples), torch.cat(trajectories, dim=1)
        return torch.cat(samples)
