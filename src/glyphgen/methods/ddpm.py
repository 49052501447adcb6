"""DDPM: denoising diffusion probabilistic models (Ho et al. 2020), trained on the simple loss, sampled by diffusers.

The noise process is diffusers' `DDPMScheduler` (its betas, `add_noise` and `get_velocity`); every sampler is a
diffusers scheduler built from that scheduler's config, so all of them share the training betas:

    "ddpm"   DDPMScheduler, ancestral sampling (Ho et al. 2020); all `timesteps` steps unless told fewer
    "ddim"   DDIMScheduler with eta = 0 (Song et al. 2021): deterministic, good at 20-50 steps
    "dpm++"  DPMSolverMultistepScheduler, DPM-Solver++(2M) (Lu et al. 2022): deterministic, good at 10-25 steps

Notation: x0 (B, C, H, W) in [-1, 1], ink high; t in {0 .. timesteps-1}; alpha_bar(t) the cumulative product of
1 - beta; x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps; v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0
(Salimans & Ho 2022); SNR(t) = alpha_bar / (1 - alpha_bar).

Classifier-free guidance (Ho & Salimans 2022): with num_classes > 0 the labels are replaced by the null class
(index num_classes) with probability `cond_drop` during training, so one network learns both the conditional and the
unconditional model. Sampling with guidance scale w uses

    pred = uncond + w * (cond - uncond)

so w = 0 is the unconditional model, w = 1 the plain conditional model (one forward pass each; no doubled batch) and
w > 1 sharpens the class at the expense of diversity. Sampling without labels is unconditional at any w.

Class prototypes (`prototype` > 0, conditional models only): a learned embedding per class must be learned from that
class's few glyphs alone (the jōyō set has ~14 per character), which a CPU budget does not reach. The prototype gives
the class a structured code instead: the mean of the class's training glyphs, shrunk to prototype x prototype pixels,
is fixed at the start of training (a buffer saved with the weights), upsampled and concatenated to x_t as an extra
input channel, beside the learned embedding. The null class's prototype is blank. This is the content-glyph input of
few-shot font generators (e.g. FontDiffuser, Yang et al. 2024), with the class's own mean as the content glyph.

Patches (`patch` = p > 1): the U-Net works on the image folded into p x p pixel blocks (`pixel_unshuffle`: C x H x W ->
C*p*p x H/p x W/p) and its prediction is unfolded back, while the noise process, the loss and the samplers stay at full
resolution (the "simple diffusion" lever of Hoogeboom et al. 2023). A U-Net's cost is dominated by its top level, so
p = 2 costs about what training at half the resolution does, but nothing is thrown away: the 64 px glyph is the target.
"""

from __future__ import annotations

import math
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
from glyphgen.methods.options import SAMPLERS, DDPMOptions, Sampler
from glyphgen.models.unet import SMALL_WIDTHS, build_unet

PREDICTION_TYPES = {"eps": "epsilon", "x0": "sample", "v": "v_prediction"}  # ours -> diffusers' prediction_type
BETA_SCHEDULES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}


MAX_TIMESTEPS = 100_000  # 100x the usual 1,000; a config.json asking for 1e9 would allocate gigabytes


