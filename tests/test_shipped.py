"""The pretrained models that ship inside the package: each loads, samples the right shape on CPU, and its config
round-trips; with `-m slow`, a fresh small evaluation agrees with the metrics on its card."""

import json

import pytest
import torch

from glyphgen import zoo
from glyphgen.checkpoint import CONFIG, EVAL, load, read_config
from glyphgen.config import from_dict
from glyphgen.generate import sample

SHIPPED = zoo.shipped()
NAMES = [m.name for m in SHIPPED]


def test_the_default_model_ships():
    assert zoo.DEFAULT_MODEL in NAMES
    total = sum(f.stat().st_size for f in zoo.WEIGHTS_DIR.rglob("*.safetensors"))
    assert total <= 40e6, f"shipped weights are {total / 1e6:.1f} MB; the budget is 40 MB"


@pytest.mark.parametrize("name", NAMES)
def test_shipped_model_loads_and_samples(name):
    model = next(m for m in SHIPPED if m.name == name)
    method, meta = load(model.path)
    chars = "".join(meta["classes"][:3]) if meta.get("num_classes") else None
    images, _ = sample(name, n=3, seed=0, chars=chars, **({"steps": 4} if meta["family"] == "ddpm" else {}))
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
