"""`GAN`: generative adversarial network (Goodfellow et al., 2014) with the GANji kanji GAN's recipe.

ResNet generator and discriminator (`glyphgen.models.gan`), hinge loss (Lim & Ye, 2017; Miyato et al., 2018) plus a
gradient penalty of weight 10, several discriminator steps per generator step, Adam 1e-4 with generator betas
(0, 0.99). The exponential moving average of the generator (Karras et al., 2018) is the trainer's EMA of the whole
method, so exports and `sample` use averaged weights without a second copy here.

Losses, with D's scores s = D(x) on real and s~ = D(G(z)) on fake images (both in [-1, 1]):
    hinge   D: relu(1 - s) + relu(1 + s~)        G: -s~
    bce     D: softplus(-s) + softplus(s~)       G: softplus(-s~)   (the non-saturating GAN)
    wgan    D: s~ - s                            G: -s~             (Wasserstein GAN, Arjovsky et al., 2017)
Gradient penalty (`penalty`): "r1" = gp_weight / 2 * E||grad_x D(x)||^2 on real data (Mescheder et al., 2018);
"interpolated" = gp_weight * E(||grad D(x^)|| - 1)^2 at random points between real and fake (WGAN-GP, Gulrajani
et al., 2017); "auto" (default) picks R1 for hinge and bce and the interpolated penalty for wgan.

Minibatch stddev (`mbstd_group`, on by default): D also sees the spread of its features across small groups of
images (Karras et al., 2018), so a generator that maps every z to one glyph is caught; in a 1,500-step CPU run on
jōyō kanji at 32 px GANji's plain D let G collapse to one pattern for every seed (pixel std across 16 seeds 0.06),
with it the samples stay distinct (0.14).

Step schedule: the trainer calls `loss` once per batch. Steps run in cycles of d_steps + 1: the first d_steps return
only {"d": ...}, the last returns only {"g": ...}, so each G step follows exactly d_steps D steps. Returning one
group at a time means a loss is never computed through weights another optimiser has since changed in place.
"""

from __future__ import annotations

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
    no_trajectory,
    randn_per_image,
    random_labels,
)
from glyphgen.methods.options import LatentOptions
from glyphgen.methods.vae import check_square_power_of_two
from glyphgen.models.gan import Discriminator, Generator


@dataclass
class GANConfig(MethodConfig):
    """GANji GAN defaults; shrink base_width for CPU-sized models."""

    lr: float = 1e-4  # Adam learning rate of both networks
    latent: int = 128  # dimensions of z
    base_width: int = 64  # narrowest channel count; the widest (4x4) layers have 8 * base_width
    loss: Literal["hinge", "bce", "wgan"] = "hinge"  # adversarial loss
    penalty: Literal["auto", "r1", "interpolated", "none"] = "auto"  # auto: r1 for hinge/bce, interpolated for wgan
    gp_weight: float = 10.0  # gradient-penalty weight
    d_steps: int = 5  # discriminator steps per generator step
    g_betas: tuple[float, float] = (0.0, 0.99)  # Adam betas of the generator
    d_betas: tuple[float, float] = (0.9, 0.999)  # Adam betas of the discriminator (GANji sets only G's)
    mbstd_group: int = 4  # minibatch-stddev channel in D over groups of this many images (ProGAN); 0 = GANji's D

    def __post_init__(self):
        check_choices(self)
        if self.d_steps < 1:
            raise GlyphgenError(f"d_steps {self.d_steps} must be >= 1")
        if self.gp_weight < 0 or self.mbstd_group < 0 or self.latent < 1 or self.base_width < 1:
            raise GlyphgenError("gp_weight and mbstd_group must be >= 0, latent and base_width positive")
        self.g_betas, self.d_betas = tuple(self.g_betas), tuple(self.d_betas)  # YAML gives lists