@dataclass
class DiffusionConfig(MethodConfig):
    """Denoising diffusion: noise schedule, training target and loss, denoiser size, sampler defaults (the fields
    every diffusion family shares)."""

    lr: float = 2e-4  # Adam learning rate (Ho et al. 2020 use 2e-4)
    timesteps: int = 1000  # diffusion steps T of the training process
    schedule: Literal["linear", "cosine"] = "linear"  # betas: linear 1e-4..0.02 (Ho et al.), cosine (Nichol & Dhariwal)
    prediction: Literal["eps", "x0", "v"] = "eps"  # what the network predicts: the noise, the clean image, or v
    loss: Literal["l2", "l1"] = "l2"  # distance between prediction and target
    min_snr_gamma: float = 0.0  # Min-SNR-gamma loss weighting (Hang et al. 2023), 5 is their choice; 0 = off
    widths: tuple[int, ...] = SMALL_WIDTHS  # U-Net channels per resolution level; (64, 128, 256, 256) is GANji's size
    blocks: int = 2  # residual blocks per U-Net level
    attention: tuple[int, ...] = (16, 8)  # feature-map sizes (pixels) with self-attention
    dropout: float = 0.0  # dropout inside the residual blocks
    unet: Literal["diffusers", "lean"] = "diffusers"  # U-Net implementation (same architecture; see models/unet.py)
    sampler: Sampler = "dpm++"  # default sampler
    sample_steps: int = 20  # default sampling steps for ddim and dpm++ (ddpm uses all timesteps unless told)
    guidance: float = 1.0  # default guidance scale w: 0 = unconditional, 1 = conditional, > 1 = guided
    patch: int = 1  # U-Net on patch x patch pixel blocks folded into channels; attention sizes count those blocks

    def __post_init__(self):
        check_choices(self)
        self.widths, self.attention = tuple(self.widths), tuple(self.attention)  # YAML gives lists
        if not 2 <= self.timesteps <= MAX_TIMESTEPS:  # the noise schedule holds arrays of this length
            raise GlyphgenError(
                f"timesteps = {self.timesteps} is out of range; use 2 to {MAX_TIMESTEPS:,} (1000 is usual)"
            )
        if self.min_snr_gamma < 0:
            raise GlyphgenError(f"min_snr_gamma = {self.min_snr_gamma} must be >= 0 (0 = off, 5 is usual)")
        if self.patch < 1:
            raise GlyphgenError(f"patch = {self.patch} must be >= 1 (1 = off, 2 halves the U-Net's working size)")
        if not 1 <= self.sample_steps <= self.timesteps:
            raise GlyphgenError(f"sample_steps = {self.sample_steps} is out of range; use 1 to {self.timesteps}")


@dataclass
class DDPMConfig(DiffusionConfig):
    """Denoising diffusion: noise schedule, training target and loss, denoiser size, sampler defaults."""

    cond_drop: float = 0.1  # chance of training on the null label (for classifier-free guidance); num_classes > 0
    prototype: int = 0  # conditional models: side (px) of each class's mean-glyph input channel; 0 = embedding only

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.cond_drop < 1:
            raise GlyphgenError(f"cond_drop = {self.cond_drop} is out of range; use 0 <= cond_drop < 1")
        if self.prototype < 0:
            raise GlyphgenError(f"prototype = {self.prototype} must be >= 0 (0 = off, e.g. 16 for 32 px glyphs)")


def noise_scheduler(config: DiffusionConfig):
    """The training noise process; every sampler's scheduler is built from its config."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=config.timesteps,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule=BETA_SCHEDULES[config.schedule],
        prediction_type=PREDICTION_TYPES[config.prediction],
        clip_sample=True,  # clip predicted x0 to the data range [-1, 1] at each ancestral/DDIM step
        # "trailing" makes short schedules start at t = T-1, where training put pure noise (Lin et al. 2024,
        # table 2); the default "leading" would start 20-step DDIM at t = 950 from noise that is too strong.
        timestep_spacing="trailing",
    )


def alphas_cumprod(config: DiffusionConfig) -> torch.Tensor:
    """alpha_bar(t) for t = 0 .. timesteps-1, (T,) float32: exactly diffusers' DDPMScheduler's (`noise_scheduler`),
    computed here so that a model whose sampler needs no diffusers scheduler (DDIM) never imports diffusers, whose
    import is ~2-3 s of a sampling command's start (it pulls in torch._dynamo and scipy.stats)."""
    t = config.timesteps
    # on the CPU even while checkpoint.load builds the network on the meta device (meta tensors here would import
    # torch's compiler stack: ~2 s)
    if config.schedule == "linear":
        betas = torch.linspace(1e-4, 0.02, t, dtype=torch.float32, device="cpu")
    else:  # "squaredcos_cap_v2" (Nichol & Dhariwal 2021), as diffusers' betas_for_alpha_bar
        bar = lambda u: math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        betas = [min(1 - bar((i + 1) / t) / bar(i / t), 0.999) for i in range(t)]
        betas = torch.tensor(betas, dtype=torch.float32, device="cpu")
    return torch.cumprod(1.0 - betas, dim=0)


