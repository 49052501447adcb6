"""Each family's sampling options: small dataclasses with defaults (a model's own defaults come from its config).

They live apart from the families (and import no torch) so that the CLI can build its options from them without
importing a network: `glyphgen -h` stays fast. A family names its class as `options_class`; `FAMILY_OPTIONS` lists
them by family for the CLI and the app, and `glyphgen.methods.base.sample_options` builds and checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from glyphgen.config import check_choices

Sampler = Literal["ddpm", "ddim", "dpm++"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)


@dataclass
class SampleOptions:
    """A family's sampling options; each family has a subclass with its own fields and their defaults."""

    def __post_init__(self):
        check_choices(self)  # e.g. an unknown sampler is an error listing the samplers


@dataclass
class DDPMOptions(SampleOptions):
    """Sampling a DDPM; a model's defaults come from its config (sampler, sample_steps, guidance)."""

    sampler: Sampler = "dpm++"  # ddpm (ancestral), ddim or dpm++ (DPM-Solver++ 2M)
    steps: int = 20  # denoising steps; the ddpm sampler takes every training timestep unless told fewer
    guidance: float = 1.0  # classifier-free guidance scale w: 0 unconditional, 1 conditional, > 1 guided


@dataclass
class DreamOptions(SampleOptions):
    """Dreaming; a model's defaults come from its config (num_cycles, churn, kT_up)."""

    num_cycles: int = 10  # dreaming cycles, each 2 * kT_steps generator passes up and down the schedule
    churn: float = 0.0  # level denoiser: share of the noise drawn afresh at each pass (0 annealed step, 1 fresh)
    kT_up: float | None = None  # level denoiser: temperature each later cycle climbs back to


@dataclass
class LatentOptions(SampleOptions):
    """Sampling a latent-variable model (vae, cvae, gan)."""

    temperature: float = 1.0  # scale of the latent noise z: below 1 trades variety for typical glyphs


FAMILY_OPTIONS: dict[str, type[SampleOptions]] = {
    "dream": DreamOptions,
    "ddpm": DDPMOptions,
    "vae": LatentOptions,
    "cvae": LatentOptions,
    "gan": LatentOptions,
    "style": DDPMOptions,
    "distill": DDPMOptions,  # a student samples as its teacher does (its export is of the teacher's family)
    "recognizer": SampleOptions,  # a classifier: nothing to sample
}
