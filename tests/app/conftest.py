"""Tiny exported models of every family (random weights, built in a second) and one live app serving them.

The models are real exports (`checkpoint.export`), so the app finds, loads and runs them exactly as it would
trained ones; random weights are enough to check shapes, flows, limits and messages.
"""

import json
import shutil
import socket
from pathlib import Path

import pytest
import torch

from glyphgen import checkpoint
from glyphgen.methods import get_family

CVAE_CLASSES = list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ永字")
DDPM_CLASSES = list("永字八")
TINY = {
    # name: (family, config, image shape, classes)
    "cvae": ("cvae", {"latent": 4, "width": 4, "hidden": 8}, (1, 28, 28), CVAE_CLASSES),
    "ddpm": (
        "ddpm",
        {"widths": (8, 16), "blocks": 1, "attention": (), "timesteps": 20, "sample_steps": 3},
        (1, 16, 16),
        DDPM_CLASSES,
    ),
    "dream": (
        "dream",
        {"base_features": 2, "levels": 2, "kT_steps": 3, "num_cycles": 2, "faithful": False},
        (1, 16, 16),
        [],
    ),
    "vae": ("vae", {"latent": 8, "base_width": 4, "depth": 2}, (1, 16, 16), []),
    "gan": ("gan", {"latent": 8, "base_width": 4}, (1, 16, 16), []),
    "style": (
        "style",
        {"widths": (8, 16), "attention": (), "timesteps": 20, "sample_steps": 3, "encoder_width": 8},
        (1, 16, 16),
        list("ABab12"),
    ),
}
CARD = "# tiny cvae\n\nA model card written by hand: trained on nothing at all."


def make_models(folder: Path) -> Path:
    """Export one tiny model per family under folder/<family>/ (the cvae with a README card, the vae and
    ddpm with evaluation metrics)."""
    for name, (family, options, shape, classes) in TINY.items():
        torch.manual_seed(0)
        cls = get_family(family)
        method = cls(cls.config_class(**options), shape, num_classes=len(classes))
        if family == "dream":  # fill BatchNorm's running statistics, so its output depends on its input
            with torch.no_grad():
                method.loss(torch.rand(4, *shape), None, 0)
        extra = {"data": {"source": "digits", "size": shape[1]}, "step": 7}
        checkpoint.export(method, folder / name, classes=classes, extra=extra)
    (folder / "cvae" / "README.md").write_text(CARD, encoding="utf-8")
    (folder / "vae" / "metrics.json").write_text(json.dumps({"fid": 12.5, "recognised": 0.75}), encoding="utf-8")
    report = {"metrics": {"recognised": 0.75}, "band": {"recognised": 0.9}, "n": 300}  # as `glyphgen eval` writes
    (folder / "ddpm" / "eval.json").write_text(json.dumps(report), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return make_models(tmp_path_factory.mktemp("models"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served(models_dir):
    """The app, launched as `glyphgen app` launches it, on a free localhost port: yields its Gradio Blocks."""
    from glyphgen.app import launch

    demo = launch([models_dir], port=free_port(), block=False, quiet=True)
    yield demo
    demo.close()


@pytest.fixture(scope="session")
def server(served):
    """The URL of the live app."""
    return served.local_url.rstrip("/")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")
