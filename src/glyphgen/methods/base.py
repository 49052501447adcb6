"""`Method`: what every model family (dream, ddpm, vae, cvae, gan) provides to the one trainer.

A method owns its networks (as submodules), its loss and its sampler. The training loop never branches on the family:
it asks `param_groups()` which optimisers to build, calls `loss()` and steps the optimiser of each returned loss.
Networks live in `glyphgen.models` and map tensors to tensors; a method wires them to a noise process and a loss.

Conventions:
    x       (B, C, H, W) float in [0, 1], ink high (the data layer's convention); each method maps it to its own range
    y       (B,) int64 class labels (characters), or None for unconditional training
    seeds   one int per image: image k depends only on seeds[k] (and its label), never on the batch size
    samples (N, C, H, W) float in [0, 1], ink high
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


@dataclass
class MethodConfig:
    """Fields shared by every family; each family's config subclasses this."""

    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 0.0  # Adam weight decay (L2)


class Method(nn.Module):
    family: ClassVar[str]  # "dream", "ddpm", ...
    config_class: ClassVar[type[MethodConfig]]
    writes_in_style: ClassVar[bool] = False  # has write(style_images, labels, seeds, **options): style from examples

    def __init__(self, config: MethodConfig, image_shape: tuple[int, int, int], num_classes: int = 0):
        super().__init__()
        self.config = config
        self.image_shape = tuple(image_shape)  # (C, H, W)
        self.num_classes = num_classes  # 0 = unconditional

    def prepare(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """Called once with the whole training set before training, (N, C, H, W) uint8 and (N,) int64: a family
        that derives fixed buffers from the data (the DDPM's class prototypes) computes them here."""

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters per optimiser; one Adam each. Families with adversarial parts return several ("g", "d")."""
        return {"model": list(self.parameters())}

    def optimizer_options(self, group: str) -> dict:
        """Keyword arguments for `torch.optim.Adam` of one parameter group."""
        return {"lr": self.config.lr, "weight_decay": self.config.weight_decay}

    def loss(self, x: torch.Tensor, y: torch.Tensor | None, step: int) -> tuple[dict[str, torch.Tensor], dict]:
        """Losses keyed by parameter group (a group left out is not stepped this time) and floats to log."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, seeds: list[int], labels: torch.Tensor | None = None, **options) -> torch.Tensor:
        """One image per seed, (N, C, H, W) in [0, 1]."""
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
