"""The `glyphgen` command through typer's runner, plus one real subprocess for exit codes and stderr."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from glyphgen.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def test_help_explains_every_data_option():
    result = run("data", "preview", "-h")
    assert result.exit_code == 0
    for option in ("--source", "--charset", "--stroke-width", "--placement", "--augment-copies", "--out", "--n"):
        assert option in result.output
    assert "kanjivg, font, faces, digits" in result.output  # Literal choices are listed


def test_preview_writes_a_grid(tmp_path):
    out = tmp_path / "grid.png"
    result = run("data", "preview", "--charset", "永字八法", "--size", "32", "--n", "4", "--out", str(out))
    assert result.exit_code == 0, result.output
    picture = Image.open(out)
    assert picture.size == (2 * 34 + 2, 2 * 34 + 2)  # 2x2 tiles of 32 px with 2 px padding
    assert "4 of 4 glyphs" in result.output


def test_build_reports_and_caches(tmp_path):
    args = ("data", "build", "--charset", "永字", "--size", "16")
    first = run(*args)
    assert first.exit_code == 0 and "built in" in first.output and "2 glyphs of 2 characters" in first.output
    second = run(*args)
    assert "cache hit" in second.output


def test_charsets_and_fonts_lists():
    result = run("data", "charsets")
    assert result.exit_code == 0 and "gb2312-1" in result.output and "3,755" in result.output
    fonts = run("data", "fonts")
    if fonts.exit_code == 2:
        pytest.skip("no CJK font installed")
    assert fonts.exit_code == 0 and "CJK" in fonts.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--source", "font", "--fonts", "/nonexistent/font.otf"), "/nonexistent/font.otf"),
        (("--source", "font", "--fonts", "@corrupt"), "corrupt.ttf"),
        (
            ("--source", "font", "--fonts", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "--charset", "永字"),
            "DejaVuSans",
        ),
        (("--charset", "gb2312"), "unknown character set"),
        (("--source", "mnist", "--path", "@badidx"), "IDX"),
        (("--source", "folder", "--path", "@emptydir"), "emptydir"),
        (
            (
                "--source",
                "svg",
            ),
            "one of",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
    corrupt = tmp_path / "corrupt.ttf"
    corrupt.write_bytes(b"\x00\x01\x00\x00garbage" * 10)
    badidx = tmp_path / "train-images-idx3-ubyte"
    badidx.write_bytes(b"\x00\x00\x09\x99" + b"\x00" * 20)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    (tmp_path / "emptydir").mkdir()
    subst = {"@corrupt": str(corrupt), "@badidx": str(badidx), "@emptydir": str(tmp_path / "emptydir")}
    args = [subst.get(a, a) for a in args]
    result = runner.invoke(app, ["data", "preview", "--out", str(tmp_path / "x.png"), *args])
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert message.startswith("error:") or "Invalid value" in message or "one of" in message
    assert needle in message
    if message.startswith("error:"):
        assert len(message.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


def test_real_process_prints_one_line_without_traceback(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "glyphgen.cli",
        "data",
        "preview",
        "--charset",
        "nosuchset",
        "--out",
        str(tmp_path / "x.png"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown character set 'nosuchset'")
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    debug = subprocess.run([*cmd[:3], "--debug", *cmd[3:]], capture_output=True, text=True, timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_every_config_field_is_documented():
    """`-h` shows each field's `# comment`; a field without one would appear undocumented."""
    from glyphgen.config import DataConfig, TrainConfig, field_docs
    from glyphgen.methods import FAMILIES, get_family

    for cls in (DataConfig, TrainConfig, *(get_family(f).config_class for f in FAMILIES)):
        missing = set(cls.__dataclass_fields__) - set(field_docs(cls))
        assert not missing, f"{cls.__name__}: {sorted(missing)}"


def test_train_dry_run_resolves_yaml_and_command_line(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: ddpm\ndata: {size: 32}\ntrain: {steps: 50}\nddpm: {prediction: eps, lr: 0.001}\n")
    result = run("train", "--config", str(cfg), "--steps", "70", "--dry-run", "--prediction", "v")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "model: ddpm" in out and "size: 32" in out and "steps: 70" in out
    assert "prediction: v" in out and "lr: 0.001" in out  # CLI beats YAML, YAML beats defaults


def test_yaml_exponent_numbers_are_numbers_and_words_are_an_error(tmp_path):
    # PyYAML (YAML 1.1) reads `1e-3` as a string; a number field must still get the number.
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: ddpm\nddpm: {lr: 1e-3, min_snr_gamma: 5}\n")
    result = run("train", "--config", str(cfg), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "lr: 0.001" in result.output and "min_snr_gamma: 5.0" in result.output
    cfg.write_text("model: ddpm\nddpm: {lr: fast}\n")
    result = run("train", "--config", str(cfg), "--dry-run")
    assert result.exit_code != 0 and "lr must be a number, got 'fast'" in result.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (("train", "--model", "vae", "--prediction", "v", "--dry-run"), "does not apply to the vae family"),
        (("train", "--model", "flow", "--dry-run"), "unknown model family"),
        (("train", "--model", "ddpm", "--sampler", "euler", "--dry-run"), "one of"),
        (("train", "--resume", "/nonexistent/run"), "no checkpoints/last.ckpt"),
        (("sample", "/nonexistent/model"), "model not found"),
    ],
)
def test_train_and_sample_bad_input(args, needle):
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and needle in result.output
    assert len(result.output.strip().splitlines()) == 1


CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_resolves(path):
    result = run("train", "--config", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"name: {path.stem}" in result.output  # each config names its run after itself


def test_write_lays_text_out_in_lines_with_a_shipped_model(tmp_path):
    out = tmp_path / "page.png"
    result = run("write", "hand-cvae", "Hi 2\nAb?", "-o", str(out), "--scale", "1")
    assert result.exit_code == 0, result.output
    assert "5 glyphs in 2 lines" in result.output and "'?' (U+003F)" in result.output  # the unknown '?' is named
    side = 28 + 2  # 28 px glyphs, 2 px paper between
    assert Image.open(out).size == (4 * side + 2, 2 * side + 2)  # 4 columns (the longest line), 2 lines


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["write", "kanji-vae", "永"], "unconditional"),
        (["write", "hand-cvae", "AB", "--steps", "3"], "unknown sampling option 'steps'"),
        (["sample", "kanji-vae", "-o", "{tmp}/folder-without-extension"], "name a picture file"),
        (["sample", "kanji-vae", "-o", "{tmp}/a-file/x.png"], "cannot write"),
    ],
)
def test_sampling_commands_refuse_bad_requests_before_any_work(tmp_path, args, message):
    (tmp_path / "a-file").write_text("")
    result = run(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 2 and message in result.output.strip().splitlines()[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "kanji-vae", "--scale", "100000"], "less than or equal to 16"),  # once killed for memory
        (["train", "-m", "vae", "--checkpoint-every", "0", "--dry-run"], "checkpoint_every must be at least 1"),
        (["train", "-m", "vae", "--batch-size", "100000000", "--dry-run"], "batch_size 100000000 is too large"),
        (["train", "-m", "dream", "--conditional", "--dry-run"], "unconditional"),
    ],
)
def test_oversized_or_impossible_requests_are_refused_up_front(args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize("command", [["sample"], ["write", "kanji-ddpm-cond", "永"], ["eval", "kanji-ddpm"], ["app"]])
def test_every_command_that_runs_a_network_takes_a_device_and_threads(command):
    import torch

    result = run(*command, "-h")
    assert "--device" in result.output and "--threads" in result.output
    if not torch.cuda.is_available():
        bad = run(*command, "--device", "cuda")
        assert bad.exit_code != 0 and "sees no CUDA GPU here; use --device cpu" in bad.output
    wrong = run(*command, "--device", "tpu")
    assert wrong.exit_code != 0 and "unknown device 'tpu'" in wrong.output


def test_sampling_on_the_cpu_with_one_thread(tmp_path):
    import torch

    threads = torch.get_num_threads()
    try:
        result = run("sample", "kanji-ddpm", "--n", "2", "--steps", "2", "--device", "cpu", "--threads", "1",
                     "-o", str(tmp_path / "s.png"))  # fmt: skip
        assert result.exit_code == 0, result.output
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_sampling_again_replaces_the_single_glyphs_and_names_them_by_character_and_seed(tmp_path):
    out = tmp_path / "s.png"
    assert run("sample", "kanji-ddpm-cond", "--chars", "永字八法", "--steps", "2", "-o", str(out)).exit_code == 0
    first = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert first == ["000-永-seed0.png", "001-字-seed1.png", "002-八-seed2.png", "003-法-seed3.png"]
    assert (
        run("sample", "kanji-ddpm-cond", "--chars", "日", "--seed", "7", "--steps", "2", "-o", str(out)).exit_code == 0
    )
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["000-日-seed7.png"]  # no glyph of the first call left
    first_grid = out.read_bytes()
    (tmp_path / "s" / "notes.txt").write_text("mine")
    result = run("sample", "kanji-ddpm-cond", "--chars", "月", "--seed", "3", "--steps", "2", "-o", str(out))
    assert result.exit_code != 0 and "holds other files (notes.txt)" in result.output
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["000-日-seed7.png", "notes.txt"]  # untouched
    assert out.read_bytes() == first_grid  # nor the grid: the folder is checked before sampling
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no hidden temporaries left behind


def test_the_app_without_its_optional_gradio_says_how_to_get_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    result = run("app", "--port", "7999")
    assert result.exit_code != 0 and "pip install 'glyphgen[app]'" in result.output


def test_plot_draws_the_logged_curves_and_names_what_a_run_logs(tmp_path):
    import json

    run_dir = tmp_path / "r"
    run_dir.mkdir()
    lines = [json.dumps({"step": s, "loss": 1 / s, "lr": 1e-3, "elapsed_s": s}) for s in range(1, 30)]
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + '\n{"step": 3')  # a run killed mid-line
    result = run("plot", str(run_dir))
    assert result.exit_code == 0, result.output
    picture = Image.open(run_dir / "curves.png")
    assert picture.size[1] > picture.size[0] / 2  # two stacked panels: loss and lr
    bad = run("plot", str(run_dir), "--keys", "fgd")
    assert bad.exit_code != 0 and "logs no 'fgd'; it logs loss, lr" in bad.output
    none = run("plot", str(tmp_path))
    assert none.exit_code != 0 and "has no metrics.jsonl" in none.output


