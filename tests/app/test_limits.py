"""The app's own defences, without a server: a broken model folder, the work budget, its output folders."""

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from glyphgen.app.handlers import Handlers, Limits, parse_size
from glyphgen.app.library import Library
from glyphgen.errors import GlyphgenError

from .conftest import TINY

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def _counting(method) -> list[int]:
    """Count the network's forward passes from now on (a hook on every module: evidence that a request ran)."""
    calls = [0]
    for module in method.modules():
        module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


# ---- a broken config.json -------------------------------------------------------------------------------------


def _broken(models_dir, tmp_path):
    """The tiny models beside folders whose config.json is broken in different ways, and one of another tool."""
    root = tmp_path / "models"
    shutil.copytree(models_dir, root)
    edits = {
        "not-json": lambda text: text[:-20],
        "a-list": lambda text: "[1, 2]",
        "bad-widths": lambda text: json.dumps({**json.loads(text), "config": {"widths": "wide"}}),
        "bad-shape": lambda text: json.dumps({**json.loads(text), "image_shape": "32x32"}),
        "bad-family": lambda text: json.dumps({**json.loads(text), "family": "nope"}),
    }
    for name, edit in edits.items():
        shutil.copytree(models_dir / "ddpm", root / name)
        config = root / name / "config.json"
        config.write_text(edit(config.read_text(encoding="utf-8")), encoding="utf-8")
    shutil.copytree(models_dir / "vae", root / "recognizer")  # the recogniser's kind of config.json: no "family"
    (root / "recognizer" / "config.json").write_text('{"format_version": 1, "kind": "glyphgen-recognizer"}')
    return root, sorted(edits)


def test_a_broken_config_json_skips_that_model_with_one_warning_line_and_the_app_still_builds(
    models_dir, tmp_path, caplog
):
    from glyphgen.app.ui import build

    root, broken = _broken(models_dir, tmp_path)
    with caplog.at_level(logging.WARNING, logger="glyphgen.app"):
        library = Library([root])
    assert sorted(library.entries) == sorted(TINY)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == len(broken)  # one each; none for the recogniser's config of another kind
    for name, line in zip(broken, sorted(warned), strict=True):
        assert line.startswith(f"skipping model {root / name}") and "\n" not in line
    assert "widths" in " ".join(warned) and "image_shape" in " ".join(warned)
    build(Handlers(library, out=tmp_path / "out"))  # every tab laid out over the good models


# ---- the work budget ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured(models_dir, tmp_path_factory):
    """Handlers whose ddpm has been calibrated by one small request."""
    handlers = Handlers(Library([models_dir]), out=tmp_path_factory.mktemp("out"))
    handlers.generate("ddpm", 1, 0, None, 1, 1.0)
    return handlers


def test_a_request_over_the_budget_is_refused_before_any_work(measured):
    big = measured.estimate("ddpm", 64, {"sampler": "ddim", "steps": 20, "guidance": 1.0})
    small = measured.estimate("ddpm", 1, {"sampler": "ddim", "steps": 1, "guidance": 1.0})
    assert big == pytest.approx(small * 20 * 64 / 8) and small > 0  # steps x a batch's step cost x batches
    styled = measured.estimate("style", 60, {"sampler": "ddim", "steps": 20, "guidance": 1.0})
    measured.limits = dataclasses.replace(measured.limits, budget_s=min(big, styled) / 2)
    try:
        calls = _counting(measured.library.load("ddpm")[0])
        style_calls = _counting(measured.library.load("style")[0])
        folders = set(measured.out.iterdir())
        with pytest.raises(GlyphgenError, match=r"64 images x 20 steps\) would take about .* allows .* s a request"):
            measured.generate("ddpm", 64, 0, "ddim", 20, 1.0)
        with pytest.raises(GlyphgenError, match="would take about"):
            measured.write("ddpm", "永字八" * 20, 0, "ddim", 20, 1.0)
        with pytest.raises(GlyphgenError, match="would take about"):  # refused before the (garbage) drawings are read
            measured.write_in_style("style", ["not a drawing"], "ABab12" * 10, 0, True, 0, 20, 1.0)
        assert calls == [0] and style_calls == [0]  # no network pass
        assert set(measured.out.iterdir()) == folders  # no file written
        assert measured.generate("ddpm", 2, 0, "ddim", 2, 1.0).files and calls[0] > 0  # small ones still run
    finally:
        measured.limits = Limits()


def test_the_estimate_errs_high(measured):
    options = {"sampler": "ddim", "steps": 10, "guidance": 1.0}
    estimate = measured.estimate("ddpm", 16, options)
    start = time.perf_counter()
    measured.generate("ddpm", 16, 0, "ddim", 10, 1.0)
    assert time.perf_counter() - start < 2 * estimate + 0.5  # sampling plus saving 16 PNGs and a zip


def test_guided_sampling_is_measured_apart(measured):
    # guidance other than 0 and 1 runs the network twice a step: its cost is its own measurement
    measured.estimate("ddpm", 8, {"sampler": "ddim", "steps": 5, "guidance": 3.0})
    measured.estimate("ddpm", 8, {"sampler": "ddim", "steps": 5, "guidance": 7.5})
    assert {key for key in measured._step_costs if key[0] == "ddpm"} == {("ddpm", 1.0), ("ddpm", "guided")}


def test_a_font_counts_its_tracing(measured, models_dir, tmp_path):
    tight = Handlers(measured.library, Limits(budget_s=0.5), out=tmp_path)  # 3 glyphs x 0.25 s of tracing > 0.5 s
    with pytest.raises(GlyphgenError, match=r"3 images x 2 steps, each traced \(0.25 s a glyph\)\) would take"):
        tight.font("ddpm", "永字八", "", 0, 2, 1.0)


def test_sizes_are_read_as_gradio_reads_them():
    assert parse_size("2mb") == 2 * 2**20 and parse_size("500KB") == 500 * 1024 and parse_size(7) == 7
    assert Limits().bytes("uploads_total") == 10 * 2**20
    with pytest.raises(GlyphgenError, match="not a size"):
        parse_size("lots")


# ---- output folders -------------------------------------------------------------------------------------------


def test_output_folders_are_removed_at_close_and_after_a_killed_app(models_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f"glyphgen-app-{dead.stdout.strip()}-x1"  # a killed app's: its process is gone
    live = tmp_path / f"glyphgen-app-{os.getppid()}-x2"  # a running app's (this test's parent process)
    other = tmp_path / "glyphgen-app-olderstyle"  # no process id in the name: not known to be stale
    for folder in (stale, live, other):
        (folder / "1-a").mkdir(parents=True)
    library = Library([models_dir])
    handlers = Handlers(library)
    assert handlers.out.parent == tmp_path and handlers.out.name.startswith(f"glyphgen-app-{os.getpid()}-")
    assert not stale.exists() and live.exists() and other.exists()
    handlers.generate("vae", 2)
    handlers.close()
    assert not handlers.out.exists()


def test_request_folders_are_bounded_in_age_and_size(models_dir, tmp_path):
    handlers = Handlers(Library([models_dir]), out=tmp_path)
    handlers.keep_bytes = 3 * 1024
    for _ in range(6):
        (handlers._folder() / "grid.png").write_bytes(b"\0" * 1024)
        time.sleep(0.01)
    kept = sorted(tmp_path.iterdir())
    assert 3 <= len(kept) <= 4  # ~3 KB of old folders plus the newest
    old = kept[0]
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    handlers._folder()
    assert not old.exists()