def sampler_scheduler(sampler: str, noise):
    """A fresh diffusers scheduler for `sampler` (they keep per-run state), sharing the betas of `noise`."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    if sampler == "ddpm":
        return DDPMScheduler.from_config(noise.config)
    if sampler == "ddim":
        return DDIMScheduler.from_config(noise.config, set_alpha_to_one=True)  # last step lands on x0 itself
    if sampler == "dpm++":
        # The cosine schedule's last steps have alpha_bar ~ 0 (log-SNR -> -inf), where DPM-Solver's steps blow up;
        # diffusers recommends clipping log-SNR at -5.1 there. The linear schedule ends at -5.06 and needs none.
        clip = -5.1 if noise.config.beta_schedule == "squaredcos_cap_v2" else -float("inf")
        return DPMSolverMultistepScheduler.from_config(
            noise.config, algorithm_type="dpmsolver++", solver_order=2, lambda_min_clipped=clip
        )
    raise GlyphgenError(f"unknown sampler {sampler!r}; choose one of {', '.join(repr(s) for s in SAMPLERS)}")


def min_snr_weight(snr: torch.Tensor, gamma: float, prediction: str) -> torch.Tensor:
    """Min-SNR-gamma weight (Hang et al. 2023) for the loss on `prediction`'s target.

    Each weight turns the per-target MSE into min(SNR, gamma) * |x0 - x0_hat|^2: eps-MSE is SNR * x0-MSE and v-MSE
    is (SNR + 1) * x0-MSE, hence the divisions.
    """
    clipped = snr.clamp(max=gamma)
    if prediction == "eps":
        return clipped / snr
    if prediction == "x0":
        return clipped
    if prediction == "v":
        return clipped / (snr + 1)
    raise ValueError(f"unknown prediction {prediction!r}")


def drop_labels(y: torch.Tensor, p: float, null_class: int) -> torch.Tensor:
    """Replace each label by the null class with probability p (classifier-free guidance training)."""
    if p <= 0:
        return y
    return torch.where(torch.rand(y.shape, device=y.device) < p, torch.full_like(y, null_class), y)


def guided_prediction(
    net: Callable, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None, guidance: float, null_class: int
) -> torch.Tensor:
    """The network's prediction under classifier-free guidance scale w: uncond + w * (cond - uncond).

    y None: the unconditional prediction (null class on a conditional net). w = 0 and w = 1 need one of the two
    predictions only, so they skip the other; any other w runs both in one batched forward.
    """
    if y is None or guidance == 0:
        return net(x_t, t) if null_class == 0 else net(x_t, t, torch.full_like(t, null_class))
    if guidance == 1:
        return net(x_t, t, y)
    both = net(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, null_class)]))
    cond, uncond = both.chunk(2)
    return uncond + guidance * (cond - uncond)


@torch.no_grad()
def sample_loop(
    net: Callable,
    scheduler,
    x_T: torch.Tensor,
    gens: list[torch.Generator],
    y: torch.Tensor | None,
    guidance: float,
    null_class: int,
    return_trajectory: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
):
    """Run `scheduler` (after `set_timesteps`) from x_T with `net` as the denoiser; returns x0 in [-1, 1].

    `gens` holds one generator per image and goes to `scheduler.step`: diffusers' `randn_tensor` draws row k of each
    step's noise from gens[k], so image k does not depend on the batch it is sampled in. callback(k, x_t) is
    called after step k with x_t in [-1, 1].
    """
    x = x_T * scheduler.init_noise_sigma
    trajectory = [x]
    for k, t in enumerate(scheduler.timesteps):
        tt = torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)
        pred = guided_prediction(net, scheduler.scale_model_input(x, t), tt, y, guidance, null_class)
        x = scheduler.step(pred, t, x, generator=gens).prev_sample
        if return_trajectory:
            trajectory.append(x)
        if callback is not None:
            callback(k, x)
    return (x, trajectory) if return_trajectory else x


def trailing_grid(timesteps: int, steps: int) -> torch.Tensor:
    """The sampler's timesteps for `steps` DDIM steps, with -1 (the clean glyph) appended: diffusers' "trailing"
    spacing, the one every glyphgen scheduler uses (`noise_scheduler`)."""
    grid = torch.arange(timesteps, 0, -timesteps / steps).round().long() - 1
    return torch.cat([grid, torch.tensor([-1])])


@torch.no_grad()
def ddim_loop(
    net: Callable,
    alphas: torch.Tensor,
    steps: int,
    x_T: torch.Tensor,
    y: torch.Tensor | None,
    guidance: float,
    null_class: int,
    prediction: str,
    return_trajectory: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
):
    """Deterministic DDIM (eta = 0) in `steps` steps from x_T, step for step what `sampler_scheduler("ddim")` does
    (trailing timesteps, x0 clipped to [-1, 1], the last step landing on x0; tests/methods/test_ddpm.py holds the two
    equal). Written here because it is a few lines and the few-step students sample with it: importing diffusers'
    scheduler would cost more start-up time than a student's whole sampling (see `alphas_cumprod`)."""
    T = len(alphas)
    x = x_T
    trajectory = [x]
    for k, t in enumerate(trailing_grid(T, steps)[:-1].tolist()):
        prev = t - T // steps  # as diffusers steps back (not to the next grid point when steps does not divide T)
        a, a_prev = alphas[t], (alphas[prev] if prev >= 0 else torch.tensor(1.0))
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        out = guided_prediction(net, x, tt, y, guidance, null_class).float()
        if prediction == "eps":
            x0, eps = (x - (1 - a).sqrt() * out) / a.sqrt(), out
        elif prediction == "x0":
            x0, eps = out, (x - a.sqrt() * out) / (1 - a).sqrt()
        else:  # v
            x0, eps = a.sqrt() * x - (1 - a).sqrt() * out, a.sqrt() * out + (1 - a).sqrt() * x
        x = a_prev.sqrt() * x0.clamp(-1, 1) + (1 - a_prev).sqrt() * eps
        if return_trajectory:
            trajectory.append(x)
        if callback is not None:
            callback(k, x)
    return (x, trajectory) if return_trajectory else x


