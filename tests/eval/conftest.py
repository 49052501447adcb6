"""Shared fixtures of the evaluation tests: real KanjiVG glyphs, the recogniser, tiny trained models."""

import pytest
import torch

from glyphgen.config import DataConfig

KANJI = DataConfig(source="kanjivg", charset="joyo", size=32, limit=600)  # 600 real glyphs, rendered in ~2 s


@pytest.fixture(autouse=True, scope="package")
def _one_thread():
    # Small batches gain nothing from a second thread on a shared 2-core machine (see tests/methods/conftest.py).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="package")
def kanji_cfg():
    return KANJI


@pytest.fixture(scope="package")
def kanji():
    from glyphgen.data.dataset import load

    return load(KANJI)


@pytest.fixture(scope="package")
def recognizer_dir(tmp_path_factory):
    """The shipped recogniser; where none is shipped, a tiny one trained here on ten characters."""
    from glyphgen.eval import recognizer as R
    from glyphgen.eval.config import RecognizerConfig

    if (R.shipped_dir() / R.WEIGHTS).is_file():
        return R.shipped_dir()
    out = tmp_path_factory.mktemp("recognizer")
    cfg = RecognizerConfig(widths=[8, 16, 32, 64], embed=64, steps=60, batch_size=32, eval_every=60)
    R.train(cfg, out, classes=list("永字八法和平山川日月") + list("AB01"), progress=False)
    return out / "model"


@pytest.fixture(scope="package")
def features(recognizer_dir):
    from glyphgen.eval.features import load_features

    return load_features(recognizer_dir)[0]
