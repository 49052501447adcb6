"""`CVAE`: the conditional VAE (Sohn et al., 2015) of the handwriting dashboard, with a built-in character classifier.

The encoder predicts the character's class logits and q(z|x) = N(mu, exp(logvar)); the decoder reconstructs x from
z and the class probabilities. Because the class is given to the decoder separately, z is pushed to hold what the
class does not say: the writer's style. That is what makes style transfer work: `write` encodes a user's glyphs to
z and decodes any other characters with the same z.

Loss (the original's): ce_weight * CE(class logits, y) + BCE-with-logits(mean over pixels and batch)
+ kl_weight(step) * KL, with KL summed over latent dimensions and averaged over the batch. The original raises the
KL weight by 0.001 per epoch from 0 (epoch 0 trains a plain autoencoder); here the weight is a function of the step:

    staircase (original):  kl_weight = min(kl_max, kl_per_epoch * (step // steps_per_epoch))
    linear:                kl_weight = min(kl_max, kl_per_epoch * step / steps_per_epoch)

During training the decoder gets softmax(class logits), as in the original (so reconstruction also trains the
classifier, and the decoder learns to read soft class mixtures); `decoder_labels="onehot"` teacher-forces the true
class instead, which matches what the decoder sees at sampling time.
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
    check_images,
    check_labels,
    generators,
    kl_normal,
    no_trajectory,
    randn_per_image,
    random_labels,
)
from glyphgen.methods.options import LatentOptions
from glyphgen.models.vae import CVAEDecoder, CVAEEncoder


@dataclass
class CVAEConfig(MethodConfig):
    """Handwriting-dashboard defaults (Adam 1e-3, batch 64 in the original); the layer sizes are the original's."""

    latent: int = 64  # latent (style) dimensions
    width: int = 32  # channels of both convolutions
    hidden: int = 128  # hidden units of the class head and of the decoder's class branch
    ce_weight: float = 0.1  # weight of the classification cross-entropy
    kl_per_epoch: float = 0.001  # KL-weight slope: added per epoch of warm-up
    steps_per_epoch: int = 1000  # optimiser steps counted as one epoch by the warm-up (dataset size / batch size)
    kl_warmup: Literal["staircase", "linear"] = "staircase"  # staircase = the original's per-epoch steps
    kl_max: float = 1.0  # cap on the KL weight
    decoder_labels: Literal["predicted", "onehot"] = "predicted"  # training decoder input: softmax(logits) or true

    def __post_init__(self):
        check_choices(self)
        if min(self.latent, self.width, self.hidden, self.steps_per_epoch) < 1:
            raise GlyphgenError("latent, width, hidden and steps_per_epoch must be positive")
        if min(self.ce_weight, self.kl_per_epoch, self.kl_max) < 0:
            raise GlyphgenError("ce_weight, kl_per_epoch and kl_max must be >= 0")


