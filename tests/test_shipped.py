"""The pretrained models that ship inside the package: each loads, samples the right shape on CPU, and its config
round-trips; with `-m slow`, a fresh small evaluation agrees with the metrics on its card."""

import dataclasses
import json
import os
from pathlib import Path

import pytest
import torch

from glyphgen import zoo
from glyphgen.checkpoint import CONFIG, EVAL, load, read_config
from glyphgen.config import from_dict
from glyphgen.generate import sample

SHIPPED = zoo.shipped()
NAMES = [m.name for m in SHIPPED]
GOLDEN = Path(__file__).parent / "golden" / "shipped.json"


def few_steps(method) -> dict:
    """The cheapest setting of a model's step-like sampling option (whatever the family calls it), for fast tests."""
    names = {f.name for f in dataclasses.fields(method.options_class)}
    return {k: v for k, v in (("steps", 4), ("num_cycles", 1)) if k in names}


def golden_slice(name: str) -> list[float]:
    """A pinned piece of a seeded sample: the centre 4x4 pixels of images 0 and 1 (seed 0, few steps)."""
    method, meta = load(zoo.find(name))
    chars = "".join(meta["classes"][:2]) if meta.get("num_classes") else None
    images, _ = sample(name, n=2, seed=0, chars=chars, **few_steps(method))
    h, w = images.shape[-2:]
    return [round(float(v), 5) for v in images[:, 0, h // 2 - 2 : h // 2 + 2, w // 2 - 2 : w // 2 + 2].flatten()]


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_samples_its_golden_values(name):
    """An upgrade of torch or diffusers that changes what a shipped model draws fails here (diffusers' fast tests
    pin an `expected_slice` the same way). After a deliberate change: GLYPHGEN_UPDATE_GOLDEN=1 pytest -k golden."""
    values = golden_slice(name)
    pinned = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}
    if os.environ.get("GLYPHGEN_UPDATE_GOLDEN"):
        pinned[name] = values
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n")
    assert name in pinned, f"no golden values for {name}; run with GLYPHGEN_UPDATE_GOLDEN=1 once"
    assert max(abs(a - b) for a, b in zip(values, pinned[name], strict=True)) < 2e-3


def test_the_default_model_ships():
    assert zoo.DEFAULT_MODEL in NAMES
    total = sum(f.stat().st_size for f in zoo.WEIGHTS_DIR.rglob("*.safetensors"))
    # 55 MB: the two few-step students (float16, ~17 MB together) beside their teachers; PyPI takes 100 MB a file
    assert total <= 55e6, f"shipped weights are {total / 1e6:.1f} MB; the budget is 55 MB"


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_loads_and_samples(name):
    model = next(m for m in SHIPPED if m.name == name)
    method, meta = load(model.path)
    chars = "".join(meta["classes"][:3]) if meta.get("num_classes") else None
    images, _ = sample(name, n=3, seed=0, chars=chars, **few_steps(method))
    assert images.shape == (3, *meta["image_shape"])
    assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    assert images.std() > 0.05  # not a blank or constant picture
    # the config round-trips: rebuilt from config.json, the family config serialises back to the same mapping
    from dataclasses import asdict

    config_class = type(method.config)
    rebuilt = json.loads(json.dumps(asdict(from_dict(config_class, meta["config"]))))  # tuples -> lists
    assert {k: rebuilt[k] for k in meta["config"]} == meta["config"]
    # fields added to the family since the export take their defaults, so older exports keep loading
    defaults = json.loads(json.dumps(asdict(config_class())))
    assert {k: v for k, v in rebuilt.items() if k not in meta["config"]} == {
        k: defaults[k] for k in rebuilt if k not in meta["config"]
    }
    assert (model.path / "README.md").is_file()
    assert read_config(model.path) == json.loads((model.path / CONFIG).read_text(encoding="utf-8"))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_card_metrics_match_a_fresh_evaluation(name, tmp_path):
    """The card's FGD and precision against a fresh 600-sample evaluation (other seed), within sampling noise."""
    from glyphgen.eval.evaluate import evaluate

    model = next(m for m in SHIPPED if m.name == name)
    card = json.loads((model.path / EVAL).read_text())
    fresh = evaluate(name, n=600, seed=1, out=tmp_path, progress=False, **card.get("sample_options", {}))
    for key, tol in (("precision", 0.1), ("recall", 0.1), ("novelty", 0.1)):
        assert abs(fresh["metrics"][key] - card["metrics"][key]) <= tol, key
    if "accuracy" in card["metrics"]:  # conditional models: recogniser top-1 on the asked-for characters
        assert abs(fresh["metrics"]["accuracy"]["top1"] - card["metrics"]["accuracy"]["top1"]) <= 0.1
    # FGD depends on the sample count, so compare each FGD as a multiple of its own band (same count)
    card_ratio = card["metrics"]["fgd"] / card["band"]["fgd"]
    fresh_ratio = fresh["metrics"]["fgd"] / fresh["band"]["fgd"]
    assert card_ratio / 3 <= fresh_ratio <= card_ratio * 3
