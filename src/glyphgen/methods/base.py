"""`Method`: what every model family (dream, ddpm, vae, cvae, gan, style, recognizer) provides to the one trainer.

A method owns its networks (as submodules), its loss and its sampler. The training loop never branches on the family:
it asks `param_groups()` which optimisers to build, calls `loss()` and steps the optimiser of each returned loss.
Networks live in `glyphgen.models` and map tensors to tensors; a method wires them to a noise process and a loss.

What a family can do is declared, not asked by name: `capabilities()` says whether it draws glyphs at all (the
recogniser only reads them), takes, needs or honours labels (draws asked-for characters), has a trajectory, which
samplers it offers and whether it writes in a given style; its `SampleOptions` dataclass names its sampling options
with their defaults. `sample(seeds, labels, **options)` checks
the options once (`sample_options`): an option the family does not have is an error listing those it has. The CLI
and the app build their controls from these, so nothing above `methods/` names a family.

Conventions:
    x       (B, C, H, W) float in [0, 1], ink high (the data layer's convention); each method maps it to its own range
    y       (B,) int64 class labels (characters), or None for unconditional training
    seeds   one int per image: image k depends only on seeds[k] (and its label), never on the batch size
    samples (N, C, H, W) float in [0, 1], ink high
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from glyphgen.errors import GlyphgenError
from glyphgen.methods.options import SampleOptions


@dataclass
class MethodConfig:
    """Fields shared by every family; each family's config subclasses this."""

    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 0.0  # Adam weight decay (L2)


@dataclass(frozen=True)
class Capabilities:
    """What one model (a family with its number of classes) can do; read by the CLI, the app and evaluation."""

    takes_labels: bool = False  # sample() accepts labels (a conditional model)
    needs_labels: bool = False  # sample() without labels is an error (otherwise: random or no labels)
    draws_chars: bool = False  # the labels choose the character drawn, so it can write text and fonts
    trajectory: bool = False  # sample(..., return_trajectory=True) returns every step, (T, N, C, H, W)
    samplers: tuple[str, ...] = ()  # named samplers the `sampler` option takes ("" = none to choose)
    writes_in_style: bool = False  # write(style_images, labels, seeds, **options): the style of given glyphs
    generates: bool = True  # sample() draws glyphs; False for a classifier (the recogniser), which reads them


def sample_options(cls: type[SampleOptions], given: dict, defaults: SampleOptions | None = None) -> SampleOptions:
    """Build `cls` from `defaults` (or its own) and the options `given` (None values keep the default); an option
    `cls` does not have is a one-line error that lists those it has."""
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in given if k not in names]
    if unknown:
        valid = ", ".join(names) if names else "none"
        raise GlyphgenError(f"unknown sampling option {unknown[0]!r} for this model; its options: {valid}")
    base = defaults if defaults is not None else cls()
    return dataclasses.replace(base, **{k: v for k, v in given.items() if v is not None})


def check_finite(value, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A float option in [low, high]: NaN, infinities and non-numbers are one-line errors."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise GlyphgenError(f"{name} {value!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise GlyphgenError(f"{name} {value} is out of range; use {low:g} to {high:g}")
    return value


def check_labels(labels, n: int, num_classes: int, device=None) -> torch.Tensor | None:
    """Labels for n images of a model with `num_classes` classes: None stays None; otherwise (n,) int64 on device,
    each in 0..num_classes-1 (one message for every family)."""
    if labels is None:
        return None
    if not num_classes:
        raise GlyphgenError("this model is unconditional; it draws no asked-for characters (drop the labels)")
    labels = torch.as_tensor(labels).flatten()
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise GlyphgenError(f"labels must be integers, got {labels.dtype}")
    labels = labels.long()
    if len(labels) != n:
        raise GlyphgenError(f"{len(labels)} labels for {n} images; give one label per seed")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)][0].item()
        raise GlyphgenError(f"label {bad} is out of range; this model knows labels 0..{num_classes - 1}")
    return labels.to(device)


def random_labels(gens: list[torch.Generator], num_classes: int) -> torch.Tensor:
    """One label per image, label k drawn from gens[k] (so it does not depend on the batch)."""
    return torch.stack([torch.randint(num_classes, (), generator=g) for g in gens])