class GAN(Method):
    family = "gan"
    options_class = LatentOptions
    config_class = GANConfig

    def __init__(self, config: GANConfig, image_shape: tuple[int, int, int], num_classes: int = 0):
        super().__init__(config, image_shape, num_classes)
        size = check_square_power_of_two(self.image_shape, "gan")
        c = self.image_shape[0]
        self.generator = Generator(config.latent, config.base_width, size, c, num_classes)
        self.discriminator = Discriminator(config.base_width, size, c, num_classes, config.mbstd_group)

    def param_groups(self):
        return {"g": list(self.generator.parameters()), "d": list(self.discriminator.parameters())}

    def optimizer_options(self, group):
        betas = self.config.g_betas if group == "g" else self.config.d_betas
        return {"lr": self.config.lr, "weight_decay": self.config.weight_decay, "betas": tuple(betas)}

    def is_g_step(self, step: int) -> bool:
        return step % (self.config.d_steps + 1) == self.config.d_steps

    # ---- losses ----------------------------------------------------------------------------------------------

    def loss(self, x, y, step):
        if self.num_classes and y is None:
            raise GlyphgenError("this gan is class-conditional; the dataset gave no labels")
        y = y if self.num_classes else None
        x = x * 2 - 1  # (B, C, H, W) in [-1, 1], the range of the generator's Tanh
        z = torch.randn(len(x), self.config.latent, device=x.device)
        if self.is_g_step(step):
            g_loss = self.generator_loss(z, y)
            return {"g": g_loss}, {"g_loss": g_loss.item()}
        with torch.no_grad():
            fake = self.generator(z, y)
        d_loss, logs = self.discriminator_loss(x, fake, y)
        return {"d": d_loss}, logs

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None):
        """D's loss on real and (detached) fake images in [-1, 1], penalty included, and its parts for the log."""
        s_real, s_fake = self.discriminator(real, y), self.discriminator(fake.detach(), y)
        if self.config.loss == "hinge":
            adv = F.relu(1 - s_real).mean() + F.relu(1 + s_fake).mean()
        elif self.config.loss == "bce":
            adv = F.softplus(-s_real).mean() + F.softplus(s_fake).mean()
        else:
            adv = s_fake.mean() - s_real.mean()
        gp = self.gradient_penalty(real, y, fake)
        loss = adv + gp
        logs = {"d_loss": loss.item(), "d_real": s_real.mean().item(), "d_fake": s_fake.mean().item(), "gp": gp.item()}
        return loss, logs

    def generator_loss(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        # Freeze D while building the graph: G's loss then leaves no gradients in D's .grad for D's next step.
        self.discriminator.requires_grad_(False)
        try:
            s_fake = self.discriminator(self.generator(z, y), y)
        finally:
            self.discriminator.requires_grad_(True)
        return F.softplus(-s_fake).mean() if self.config.loss == "bce" else -s_fake.mean()

    def gradient_penalty(self, real: torch.Tensor, y: torch.Tensor | None, fake: torch.Tensor | None = None):
        """The configured penalty (see the module docstring), differentiable w.r.t. D's parameters; 0 when off."""
        kind = self.config.penalty
        if kind == "auto":
            kind = "interpolated" if self.config.loss == "wgan" else "r1"
        if kind == "none" or self.config.gp_weight == 0:
            return real.new_zeros(())
        if kind == "interpolated":
            if fake is None:
                raise ValueError("the interpolated penalty needs fake images")
            alpha = torch.rand(len(real), 1, 1, 1, device=real.device)
            point = torch.lerp(real.detach(), fake.detach(), alpha)
        else:
            point = real.detach()
        point.requires_grad_(True)
        (grad,) = torch.autograd.grad(self.discriminator(point, y).sum(), point, create_graph=True)
        sq_norm = grad.pow(2).flatten(1).sum(1)
        if kind == "r1":
            return self.config.gp_weight / 2 * sq_norm.mean()
        return self.config.gp_weight * ((sq_norm + 1e-12).sqrt() - 1).pow(2).mean()

    # ---- sampling ---------------------------------------------------------------------------------------------

    @classmethod
    def capabilities_for(cls, num_classes: int) -> Capabilities:
        return Capabilities(takes_labels=num_classes > 0, draws_chars=num_classes > 0)

    @torch.no_grad()
    def sample(self, seeds, labels=None, return_trajectory: bool = False, callback=None, **options):
        """One image per seed in [0, 1]; z_k (and label k when labels is None) drawn from seeds[k] alone.

        temperature scales z (below 1 trades variety for typical glyphs).
        """
        temperature = check_finite(self.sample_options(**options).temperature, "temperature", 0.0, 10.0)
        no_trajectory(return_trajectory, callback, self.family)
        gens = generators(seeds)
        device = next(self.parameters()).device
        if self.num_classes and labels is None:
            labels = random_labels(gens, self.num_classes)
        labels = check_labels(labels, len(seeds), self.num_classes, device)
        z = randn_per_image(gens, (self.config.latent,), device) * temperature
        return (self.generator(z, labels) + 1) / 2
