"""The style family (methods/style.py): references come from the glyph's own face and never show its character,
the conditions really steer the output, writing checks its references, and a trained export writes in a style."""

import pytest
import torch

from glyphgen.errors import GlyphgenError
from glyphgen.methods.style import Style, StyleConfig, _Bank

SHAPE = (1, 16, 16)
TINY = dict(widths=(8, 16), attention=(), timesteps=20, sample_steps=3, encoder_width=8)


def tiny(classes=4, **options):
    torch.manual_seed(0)
    return Style(StyleConfig(**{**TINY, **options}), SHAPE, classes)


def test_references_are_other_characters_of_the_same_face():
    styles = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    labels = torch.tensor([0, 1, 2, 0, 1, 0, 1, 2, 3])
    images = torch.arange(9, dtype=torch.uint8).reshape(9, 1, 1, 1).expand(9, 1, 2, 2)
    bank = _Bank(images, labels, styles)
    torch.manual_seed(0)
    want_styles, want_labels = torch.tensor([0, 1, 2, 2]), torch.tensor([1, 0, 3, 0])
    for _ in range(50):
        index = bank.draw(want_styles, want_labels, 5)
        face = styles[bank.images[index][..., 0, 0, 0].long()]  # images hold their original index
        assert torch.equal(face, want_styles[:, None].expand(-1, 5))
        assert not (bank.labels[index] == want_labels[:, None]).any()


def test_the_ema_copy_shares_the_reference_bank():
    import copy

    method = tiny()
    images = torch.zeros(6, *SHAPE, dtype=torch.uint8)
    method.prepare(
        images,
        torch.tensor([0, 1, 2, 0, 1, 2]),
        styles=torch.tensor([0, 0, 0, 1, 1, 1]),
        content=torch.zeros(4, *SHAPE, dtype=torch.uint8),
    )
    assert copy.deepcopy(method).bank is method.bank


def test_content_and_style_each_change_what_is_drawn():
    method = tiny().eval()
    with torch.no_grad():
        for p in method.parameters():  # a random net, but not the zero-initialised output layer of a fresh one
            p.add_(torch.randn_like(p) * 0.05)
    method.content.copy_((torch.rand(4, *SHAPE) * 255).to(torch.uint8))
    a, b = torch.rand(3, *SHAPE), torch.rand(3, *SHAPE)
    base = method.write(a, [0, 1], seeds=[5, 6])
    assert torch.equal(base, method.write(a, [0, 1], seeds=[5, 6]))  # seeds fix the noise
    assert not torch.allclose(base, method.write(b, [0, 1], seeds=[5, 6]))  # other references: another style
    assert not torch.allclose(base, method.write(a, [2, 3], seeds=[5, 6]))  # other characters: other content
    assert torch.allclose(base[:1], method.write(a, [0], seeds=[5]), atol=1e-5)  # image k: seed k only
    assert base.shape == (2, *SHAPE) and 0 <= base.min() and base.max() <= 1


def test_writing_checks_its_references_and_characters():
    method = tiny()
    with pytest.raises(GlyphgenError, match="give at least one of the reference glyphs"):
        method.write(torch.zeros(0, *SHAPE), [0])
    with pytest.raises(GlyphgenError, match="65 reference glyphs given; give 1 to 64"):
        method.write(torch.zeros(65, *SHAPE), [0])
    with pytest.raises(GlyphgenError, match="reference glyphs must be"):
        method.write(torch.zeros(2, 1, 8, 8), [0])
    with pytest.raises(GlyphgenError, match="label 4 is out of range"):
        method.write(torch.zeros(2, *SHAPE), [4])
    with pytest.raises(GlyphgenError, match="give one label per seed"):
        method.sample([0, 1])
    with pytest.raises(GlyphgenError, match="writes asked-for characters"):
        Style(StyleConfig(**TINY), SHAPE, 0)
    with pytest.raises(GlyphgenError, match="max_refs = 0"):
        StyleConfig(max_refs=0)


