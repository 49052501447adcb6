"""The contract every family keeps (methods/base.py): declared capabilities, checked sampling options, one output
shape and range, trajectories as one tensor and through a callback, shared label checks; and `--conditional` on a
family that ignores labels is refused."""

import dataclasses

import pytest
import torch

from glyphgen.errors import GlyphgenError
from glyphgen.methods import FAMILIES, get_family
from glyphgen.methods.options import FAMILY_OPTIONS
from glyphgen.runs import resolve

SHAPE = (1, 16, 16)
TINY = {  # family: (config options, classes it is built with)
    "dream": ({"base_features": 2, "levels": 2, "kT_steps": 3, "num_cycles": 1}, 0),
    "ddpm": ({"widths": (8, 16), "blocks": 1, "attention": (), "timesteps": 20, "sample_steps": 3}, 3),
    "vae": ({"latent": 4, "base_width": 4, "depth": 2}, 0),
    "cvae": ({"latent": 4, "width": 4, "hidden": 8}, 3),
    "gan": ({"latent": 8, "base_width": 4}, 3),
    "style": ({"widths": (8, 16), "attention": (), "timesteps": 20, "sample_steps": 3, "encoder_width": 8}, 3),
}


def build(family: str):
    options, classes = TINY[family]
    cls = get_family(family)
    torch.manual_seed(0)
    shape = (1, 28, 28) if family == "cvae" else SHAPE
    return cls(cls.config_class(**options), shape, classes).eval()


def test_every_family_is_in_the_options_registry():
    assert set(FAMILY_OPTIONS) == set(FAMILIES)
    for family in FAMILIES:
        assert get_family(family).options_class is FAMILY_OPTIONS[family]


@pytest.mark.parametrize("family", sorted(TINY))
def test_samples_are_n_c_h_w_in_unit_range_with_or_without_labels(family):
    method = build(family)
    caps = method.capabilities()
    labels = torch.tensor([0, 1]) if caps.takes_labels else None
    x = method.sample([3, 4], labels)
    assert x.shape == (2, *method.image_shape) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1
    if not caps.takes_labels:
        with pytest.raises(GlyphgenError, match="unconditional"):
            method.sample([3, 4], torch.tensor([0, 1]))
    else:
        with pytest.raises(GlyphgenError, match="label 7 is out of range"):
            method.sample([3, 4], torch.tensor([0, 7]))
        with pytest.raises(GlyphgenError, match="one label per seed"):
            method.sample([3, 4], torch.tensor([0]))
        with pytest.raises(GlyphgenError, match="must be integers"):
            method.sample([3, 4], torch.tensor([0.5, 1.0]))


@pytest.mark.parametrize("family", sorted(TINY))
def test_an_option_the_family_lacks_is_an_error_naming_the_ones_it_has(family):
    method = build(family)
    own = [f.name for f in dataclasses.fields(method.options_class)]
    with pytest.raises(GlyphgenError, match="unknown sampling option 'bogus'") as err:
        method.sample([0], None if not method.capabilities().needs_labels else torch.tensor([0]), bogus=1)
    assert all(name in str(err.value) for name in own)


@pytest.mark.parametrize("family", sorted(TINY))
def test_trajectories_are_one_tensor_and_reach_a_callback(family):
    method = build(family)
    if not method.capabilities().trajectory:
        with pytest.raises(GlyphgenError, match="no trajectory"):
            method.sample([0], return_trajectory=True)
        return
    seen = []
    labels = torch.tensor([0, 1]) if method.capabilities().needs_labels else None
    x, trajectory = method.sample(
        [0, 1], labels, return_trajectory=True, callback=lambda k, frame: seen.append((k, frame))
    )
    assert trajectory.dim() == 5 and trajectory.shape[1:] == x.shape
    assert 0 <= trajectory.min() and trajectory.max() <= 1
    assert torch.equal(trajectory[-1], x)  # the last frame is the sample
    assert [k for k, _ in seen] == list(range(len(seen))) and len(seen) >= len(trajectory) - 1
    assert torch.allclose(seen[-1][1], x)


def test_sampling_defaults_come_from_the_config_and_the_exports_own_section():
    method = build("ddpm")
    assert method.sample_options().steps == 3  # config.sample_steps
    method.sampling_defaults = {"steps": 2, "sampler": "ddim"}  # what load() reads from config.json's "sampling"
    assert (method.sample_options().steps, method.sample_options().sampler) == (2, "ddim")
    assert method.sample_options(steps=5).steps == 5  # what the caller asks wins
    with pytest.raises(GlyphgenError, match="choose one of 'ddpm', 'ddim', 'dpm\\+\\+'"):
        method.sample([0], sampler="euler")
    with pytest.raises(GlyphgenError, match="guidance nan is out of range"):
        method.sample([0], torch.tensor([0]), guidance=float("nan"))


def test_capabilities_follow_the_family_and_its_classes():
    assert build("cvae").capabilities().writes_in_style and build("cvae").capabilities().draws_chars
    assert build("ddpm").capabilities().samplers == ("ddpm", "ddim", "dpm++")
    ddpm = get_family("ddpm")
    assert not ddpm.capabilities_for(0).draws_chars and ddpm.capabilities_for(5).draws_chars
    assert not build("dream").capabilities().draws_chars and build("dream").capabilities().trajectory


@pytest.mark.parametrize("family", ["dream", "vae"])
def test_conditional_training_of_a_family_that_ignores_labels_is_refused(family):
    with pytest.raises(GlyphgenError, match="unconditional"):
        resolve(family, None, {}, {"conditional": True}, [])
    cls = get_family(family)
    with pytest.raises(GlyphgenError, match="unconditional"):
        cls(cls.config_class(**TINY[family][0]), SHAPE, 3)