class CVAE(Method):
    family = "cvae"
    conditioning = "always"
    options_class = LatentOptions
    config_class = CVAEConfig

    def __init__(self, config: CVAEConfig, image_shape: tuple[int, int, int], num_classes: int = 0):
        super().__init__(config, image_shape, num_classes)
        if num_classes < 1:
            raise GlyphgenError("the cvae family needs labelled data (num_classes > 0); use vae for unlabelled glyphs")
        c, h, w = self.image_shape
        if h != w or h % 4 or h < 8:
            raise GlyphgenError(f"cvae needs square images with a side divisible by 4 (e.g. 28), got {h}x{w}")
        net = dict(
            image_size=h,
            channels=c,
            num_classes=num_classes,
            latent=config.latent,
            width=config.width,
            hidden=config.hidden,
        )
        self.encoder = CVAEEncoder(**net)
        self.decoder = CVAEDecoder(**net)

    def kl_weight(self, step: int) -> float:
        cfg = self.config
        epochs = step // cfg.steps_per_epoch if cfg.kl_warmup == "staircase" else step / cfg.steps_per_epoch
        return min(cfg.kl_max, cfg.kl_per_epoch * epochs)

    def loss(self, x, y, step):
        if y is None:
            raise GlyphgenError("the cvae family trains on labelled data; the dataset gave no labels")
        logits, mu, logvar = self.encoder(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        if self.config.decoder_labels == "onehot":
            probs = F.one_hot(y, self.num_classes).to(x.dtype)
        else:
            probs = logits.softmax(dim=1)
        recon = self.decoder(z, probs)
        ce = F.cross_entropy(logits, y)
        bce = F.binary_cross_entropy_with_logits(recon, x)
        kl = kl_normal(mu, logvar).mean()
        w = self.kl_weight(step)
        loss = self.config.ce_weight * ce + bce + w * kl
        acc = (logits.argmax(1) == y).float().mean()
        logs = {"loss": loss.item(), "ce": ce.item(), "bce": bce.item(), "kl": kl.item(), "kl_weight": w}
        return {"model": loss}, logs | {"accuracy": acc.item()}

    # ---- sampling and style transfer -------------------------------------------------------------------------

    @classmethod
    def capabilities_for(cls, num_classes: int) -> Capabilities:
        return Capabilities(takes_labels=True, draws_chars=True, writes_in_style=True)

    @torch.no_grad()
    def sample(self, seeds, labels=None, return_trajectory: bool = False, callback=None, **options):
        """Decode z ~ N(0, temperature^2 I) with one-hot labels; z_k (and label k when labels is None) from seeds[k]."""
        temperature = check_finite(self.sample_options(**options).temperature, "temperature", 0.0, 10.0)
        no_trajectory(return_trajectory, callback, self.family)
        gens = generators(seeds)
        device = self._device
        if labels is None:
            labels = random_labels(gens, self.num_classes)
        labels = check_labels(labels, len(seeds), self.num_classes, device)
        z = randn_per_image(gens, (self.config.latent,), device) * temperature
        return self._decode(z, labels)

    @torch.no_grad()
    def encode_style(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N, C, H, W) glyphs in [0, 1], ink high -> (z_mu (N, latent), z_logvar (N, latent), class probs (N, K))."""
        logits, mu, logvar = self.encoder(check_images(x, self.image_shape, "style images").to(self._device))
        return mu, logvar, logits.softmax(dim=1)

    @torch.no_grad()
    def class_probs(self, glyphs: torch.Tensor) -> torch.Tensor:
        return self.encode_style(glyphs)[2]

    @torch.no_grad()
    def recognize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's class head as a recogniser: (predicted label (N,) int64, its probability (N,))."""
        _, _, probs = self.encode_style(x)
        confidence, label = probs.max(dim=1)
        return label, confidence

    @torch.no_grad()
    def write(
        self,
        style_images: torch.Tensor,
        labels,
        seeds: list[int] | None = None,
        average: bool = True,
        temperature: float = 0.0,
    ) -> torch.Tensor:
        """Render characters `labels` in the handwriting of `style_images`: (N, C, H, W) in [0, 1], N = len(labels).

        style_images: (S, C, H, W) or (C, H, W) glyphs in [0, 1], ink high, already framed like the training data
        (the original crops each drawing to its ink box, pads it to 20x20 and adds a 4 px border to reach 28x28).
        average: decode every label from the mean style code; otherwise output k uses style image k mod S.
        temperature: 0 decodes the style mean; t > 0 draws z = mu + t * sigma * eps, eps from seeds[k] (the
        original dashboard's "randomness" slider on the latent variance). seeds default to 0..N-1.
        """
        temperature = check_finite(temperature, "temperature", 0.0, 10.0)
        mu, logvar, _ = self.encode_style(style_images)
        labels = torch.as_tensor(labels)
        labels = check_labels(labels, labels.numel(), self.num_classes, mu.device)
        n = len(labels)
        if average:
            # Averaging log-variances is averaging in log space: the geometric mean of the style variances.
            mu, logvar = mu.mean(0, keepdim=True).expand(n, -1), logvar.mean(0, keepdim=True).expand(n, -1)
        else:
            index = torch.arange(n, device=mu.device) % len(mu)
            mu, logvar = mu[index], logvar[index]
        z = mu
        if temperature:
            seeds = list(range(n)) if seeds is None else seeds
            if len(seeds) != n:
                raise GlyphgenError(f"write got {len(seeds)} seeds for {n} labels")
            eps = randn_per_image(generators(seeds), (self.config.latent,), mu.device)
            z = mu + temperature * (0.5 * logvar).exp() * eps
        return self._decode(z, labels)

    # ---- helpers ---------------------------------------------------------------------------------------------

    @property
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def _decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(labels, self.num_classes).to(z.dtype)
        return torch.sigmoid(self.decoder(z, onehot))
