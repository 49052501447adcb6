"""Shared test set-up: a private render cache per test session, offline libraries, few threads."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    # Tests never read or fill the user's ~/.cache/glyphgen.
    monkeypatch.setenv("GLYPHGEN_CACHE", str(tmp_path_factory.getbasetemp() / "glyphgen-cache"))