def no_trajectory(return_trajectory: bool, callback, family: str) -> None:
    """A one-shot decoder (vae, cvae, gan) has no steps to return or report."""
    if return_trajectory or callback is not None:
        raise GlyphgenError(f"{family} models draw in one step; they have no trajectory")


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per image, summed over latent dimensions: (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


def check_images(x: torch.Tensor, image_shape: tuple[int, ...], what: str = "images") -> torch.Tensor:
    """(N, C, H, W) or one (C, H, W) glyph of the model's shape, as float32; anything else is a one-line error."""
    if x.dim() == len(image_shape):
        x = x[None]
    if x.dim() != len(image_shape) + 1 or tuple(x.shape[1:]) != tuple(image_shape):
        raise GlyphgenError(f"{what} must be {tuple(image_shape)} (C, H, W), got {tuple(x.shape)}")
    if len(x) == 0:
        raise GlyphgenError(f"give at least one of the {what}")
    return x.to(torch.float32)


class Method(nn.Module):
    family: ClassVar[str]  # "dream", "ddpm", ...
    config_class: ClassVar[type[MethodConfig]]
    options_class: ClassVar[type[SampleOptions]] = SampleOptions  # the family's sampling options
    conditioning: ClassVar[str] = "optional"  # labels in training: "never", "optional" (--conditional) or "always"

    def __init__(self, config: MethodConfig, image_shape: tuple[int, int, int], num_classes: int = 0):
        super().__init__()
        self.config = config
        self.image_shape = tuple(image_shape)  # (C, H, W)
        self.num_classes = num_classes  # 0 = unconditional
        self.sampling_defaults: dict = {}  # an export's own sampling defaults (config.json's "sampling" section)

    uses_styles: ClassVar[bool] = False  # loss() also takes styles=(B,) int64, the face of each glyph

    def prepare(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        styles: torch.Tensor | None = None,
        content: torch.Tensor | None = None,
    ) -> None:
        """Called once with the whole training set before training, (N, C, H, W) uint8 and (N,) int64, with its
        faces (N,) and content glyphs (num_classes, C, H, W) uint8 where the data has them: a family that derives
        fixed buffers from the data (the DDPM's class prototypes, the style family's content glyphs) or draws from
        it while training (the style family's references) takes them here."""

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters per optimiser; one Adam each. Families with adversarial parts return several ("g", "d")."""
        return {"model": list(self.parameters())}

    def optimizer_options(self, group: str) -> dict:
        """Keyword arguments for `torch.optim.Adam` of one parameter group."""
        return {"lr": self.config.lr, "weight_decay": self.config.weight_decay}

    def loss(self, x: torch.Tensor, y: torch.Tensor | None, step: int) -> tuple[dict[str, torch.Tensor], dict]:
        """Losses keyed by parameter group (a group left out is not stepped this time) and floats to log."""
        raise NotImplementedError

    @classmethod
    def capabilities_for(cls, num_classes: int) -> Capabilities:
        """What a model of this family with `num_classes` classes can do (from its config.json, before loading)."""
        return Capabilities()

    def capabilities(self) -> Capabilities:
        return self.capabilities_for(self.num_classes)

    def class_probs(self, glyphs: torch.Tensor) -> torch.Tensor | None:
        """The model's own reading of glyphs (N, C, H, W) in [0, 1]: (N, num_classes) class probabilities, or None
        for a family that has no classifier (the app then asks the shipped recogniser)."""
        return None

    @property
    def writes_in_style(self) -> bool:
        return self.capabilities().writes_in_style

    @classmethod
    def options_for(cls, config: MethodConfig) -> SampleOptions:
        """The sampling options a model of this config uses when none are given."""
        return cls.options_class()

    def default_options(self) -> SampleOptions:
        return self.options_for(self.config)

    @classmethod
    def option_limits(cls, config: MethodConfig) -> dict[str, int]:
        """Upper bounds of integer sampling options that a model of this config sets (e.g. a DDPM's steps)."""
        return {}

    def sample_options(self, **given) -> SampleOptions:
        """The given sampling options over this model's defaults (its config's, then its export's "sampling"
        section), checked: an option the family does not have is an error listing those it has."""
        defaults = sample_options(self.options_class, self.sampling_defaults, self.default_options())
        return sample_options(self.options_class, given, defaults)

    def for_export(self) -> tuple[Method, dict]:
        """The model an export of this method holds, and entries its config.json adds: itself and none, except for a
        method that trains another (distillation exports its student, with a "sampling" section)."""
        return self, {}

    @torch.no_grad()
    def sample(
        self,
        seeds: list[int],
        labels: torch.Tensor | None = None,
        return_trajectory: bool = False,
        callback: Callable[[int, torch.Tensor], None] | None = None,
        **options,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """One image per seed, (N, C, H, W) in [0, 1], ink high. Families with a trajectory also return it, as one
        (T, N, C, H, W) tensor in [0, 1], when asked, and call `callback(step, x)` after each step."""
        raise NotImplementedError


def generators(seeds: list[int]) -> list[torch.Generator]:
    """One CPU generator per image: image k's noise comes only from seeds[k], so it does not depend on the batch it
    is sampled in (EDM's generate.py does the same). Samplers draw every step's noise through `randn_per_image`."""
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


def randn_per_image(
    gens: list[torch.Generator], shape: tuple[int, ...], device=None, dtype=torch.float32
) -> torch.Tensor:
    """(N, *shape) standard normal noise, row k from gens[k] (advances each generator)."""
    return torch.stack([torch.randn(shape, generator=g, dtype=dtype) for g in gens]).to(device)
