"""Shipped-model lookup, model cards and `glyphgen export/models/sample` around them, on real tiny exports."""

import json

import pytest
import torch
from typer.testing import CliRunner

from glyphgen import cards, zoo
from glyphgen.checkpoint import export, load
from glyphgen.cli import app
from glyphgen.errors import GlyphgenError
from glyphgen.generate import resolve_model
from glyphgen.methods.cvae import CVAE, CVAEConfig
from glyphgen.methods.vae import VAE, VAEConfig

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A private shipped-weights folder with a conditional cvae, an unconditional vae and a non-generative model."""
    folder = tmp_path / "weights"
    torch.manual_seed(0)
    cvae = CVAE(CVAEConfig(latent=4, width=8), (1, 28, 28), num_classes=3)
    export(cvae, folder / "hand-cvae", classes=list("abc"), extra={"step": 10, "train_seconds": 120.0})
    vae = VAE(VAEConfig(base_width=4, depth=2, latent=4), (1, 16, 16))
    export(vae, folder / "kanji-ddpm", extra={"step": 5})  # stands in for the default model's name
    (folder / "recognizer").mkdir()
    (folder / "recognizer" / "config.json").write_text(json.dumps({"family": "recognizer"}))
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", folder)
    return folder


def test_shipped_lists_generative_models_only(weights):
    models = {m.name: m for m in zoo.shipped()}
    assert sorted(models) == ["hand-cvae", "kanji-ddpm"]
    line = models["hand-cvae"].describe()
    assert "cvae" in line and "28x28" in line and "conditional on 3 characters" in line and "2 min" in line


def test_names_resolve_to_shipped_models_and_folders_win(weights, tmp_path, monkeypatch):
    assert resolve_model("hand-cvae") == weights / "hand-cvae"
    assert resolve_model(None) == weights / "kanji-ddpm"
    monkeypatch.chdir(tmp_path)
    export(VAE(VAEConfig(base_width=4, depth=2, latent=4), (1, 16, 16)), tmp_path / "hand-cvae")
    assert resolve_model("hand-cvae").resolve() == (tmp_path / "hand-cvae").resolve()  # a local folder wins
    with pytest.raises(GlyphgenError, match="not a shipped model .*hand-cvae, kanji-ddpm"):
        resolve_model("no-such-model")
    (tmp_path / "kanji-ddpm" / "eval").mkdir(parents=True)  # what `glyphgen eval kanji-ddpm` leaves in the cwd
    assert resolve_model("kanji-ddpm") == weights / "kanji-ddpm"


def test_models_and_default_sample_commands(weights, tmp_path):
    listing = run("models")
    assert listing.exit_code == 0
    assert "hand-cvae" in listing.output and "kanji-ddpm" in listing.output and "(default)" in listing.output
    assert "recognizer" not in listing.output
    out = tmp_path / "samples.png"
    result = run("sample", "--n", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.is_file() and "kanji-ddpm" in result.output and str(out.resolve()) in result.output


def test_no_shipped_model_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path / "empty")
    result = runner.invoke(app, ["sample", "--out", str(tmp_path / "s.png")])
    assert result.exit_code == 2 and "no model 'kanji-ddpm'" in result.output
    assert not (tmp_path / "s.png").exists()


def test_export_writes_a_card_from_the_export_itself(weights, tmp_path):
    source = weights / "hand-cvae"
    (source / "eval").mkdir()  # where `glyphgen eval <model>` writes by default
    report = {"metrics": {"fgd": 12.5, "precision": 0.71, "accuracy": {"top1": 0.5, "n": 8}}, "band": {"fgd": 3.0}}
    (source / "eval" / "metrics.json").write_text(json.dumps(report))
    dest = tmp_path / "published"
    result = run("export", str(source), str(dest), "--about", "Letters a, b and c.")
    assert result.exit_code == 0, result.output
    card = (dest / "README.md").read_text()
    params = sum(p.numel() for p in load(dest)[0].state_dict().values())
    assert f"{params:,}" in card and "Letters a, b and c." in card
    assert "10 steps" in card and "2.0 min" in card and "conditional on 3 characters" in card
    assert "| fgd | 12.5 | 3 |" in card and "| precision | 0.71 |" in card and "| accuracy top1 | 0.5 |" in card
    assert json.loads((dest / "eval.json").read_text()) == report
    assert json.loads((dest / "config.json").read_text())["about"] == "Letters a, b and c."
    # re-rendering keeps the sentence: it lives in config.json, not only in the card
    assert "Letters a, b and c." in cards.render(dest)


def test_export_without_eval_says_so_and_refuses_to_overwrite_itself(weights):
    source = weights / "kanji-ddpm"
    cards.write(source)
    assert "Not evaluated yet" in (source / "README.md").read_text()
    result = runner.invoke(app, ["export", str(source), str(source)])
    assert result.exit_code == 2 and "is the model itself" in result.output


def test_card_names_every_part_of_a_mix():
    line = cards._data_line({"source": "mix", "size": 28, "parts": ["{source: digits}", "{source: font}"]})
    assert line == "a mix at 28 px of `{source: digits}`; `{source: font}`"


def test_half_export_halves_the_file_and_samples_the_same(weights, tmp_path):
    from glyphgen.generate import sample

    source, dest = weights / "hand-cvae", tmp_path / "half"
    assert run("export", str(source), str(dest), "--half", "--no-card").exit_code == 0
    full, half = (source / "model.safetensors").stat().st_size, (dest / "model.safetensors").stat().st_size
    assert half < 0.6 * full
    assert json.loads((dest / "config.json").read_text())["weights_dtype"] == "float16"
    method, _ = load(dest)
    assert all(p.dtype == torch.float32 for p in method.parameters())  # cast back into the float32 network
    a, _ = sample(source, n=4, chars="abca")
    b, _ = sample(dest, n=4, chars="abca")
    assert (a - b).abs().max() < 0.02


def test_export_sets_sampling_defaults_the_family_has_in_their_own_section(weights, tmp_path):
    from glyphgen.checkpoint import load
    from glyphgen.methods.ddpm import DDPM, DDPMConfig

    export(DDPM(DDPMConfig(widths=[8, 16], attention=[], blocks=1), (1, 16, 16)), tmp_path / "d")
    assert run("export", str(tmp_path / "d"), str(tmp_path / "e"), "--steps", "8", "--sampler", "ddim").exit_code == 0
    meta = json.loads((tmp_path / "e" / "config.json").read_text())
    assert meta["sampling"] == {"steps": 8, "sampler": "ddim"}  # the training config is left as it was
    assert meta["config"]["sample_steps"] == DDPMConfig().sample_steps
    options = load(tmp_path / "e")[0].sample_options()
    assert (options.steps, options.sampler) == (8, "ddim")
    bad = runner.invoke(app, ["export", str(weights / "hand-cvae"), str(tmp_path / "f"), "--steps", "8"])
    assert bad.exit_code == 2 and "unknown sampling option 'steps'" in bad.output and "temperature" in bad.output
    bad = runner.invoke(app, ["export", str(tmp_path / "d"), str(tmp_path / "g"), "--sampler", "euler"])
    assert bad.exit_code == 2 and "sampler = 'euler' is not allowed; choose one of" in bad.output


def test_exported_files_are_readable_by_everyone_and_leave_no_temporaries(tmp_path):
    import stat

    from glyphgen import checkpoint
    from glyphgen.methods import get_family

    cls = get_family("vae")
    method = cls(cls.config_class(latent=4, base_width=4, depth=2), (1, 16, 16))
    folder = checkpoint.export(method, tmp_path / "m")
    checkpoint.copy_export(folder, tmp_path / "copy", half=True)
    for f in (*folder.iterdir(), *(tmp_path / "copy").iterdir()):
        assert stat.S_IMODE(f.stat().st_mode) & 0o044 == 0o044, f  # group and others may read (not 0600)
        assert not f.name.endswith(".tmp"), f


def test_the_python_api_loads_a_shipped_model_and_samples_asked_for_characters():
    import glyphgen

    model = glyphgen.load("kanji-ddpm-cond")
    labels = model.labels("永字")
    assert [model.classes[i] for i in labels] == ["永", "字"] and not model.training
    images = model.sample(seeds=[0, 1], labels=labels, steps=2)
    assert images.shape == (2, 1, 32, 32) and 0 <= images.min() and images.max() <= 1
    with pytest.raises(GlyphgenError, match="was not trained on"):
        model.labels("A")


def test_cards_carry_hugging_face_metadata_and_a_use_line_that_works(tmp_path):
    import yaml
    from huggingface_hub import ModelCard

    for model in zoo.shipped():
        card = ModelCard.load(model.path / "README.md")  # the hub's own parser
        assert card.data.library_name == "glyphgen" and card.data.license and "glyphgen" in card.data.tags
    kanji = yaml.safe_load((zoo.find("kanji-ddpm") / "README.md").read_text().split("---")[1])
    assert kanji["license"] == "cc-by-sa-3.0"  # KanjiVG's licence
    cls = CVAE
    method = cls(CVAEConfig(latent=4, width=4, hidden=8), (1, 28, 28), 3)
    folder = export(method, tmp_path / "exports" / "mine", classes=list("abc"), extra={"data": {"source": "digits"}})
    text = cards.render(folder)
    assert f"glyphgen sample {folder} " in text  # a path sample can find, not a bare folder name
    assert yaml.safe_load(text.split("---")[1])["license"] == "cc-by-4.0"