def test_training_without_faces_is_a_clear_error():
    method = tiny()
    with pytest.raises(GlyphgenError, match="grouped by face"):
        method.prepare(torch.zeros(2, *SHAPE, dtype=torch.uint8), torch.tensor([0, 1]))


def _train(tmp_path, name, steps, resume=False):
    from glyphgen import runs

    run_dir = tmp_path / name
    if resume:
        cfg = runs.resolve(None, str(run_dir / "config.yaml"), {}, {"steps": steps}, [])
    else:
        data = {"source": "faces", "faces": "latin", "size": 16, "charset": "=ABCDabcd0123T"}  # T is held out
        train = {"steps": steps, "batch_size": 4, "out": str(tmp_path), "name": name, "checkpoint_every": 2}
        args = ["--widths", "8,16", "--attention", "", "--sample-steps", "2", "--encoder-width", "8", "--max-refs", "3"]
        cfg = runs.resolve("style", None, data, {**train, "sample_every": 0}, args)
        run_dir = runs.make_run_dir(cfg)
    return runs.train(cfg, run_dir, resume=resume), run_dir


def test_training_resumes_exactly_and_the_export_writes_like_the_ema(tmp_path):
    from glyphgen import checkpoint

    straight, run_dir = _train(tmp_path, "straight", 4)
    _train(tmp_path, "split", 2)
    resumed, _ = _train(tmp_path, "split", 4, resume=True)
    a, b = straight.state_dict(), resumed.state_dict()
    for k in a:
        if k != "train_seconds":
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    method, meta = checkpoint.load(run_dir / "model")
    assert meta["family"] == "style" and "T" in meta["classes"]  # a held-out letter is still writable
    assert method.content.dtype == torch.uint8 and method.content.amax() == 255  # content glyphs ship with it
    refs = straight.images[:3].float() / 255
    labels = [meta["classes"].index("T"), 0]
    mine = method.write(refs, labels, seeds=[1, 2])
    torch.testing.assert_close(mine, straight.ema.module.eval().write(refs, labels, seeds=[1, 2]), rtol=0, atol=0)


def test_style_evaluation_scores_held_out_faces_against_both_baselines(tmp_path):
    from typer.testing import CliRunner

    from glyphgen.cli import app

    _, run_dir = _train(tmp_path, "m", 2)
    out = tmp_path / "eval"
    args = ["eval", str(run_dir), "--ks", "1,2", "--per-face", "3", "--steps", "2", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "unseen characters, k = 2: L1" in result.output
    import json

    r = json.loads((out / "style.json").read_text())
    table = r["table"]
    for name in ("model", "nearest", "content"):
        for cond in ("seen", "unseen"):
            for k in (1, 2):
                row = table[f"{name}/{cond}/k{k}"]
                assert 0 < row["l1"] < 1 and -1 <= row["ssim"] <= 1 and 0 <= row["top1"] <= 1
                assert 0 <= row["style_top1"] <= 1
    assert table["content/seen/k1"] == table["content/seen/k2"]  # the content baseline takes no references
    assert table["model/seen/k1"]["l1"] != table["model/seen/k2"]["l1"]  # the model does
    assert set(r["faces"]) == set(r["heldout_faces"]) and len(r["heldout_faces"]) == 5
    report = (out / "style.md").read_text()
    assert "| nearest |" in report and "style top-1" in report


def test_any_model_that_writes_in_a_style_is_scored_on_a_named_face_set(tmp_path):
    import json

    from typer.testing import CliRunner

    from glyphgen.cli import app

    out = tmp_path / "cvae"
    args = ["eval", "hand-cvae", "--faces", "latin", "--ks", "1", "--per-face", "2", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    r = json.loads((out / "style.json").read_text())
    assert r["face_set"] == "latin" and "model/seen/k1" in r["table"] and len(r["heldout_faces"]) == 5
    refused = CliRunner().invoke(app, ["eval", "kanji-ddpm", "--faces", "latin"])
    assert refused.exit_code != 0 and "needs a model that writes in a style" in refused.output