@pytest.mark.parametrize(
    "typo, suggestion", [("--stepz", "--steps"), ("--min-snr", "--min-snr-gamma"), ("--bach-size", "--batch-size")]
)
def test_a_mistyped_training_option_gets_the_nearest_real_one(typo, suggestion):
    result = run("train", "--model", "ddpm", typo, "3", "--dry-run")
    assert result.exit_code != 0 and f"no such option: {typo}; did you mean {suggestion}?" in result.output


@pytest.mark.parametrize(
    "yaml_text, match",
    [
        ("model: ddpm\ntrain: {channels_last: maybe}", "channels_last must be true or false, got 'maybe'"),
        ("model: ddpm\ntrain: {steps: many}", "steps must be a whole number, got 'many'"),
        ("model: ddpm\ntrain: {steps: 2.5}", "steps must be a whole number, got 2.5"),
        ("model: ddpm\ndata: {size: [32]}", "size must be a whole number"),
        ("model: ddpm\ndata: [1, 2]", "must be a mapping"),
        ("model: ddpm\nddpm: {widths: eight}", "widths\\[0\\] must be a whole number, got 'eight'"),
    ],
)
def test_a_config_value_of_the_wrong_kind_is_one_line(tmp_path, yaml_text, match):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    result = run("train", "--config", str(cfg), "--dry-run")
    assert result.exit_code != 0 and re.search(match, result.output), result.output
    assert "Traceback" not in result.output


def test_yaml_words_and_single_names_mean_what_they_say(tmp_path):
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text('model: ddpm\ntrain: {channels_last: "no", steps: 3.0}\ndata: {fonts: "Noto Sans CJK SC"}\n')
    result = run("train", "--config", str(cfg), "--dry-run")
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output)
    assert resolved["train"]["channels_last"] is False and resolved["train"]["steps"] == 3
    assert resolved["data"]["fonts"] == ["Noto Sans CJK SC"]  # one name, not its letters


def test_an_export_whose_config_json_is_broken_is_one_line(tmp_path):
    import json

    from glyphgen import checkpoint
    from glyphgen.errors import GlyphgenError
    from glyphgen.methods import get_family

    cls = get_family("vae")
    folder = checkpoint.export(cls(cls.config_class(latent=4, base_width=4, depth=2), (1, 16, 16)), tmp_path / "m")
    meta = json.loads((folder / "config.json").read_text())
    for broken in ([1, 2], {"latent": "four"}):
        (folder / "config.json").write_text(json.dumps({**meta, "config": broken}))
        with pytest.raises(GlyphgenError, match='has no "config" mapping|latent must be a whole number'):
            checkpoint.load(folder)


def test_a_family_option_named_like_a_training_option_gets_the_typed_value():
    import yaml

    result = run("train", "--model", "dream", "--no-channels-last", "--dry-run")
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output)
    assert resolved["train"]["channels_last"] is False and resolved["dream"]["channels_last"] is False


def test_help_at_80_columns_keeps_every_option_name_whole():
    import os

    env = {k: v for k, v in os.environ.items() if k != "TYPER_USE_RICH"}
    proc = subprocess.run(
        [sys.executable, "-m", "glyphgen.cli", "train", "-h"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "COLUMNS": "80"},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in proc.stdout
    for name in ("--checkpoint-every", "--augment-translate", "--snapshot-every", "--loggers"):
        assert any(line.split()[:1] == [name] for line in lines), name