class Diffusion(Method):
    """What every diffusion family shares: the U-Net on (optionally patch-folded) glyphs, diffusers' noise process,
    the simple loss and the samplers. A family adds its conditions: `denoise(x_t, t, ...)` and `loss` (DDPM: class
    labels and prototypes; style: a content glyph and a style code)."""

    def __init__(
        self,
        config: DiffusionConfig,
        image_shape: tuple[int, int, int],
        num_classes: int = 0,
        *,
        extra_inputs: int = 0,
        cond_vector: bool = False,
        scale_shift: bool = False,
    ):
        super().__init__(config, image_shape, num_classes)
        c, h, w = self.image_shape
        if h != w:
            raise GlyphgenError(f"{self.family} models need square images, got {h}x{w}")
        self.patch = config.patch
        if h % self.patch:
            raise GlyphgenError(f"patch = {self.patch} does not divide the {h} px images; use a divisor of {h}")
        self.folded = c * self.patch**2  # the U-Net's channels: each of the image's channels, once per pixel of a block
        self.net = build_unet(
            self.folded,
            h // self.patch,
            widths=config.widths,
            blocks=config.blocks,
            attention=config.attention,
            dropout=config.dropout,
            num_classes=0 if cond_vector else num_classes,
            impl=config.unet,
            extra_inputs=extra_inputs * self.patch**2,
            cond_vector=cond_vector,
            scale_shift=scale_shift,
        )
        self.alphas_cumprod = alphas_cumprod(config)  # (T,) float32; not state: it follows from the config
        self._noise = None

    @property
    def noise(self):
        """The training noise process (diffusers' DDPMScheduler), built on first use (see `alphas_cumprod`)."""
        if self._noise is None:
            self._noise = noise_scheduler(self.config)
        return self._noise

    def unet(self, x_in: torch.Tensor, t: torch.Tensor, y=None) -> torch.Tensor:
        """The U-Net on x_t with its conditioning channels (B, C + extra, H, W): folded into patches and the
        prediction unfolded on a patch model."""
        if self.patch == 1:
            return self.net(x_in, t, y)
        return F.pixel_shuffle(self.net(F.pixel_unshuffle(x_in, self.patch), t, y), self.patch)

    def diffusion_loss(self, x: torch.Tensor, denoise: Callable) -> tuple[dict[str, torch.Tensor], dict]:
        """The simple loss (Ho et al. 2020) on the target `cfg.prediction`, Min-SNR weighted when asked, for glyphs x
        (B, C, H, W) in [0, 1]; `denoise(x_t, t)` is the network with its conditions bound (called once)."""
        cfg = self.config
        x0 = x * 2 - 1  # (B, C, H, W) in [-1, 1], ink high
        b = x0.shape[0]
        t = torch.randint(0, cfg.timesteps, (b,), device=x0.device)
        eps = torch.randn_like(x0)
        x_t = self.noise.add_noise(x0, eps, t)
        if cfg.prediction == "eps":
            target = eps
        elif cfg.prediction == "x0":
            target = x0
        else:
            target = self.noise.get_velocity(x0, eps, t)
        pred = denoise(x_t, t)
        dist = F.mse_loss if cfg.loss == "l2" else F.l1_loss
        per_image = dist(pred.float(), target, reduction="none").mean(dim=(1, 2, 3))  # (B,)
        logs = {}
        if cfg.min_snr_gamma > 0:
            # The weights are derived for L2; with L1 they still cap the easy low-noise steps, which is the point.
            ab = self.noise.alphas_cumprod.to(x0.device)[t]
            weight = min_snr_weight(ab / (1 - ab), cfg.min_snr_gamma, cfg.prediction)
            logs["loss_unweighted"] = per_image.mean().item()
            per_image = per_image * weight
        loss = per_image.mean()
        logs["loss"] = loss.item()
        return {"model": loss}, logs

    @classmethod
    def option_limits(cls, config: DiffusionConfig) -> dict[str, int]:
        return {"steps": config.timesteps}

    @classmethod
    def options_for(cls, config: DiffusionConfig) -> DDPMOptions:
        return DDPMOptions(sampler=config.sampler, steps=config.sample_steps, guidance=config.guidance)

    def run_sampler(
        self,
        net: Callable,
        seeds: list[int],
        y: torch.Tensor | None,
        null_class: int,
        return_trajectory: bool,
        callback: Callable | None,
        options: dict,
    ):
        """Check the sampling options and run the sampler from one noise draw per seed with `net(x_t, t, y)` as the
        denoiser (`y` None or per-image conditions, `null_class` the y of the unconditional prediction); returns
        images in [0, 1] (and the trajectory when asked)."""
        cfg = self.config
        opts = self.sample_options(**options)
        sampler = opts.sampler
        if sampler not in SAMPLERS:
            raise GlyphgenError(f"unknown sampler {sampler!r}; choose one of {', '.join(repr(s) for s in SAMPLERS)}")
        # the ancestral sampler takes every training timestep unless told fewer
        steps = cfg.timesteps if sampler == "ddpm" and options.get("steps") is None else opts.steps
        if isinstance(steps, float) and not steps.is_integer():
            raise GlyphgenError(f"steps = {steps} must be a whole number")
        steps = int(steps)
        if not 1 <= steps <= cfg.timesteps:
            raise GlyphgenError(f"steps = {steps} is out of range; use 1 to {cfg.timesteps}")
        guidance = check_finite(opts.guidance, "guidance", 0.0, 100.0)
        device = next(self.parameters()).device

        gens = generators(seeds)
        x_T = randn_per_image(gens, self.image_shape, device)
        was_training = self.training
        self.eval()  # dropout off while sampling
        try:
            report = None if callback is None else (lambda k, x: callback(k, _to_unit(x)))
            if sampler == "ddim":
                alphas = self.alphas_cumprod.to(device)
                out = ddim_loop(
                    net, alphas, steps, x_T, y, guidance, null_class, cfg.prediction, return_trajectory, report
                )
            else:
                scheduler = sampler_scheduler(sampler, self.noise)
                scheduler.set_timesteps(steps, device=device)
                out = sample_loop(net, scheduler, x_T, gens, y, guidance, null_class, return_trajectory, report)
        finally:
            self.train(was_training)
        if return_trajectory:
            x, trajectory = out
            return _to_unit(x), _to_unit(torch.stack(trajectory))
        return _to_unit(out)

    @torch.no_grad()
    def noising(self, x0: torch.Tensor, seed: int, n: int) -> list[torch.Tensor]:
        """The forward process on one glyph: x_t ~ q(x_t | x0) at n timesteps from 0 to T-1, one noise draw (seed),
        each (C, H, W) in [0, 1]. The left half of the noising/denoising strip figure."""
        eps = randn_per_image(generators([seed]), self.image_shape, x0.device)[0]
        ts = torch.linspace(0, self.config.timesteps - 1, n).round().long()
        x0 = x0 * 2 - 1
        return [_to_unit(self.noise.add_noise(x0, eps, t.view(1))) for t in ts]


