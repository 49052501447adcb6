"""`VAE`: the variational autoencoder of Kingma & Welling (2014), as in the GANji kanji experiments.

A ResNet encoder (`glyphgen.models.vae.VAEEncoder`) gives q(z|x) = N(mu, exp(logvar)); a mirrored decoder gives
Bernoulli logits of p(x|z). The loss is the negative ELBO per image: BCE-with-logits summed over pixels plus
beta * KL(q(z|x) || N(0, I)) summed over latent dimensions, both divided by the batch size (GANji sums over the
batch; dividing only rescales the gradient, which Adam ignores, and keeps logged values comparable across batch
sizes). beta = 1 is the plain VAE; beta > 1 is the beta-VAE of Higgins et al. (2017).

GANji trains with Adam 1e-3 under a OneCycle schedule at batch 128; the schedule and batch size belong to the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from glyphgen.config import check_choices
from glyphgen.errors import GlyphgenError
from glyphgen.methods.base import (
    Method,
    MethodConfig,
    check_finite,
    check_images,
    generators,
    kl_normal,
    no_trajectory,
    randn_per_image,
)
from glyphgen.methods.options import LatentOptions
from glyphgen.models.vae import VAEDecoder, VAEEncoder

MAX_DEPTH = 256  # residual blocks per network; GANji's VAE has 7


@dataclass
class VAEConfig(MethodConfig):
    """GANji VAE defaults; shrink base_width (and depth) for CPU-sized models."""

    latent: int = 256  # latent dimensions
    beta: float = 1.0  # KL weight (1 = ELBO; > 1 = beta-VAE)
    base_width: int = 64  # channels of the first residual block; the widest has base_width * max_mult
    depth: int = 7  # residual blocks in the encoder (and in the decoder); at least log2(size) - 2
    max_mult: int = 8  # widest block = base_width * max_mult (GANji: 64 -> 512)

    def __post_init__(self):
        check_choices(self)
        if self.latent < 1 or self.base_width < 1 or self.max_mult < 1:
            raise GlyphgenError("latent, base_width and max_mult must be positive")
        if self.depth > MAX_DEPTH:  # the block plan is a list of `depth` entries, made before any layer
            raise GlyphgenError(f"depth {self.depth} is too large; use at most {MAX_DEPTH} residual blocks")
        if self.beta < 0:
            raise GlyphgenError(f"beta {self.beta} must be >= 0")


def check_square_power_of_two(image_shape: tuple[int, int, int], family: str) -> int:
    """The side of a square image whose side is a power of two in 16..128; GlyphgenError otherwise."""
    _, h, w = image_shape
    if h != w or h not in (16, 32, 64, 128):
        raise GlyphgenError(f"{family} needs square images of side 16, 32, 64 or 128 pixels, got {h}x{w}")
    return h


class VAE(Method):
    family = "vae"
    conditioning = "never"
    options_class = LatentOptions
    config_class = VAEConfig

    def __init__(self, config: VAEConfig, image_shape: tuple[int, int, int], num_classes: int = 0):
        super().__init__(config, image_shape, num_classes)
        if num_classes:
            raise GlyphgenError("the vae family is unconditional; use cvae to condition on characters")
        size = check_square_power_of_two(self.image_shape, "vae")
        if config.depth < size.bit_length() - 3:
            raise GlyphgenError(
                f"depth {config.depth} is too small for {size} px; use at least {size.bit_length() - 3}"
            )
        net = dict(
            image_size=size,
            channels=self.image_shape[0],
            latent=config.latent,
            base_width=config.base_width,
            depth=config.depth,
            max_mult=config.max_mult,
        )
        self.encoder = VAEEncoder(**net)
        self.decoder = VAEDecoder(**net)

    def loss(self, x, y, step):
        mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation trick
        logits = self.decoder(z)
        bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
        kl = kl_normal(mu, logvar).mean()
        loss = bce + self.config.beta * kl
        return {"model": loss}, {"loss": loss.item(), "bce": bce.item(), "kl": kl.item()}

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, H, W) in [0, 1] -> posterior mean and log-variance, each (N, latent)."""
        return self.encoder(self._check_images(x))

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(N, latent) -> (N, C, H, W) ink probabilities in [0, 1] (the Bernoulli means, not binary draws)."""
        return torch.sigmoid(self.decoder(z))

    @torch.no_grad()
    def sample(self, seeds, labels=None, return_trajectory: bool = False, callback=None, **options):
        """Decode z ~ N(0, temperature^2 I), z_k drawn from seeds[k] alone."""
        temperature = check_finite(self.sample_options(**options).temperature, "temperature", 0.0, 10.0)
        if labels is not None:
            raise GlyphgenError("the vae family is unconditional; use cvae to generate given characters")
        no_trajectory(return_trajectory, callback, self.family)
        device = next(self.parameters()).device
        z = randn_per_image(generators(seeds), (self.config.latent,), device) * temperature
        return self.decode(z)

    @torch.no_grad()
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8, spherical: bool = False):
        """Decode `steps` latent codes from the posterior mean of glyph x_a to that of x_b: (steps, C, H, W).

        Linear by default; `spherical` uses slerp (White, 2016), which keeps the codes at a typical norm.
        """
        if steps < 2:
            raise GlyphgenError("interpolate needs steps >= 2 (the two end points)")
        mu, _ = self.encode(torch.cat([self._check_images(x_a), self._check_images(x_b)]))
        if len(mu) != 2:
            raise GlyphgenError("interpolate takes one glyph at each end")
        a, b = mu[0], mu[1]
        t = torch.linspace(0, 1, steps, device=mu.device)[:, None]
        if spherical:
            omega = torch.arccos((a / a.norm() * b / b.norm()).sum().clamp(-1 + 1e-7, 1 - 1e-7))
            z = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
        else:
            z = torch.lerp(a, b, t)
        return self.decode(z)

    def _check_images(self, x: torch.Tensor) -> torch.Tensor:
        return check_images(x, self.image_shape).to(next(self.parameters()).device)
