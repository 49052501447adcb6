"""`glyphgen eval` and `glyphgen compare` on tiny real models: the report renders; bad input is a one-line error."""

import json
from dataclasses import asdict

import pytest
import torch
import yaml
from typer.testing import CliRunner

from glyphgen import checkpoint
from glyphgen.cli import app
from glyphgen.eval.evaluate import evaluate

TINY = {"vae": {"latent": 8, "base_width": 4, "depth": 3}, "cvae": {"latent": 4, "width": 4, "hidden": 8}}


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    return result


@pytest.fixture(scope="module")
def models(tmp_path_factory, kanji, kanji_cfg):
    """A tiny vae and a tiny conditional cvae for the 600 test glyphs, exported untrained (what is scored does not
    matter here, only that every part of the report is made)."""
    from glyphgen.methods import get_family

    out = tmp_path_factory.mktemp("models")
    folders = {}
    for family, options in TINY.items():
        cls = get_family(family)
        torch.manual_seed(0)
        num_classes = len(kanji.classes) if family == "cvae" else 0
        method = cls(cls.config_class(**options), kanji.shape, num_classes)
        meta = {"data": asdict(kanji_cfg), "step": 0, "train_seconds": 0.0}
        checkpoint.export(method, out / family, classes=kanji.classes if num_classes else None, extra=meta)
        folders[family] = out / family
    return folders


def test_compare_writes_one_report_with_every_model(models, recognizer_dir, tmp_path):
    out = tmp_path / "report"
    result = run("compare", models["vae"], models["cvae"], "--n", 260, "--out", out, "--recognizer", recognizer_dir)
    assert result.exit_code == 0, result.output
    for name in ("report.md", "report.html", "comparison.json", "metrics.png"):
        assert (out / name).is_file(), name
    for family in ("vae", "cvae"):
        for name in ("report.md", "metrics.json", "samples.png", "real.png", "novelty.png", "distances.png"):
            assert (out / family / name).is_file(), (family, name)
    page = (out / "report.md").read_text()
    assert "| vae | vae | 32x32 |" in page and "| cvae | cvae | 32x32 |" in page and "cvae/samples.png" in page
    results = json.loads((out / "comparison.json").read_text())
    cvae = next(r for r in results if r["family"] == "cvae")
    assert cvae["n"] == 260 and 0 <= cvae["metrics"]["accuracy"]["top1"] <= 1
    for scores in (cvae["metrics"], cvae["band"]):
        assert {"fgd", "kid", "precision", "recall", "novelty", "legibility"} <= set(scores)
    assert cvae["band"]["fgd"] < cvae["metrics"]["fgd"]  # an untrained model is far from real glyphs
    assert "real-data band" in (out / "cvae" / "report.md").read_text()


def test_eval_command_prints_scores_against_the_band(models, recognizer_dir, tmp_path):
    result = run("eval", models["vae"], "--n", 257, "--out", tmp_path / "e", "--recognizer", recognizer_dir)
    assert result.exit_code == 0, result.output
    assert "real band" in result.output and (tmp_path / "e" / "report.md").is_file()


def _one_line_error(result, text):
    assert result.exit_code == 2, result.output
    assert text in result.output and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and text in errors[0], result.output  # (render progress bars may precede it)


def test_a_small_custom_reference_is_scored_without_fgd(models, recognizer_dir, tmp_path, kanji_cfg):
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump({**asdict(kanji_cfg), "limit": 300}))  # fewer than 2 x 257 glyphs
    result = run(
        "eval", models["vae"], "--ref", small, "--n", 100, "--out", tmp_path / "e", "--recognizer", recognizer_dir
    )
    assert result.exit_code == 0, result.output
    assert "FGD and KID left out" in result.output and "precision" in result.output
    report = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert report["metrics"]["fgd"] is None and 0 <= report["metrics"]["precision"] <= 1


def test_bad_input_is_a_one_line_error(models, recognizer_dir, tmp_path, kanji_cfg):
    vae = models["vae"]
    _one_line_error(run("eval", vae, "--n", 10, "--recognizer", recognizer_dir), "use --n 16 or more")
    _one_line_error(run("eval", vae, "--ref", "nosuchdata", "--recognizer", recognizer_dir), "unknown reference")
    ref = tmp_path / "ref16.yaml"
    ref.write_text(yaml.safe_dump({"data": {**asdict(kanji_cfg), "size": 16}}))
    _one_line_error(run("eval", vae, "--ref", ref, "--recognizer", recognizer_dir), "pass --ref with size 32")
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump({**asdict(kanji_cfg), "limit": 20}))
    _one_line_error(run("eval", vae, "--ref", tiny, "--recognizer", recognizer_dir), "needs 32 or more")
    _one_line_error(run("eval", vae, "--steps", 5, "--recognizer", recognizer_dir), "unknown sampling option 'steps'")
    _one_line_error(run("eval", vae, "--recognizer", tmp_path), "no recogniser in")


def test_a_three_channel_model_is_refused(tmp_path, recognizer_dir):
    from glyphgen.methods import get_family

    cls = get_family("vae")
    method = cls(cls.config_class(latent=4, base_width=4, depth=3), (3, 32, 32), 0)
    checkpoint.export(method, tmp_path / "rgb", extra={"data": {"source": "cifar10", "size": 32}, "step": 0})
    _one_line_error(run("eval", tmp_path / "rgb", "--recognizer", recognizer_dir), "3 channels")
    with pytest.raises(Exception, match="3 channels"):
        evaluate(tmp_path / "rgb", recognizer=recognizer_dir)