class DDPM(Diffusion):
    """Denoising diffusion (Ho et al. 2020) with eps, x0 or v prediction, Min-SNR weighting and classifier-free
    guidance; the denoiser is `glyphgen.models.unet`, the noise process and samplers are diffusers schedulers."""

    family = "ddpm"
    config_class = DDPMConfig
    options_class = DDPMOptions

    def __init__(self, config: DDPMConfig, image_shape: tuple[int, int, int], num_classes: int = 0):
        c, h, _ = image_shape
        prototype = config.prototype if num_classes else 0
        if prototype > h:
            raise GlyphgenError(f"prototype = {prototype} is larger than the {h} px images; use at most {h}")
        super().__init__(config, image_shape, num_classes, extra_inputs=c if prototype else 0)
        self.prototype = prototype
        if self.prototype:
            # (num_classes + 1, C, p, p) in [0, 1]; the last row (null class) stays blank
            self.register_buffer("prototypes", torch.zeros(num_classes + 1, c, self.prototype, self.prototype))

    @torch.no_grad()
    def prepare(self, images: torch.Tensor, labels: torch.Tensor, **_) -> None:
        if not self.prototype:
            return
        n, size = self.num_classes, self.prototype
        sums = torch.zeros(n, images[0].numel(), dtype=torch.float64)
        sums.index_add_(0, labels.long(), images.reshape(len(images), -1).double())
        counts = torch.bincount(labels.long(), minlength=n).clamp(min=1).unsqueeze(1)
        means = (sums / counts / 255.0).float().reshape(n, *self.image_shape)
        self.prototypes[:n] = F.interpolate(means, size=(size, size), mode="area").to(self.prototypes)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The U-Net's prediction, with the class prototype channel on a prototype model (y None = null class), the
        input folded into patches and the prediction unfolded on a patch model."""
        x_in = x_t
        if self.prototype:
            index = torch.full_like(t, self.num_classes) if y is None else y
            proto = self.prototypes[index].float()
            cond = F.interpolate(proto, size=x_t.shape[-2:], mode="bilinear", align_corners=False)
            x_in = torch.cat([x_t, (cond * 2 - 1).to(x_t.dtype)], dim=1)
        return self.unet(x_in, t, y)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None, step: int) -> tuple[dict[str, torch.Tensor], dict]:
        def denoise(x_t, t):
            labels = y if self.num_classes else None  # an unconditional model ignores the data layer's labels
            if labels is not None:
                labels = drop_labels(labels, self.config.cond_drop, self.num_classes)
            return self.denoise(x_t, t, labels)

        return self.diffusion_loss(x, denoise)

    @classmethod
    def capabilities_for(cls, num_classes: int) -> Capabilities:
        return Capabilities(
            takes_labels=num_classes > 0, draws_chars=num_classes > 0, trajectory=True, samplers=SAMPLERS
        )

    @torch.no_grad()
    def sample(
        self,
        seeds: list[int],
        labels: torch.Tensor | None = None,
        return_trajectory: bool = False,
        callback: Callable[[int, torch.Tensor], None] | None = None,
        **options,
    ):
        """One image per seed, (N, C, H, W) in [0, 1]; options (`DDPMOptions`) not given come from the config.

        labels      (N,) class per image, or None for unconditional samples (required None on unconditional models)
        sampler     "ddpm", "ddim" or "dpm++"
        steps       denoising steps; default: config.sample_steps, or all timesteps for "ddpm"
        guidance    classifier-free guidance scale w (0 = unconditional, 1 = conditional); ignored without labels
        return_trajectory  also return x_t after every step, x_T first, as one (steps + 1, N, C, H, W) tensor in [0, 1]
        callback    callback(k, x) after step k, x (N, C, H, W) in [0, 1]
        """
        seeds = list(seeds)
        if not seeds:
            raise GlyphgenError("no seeds given; pass one seed per image")
        y = check_labels(labels, len(seeds), self.num_classes, next(self.parameters()).device)
        return self.run_sampler(self.denoise, seeds, y, self.num_classes, return_trajectory, callback, options)

    def diffusers_pipeline(self):
        """This model as a diffusers `DDPMPipeline` (UNet2DModel + DDPMScheduler), for `save_pretrained`.

        Unconditional models run in the pipeline as they are. A class-conditional UNet2DModel needs `class_labels`
        (0..num_classes-1, or num_classes for the null class), which DDPMPipeline does not pass: load its `unet` and
        `scheduler` and loop yourself. The pipeline's images are ink high (white glyphs on black)."""
        from diffusers import DDPMPipeline

        from glyphgen.models.unet import DiffusersUNet

        if not isinstance(self.net, DiffusersUNet):
            raise GlyphgenError("only models with unet = 'diffusers' export to a diffusers pipeline")
        if self.patch > 1:
            raise GlyphgenError(
                "a patch model does not export to a diffusers pipeline (its UNet2DModel sees folded images)"
            )
        if self.prototype:
            raise GlyphgenError(
                "a prototype-conditioned DDPM does not export to a diffusers pipeline (it also reads "
                "the class prototype channel, which the pipeline cannot pass)"
            )
        # The model's own sampler (DPM-Solver++ by default), so the pipeline samples as glyphgen does at the model's
        # steps; it was trained on the same betas, which every scheduler built here shares.
        return DDPMPipeline(unet=self.net.unet, scheduler=sampler_scheduler(self.default_options().sampler, self.noise))

    def diffusers_readme(self) -> str:
        """How to run the exported pipeline: the steps the model samples with, and what its images mean."""
        opts = self.sample_options()
        return (
            "# A glyphgen DDPM as a diffusers pipeline\n\n"
            f"Scheduler: {opts.sampler} (diffusers' {type(self.diffusers_pipeline().scheduler).__name__}), the sampler "
            f"glyphgen uses for this model, at {opts.steps} steps:\n\n"
            "```python\nfrom diffusers import DDPMPipeline\n\n"
            'pipe = DDPMPipeline.from_pretrained("diffusers")\n'
            f'images = pipe(batch_size=16, num_inference_steps={opts.steps}, output_type="np").images\n```\n\n'
            "Images are **ink high**: white glyphs on black (1 - image gives dark ink on white paper).\n"
        )


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    return ((x.float() + 1) / 2).clamp(0, 1).contiguous()  # [-1, 1] -> [0, 1], ink high
