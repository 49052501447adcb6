"""Hostile and broken files, fuzzed: every reader of a file a user hands glyphgen, fed mutated copies of real files.

Readers: fonts (parse_font + render_font), image files and folders, IDX / A-Z CSV / CIFAR-10 files, exported models
(config.json + model.safetensors) and the render cache. For every input the reader either succeeds or raises one
`GlyphgenError` whose message is one line naming the file; any other exception fails the test (hypothesis prints the
input), so does a call that runs longer than `HANG_SECONDS` (a hang) or grows the process's peak memory by more than
`MEMORY_MB`. A corrupt render cache must be rebuilt (the same glyphs as a fresh build), never trained on.

The default run is short and deterministic (a fixed number of examples per target, ~25 s in all). The long run draws
fresh random examples, as many per target as GLYPHGEN_FUZZ_EXAMPLES says (1,000: about 3 minutes on a 2-core CPU):

    GLYPHGEN_FUZZ_EXAMPLES=1000 OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -m slow tests/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import pickle
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from glyphgen.errors import GlyphgenError

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
HANG_SECONDS = 20.0  # one reader call on a file of at most a few hundred kB; seconds would already be a bug
MEMORY_MB = 512  # peak-memory growth allowed for one call (the inputs are all small files)

FAST = settings(
    deadline=None,  # per-example time is bounded by `HANG_SECONDS` below; deadlines flake on a busy 2-core machine
    derandomize=True,  # CI sees the same examples every run
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
LONG = settings(FAST, derandomize=False, max_examples=int(os.environ.get("GLYPHGEN_FUZZ_EXAMPLES", "1000")))


def fast(examples: int) -> settings:
    return settings(FAST, max_examples=examples)


class Hang(BaseException):
    """A reader ran past HANG_SECONDS. A BaseException, so a reader's `except Exception` cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):
        raise Hang(f"no answer after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def outcome(call, *names: str | Path):
    """call() -> its result, or the GlyphgenError it raised, which must be one short line naming one of `names`
    (a file's full path or its name). Any other exception, a hang or a burst of memory propagates or fails."""
    before = peak_mb()
    try:
        with time_limit(HANG_SECONDS), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning and the like are not failures
            result = call()
    except GlyphgenError as e:
        message = str(e)
        assert message and "\n" not in message and len(message) <= 500, message
        assert any(str(n) in message for n in names), f"names none of {names}: {message}"
        result = e
    grown = peak_mb() - before
    assert grown < MEMORY_MB, f"peak memory grew by {grown:.0f} MB"
    return result


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """`data` with byte values overwritten at (position, value) pairs (positions modulo its length) and cut."""
    out = bytearray(data)
    for pos, value in edits:
        if out:
            out[pos % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


EDITS = st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), max_size=8)


def cut_of(data: bytes):
    return st.none() | st.integers(0, len(data))


# --------------------------------------------------------------------------------------------------------- fonts


@pytest.fixture(scope="module")
def small_font() -> bytes:
    """DejaVu Sans cut down to a few glyphs (with its .notdef box): a complete, valid TTF of a few kB."""
    if not DEJAVU.is_file():
        pytest.skip(f"{DEJAVU} not installed (fonts-dejavu-core)")
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.notdef_outline = True
    font = TTFont(DEJAVU)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="ABab")
    subsetter.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def read_font(path: Path):
    from glyphgen.data.fonts import parse_font, render_font

    return render_font(parse_font(str(path)), "ABab", 32)


def table_offsets(font: bytes) -> list[int]:
    """Where each table's data starts (from the sfnt table directory)."""
    n = struct.unpack(">H", font[4:6])[0]
    return [struct.unpack(">I", font[12 + 16 * i + 8 : 12 + 16 * i + 12])[0] for i in range(n)]


def check_font_bytes(data: bytes, suffix: str = ".ttf"):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        path.write_bytes(data)
        return outcome(lambda: read_font(path), path)


def font_cases(config: settings):
    @given(data=st.data(), suffix=st.sampled_from([".ttf", ".otf", ".woff", ".woff2"]))
    def truncated_or_overwritten(small_font, data, suffix):
        # Edits anywhere: the header and table directory (offsets and lengths pointing anywhere) or a table's data.
        check_font_bytes(mutate(small_font, data.draw(EDITS), data.draw(cut_of(small_font))), suffix)

    @given(data=st.data())
    def broken_tables(small_font, data):
        # A valid header and table directory; only the bytes inside one table are damaged or zeroed.
        starts = table_offsets(small_font)
        start = data.draw(st.sampled_from(starts))
        length = data.draw(st.integers(1, 64))
        fill = data.draw(st.sampled_from([b"\x00", b"\xff", b"\x7f"]))
        broken = small_font[:start] + fill * length + small_font[start + length :]
        check_font_bytes(broken[: len(small_font)])

    @given(blob=st.binary(max_size=4096), suffix=st.sampled_from([".ttf", ".otf", ".ttc", ".woff", ".woff2"]))
    @example(blob=b"ttcf\x00\x01\x00\x00\xff\xff\xff\xff", suffix=".ttc")  # a collection claiming 4 billion faces
    @example(blob=b"wOFF" + b"\x00" * 40, suffix=".woff")
    def random_bytes(blob, suffix):
        check_font_bytes(blob, suffix)

    return [
        config(truncated_or_overwritten),
        config(broken_tables),
        config(random_bytes),
    ]


test_font_truncated_or_overwritten, test_font_broken_tables, test_font_random_bytes = font_cases(fast(60))
test_font_truncated_or_overwritten_long, test_font_broken_tables_long, test_font_random_bytes_long = (
    pytest.mark.slow(t) for t in font_cases(LONG)
)


@pytest.fixture(scope="module")
def collection(small_font, tmp_path_factory) -> Path:
    """A two-face .ttc built from the small font."""
    from fontTools.ttLib import TTFont
    from fontTools.ttLib.ttCollection import TTCollection

    ttc = TTCollection()
    ttc.fonts = [TTFont(io.BytesIO(small_font)), TTFont(io.BytesIO(small_font))]
    path = tmp_path_factory.mktemp("ttc") / "two.ttc"
    ttc.save(str(path))
    return path


@settings(FAST, max_examples=30)
@given(index=st.integers(0, 2**40))
@example(index=2)
def test_collection_face_index(collection, index):
    from glyphgen.data.fonts import parse_font, render_font

    result = outcome(lambda: render_font(parse_font(f"{collection}#{index}"), "AB", 32), collection)
    assert isinstance(result, GlyphgenError) == (index >= 2)
    if index >= 2:
        assert "#0 to #1" in str(result)  # says which faces there are


def test_collection_claiming_billions_of_faces_is_scanned_at_once(collection, tmp_path):
    # A font folder holding a .ttc whose face count reads 0xFFFFFFFF: the scan (used where fontconfig is absent)
    # tried every index, billions of them; it now tries the few the file can list, and skips the broken file.
    from glyphgen.data import fonts

    data = bytearray(collection.read_bytes())
    data[8:12] = b"\xff\xff\xff\xff"
    (tmp_path / "huge.ttc").write_bytes(bytes(data))
    with time_limit(HANG_SECONDS):
        found = fonts._scan_font_dirs([tmp_path], None)
    assert found == []  # fontTools cannot read a face of it either; skipped, as any broken font in a font folder


# -------------------------------------------------------------------------------------------------------- images


def picture(mode: str, size: tuple[int, int], fmt: str) -> bytes:
    rng = np.random.default_rng(size[0] * 7 + size[1])
    if mode == "I;16":
        im = Image.fromarray((rng.integers(0, 65536, size[::-1])).astype(np.uint16))
    else:
        im = Image.fromarray(rng.integers(0, 256, (*size[::-1], 4), dtype=np.uint8), "RGBA").convert(mode)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


# What each format can store: (format, suffix, modes).
FORMATS = [
    ("PNG", ".png", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]),
    ("JPEG", ".jpg", ["L", "RGB", "CMYK"]),
    ("BMP", ".bmp", ["1", "L", "P", "RGB"]),
    ("GIF", ".gif", ["L", "P"]),
    ("WEBP", ".webp", ["RGB", "RGBA"]),
]


@st.composite
def picture_files(draw):
    fmt, suffix, modes = draw(st.sampled_from(FORMATS))
    mode = draw(st.sampled_from(modes))
    size = (draw(st.integers(1, 80)), draw(st.integers(1, 80)))
    data = picture(mode, size, fmt)
    broken = draw(st.booleans())
    if broken:
        data = mutate(data, draw(EDITS), draw(cut_of(data)))
    return suffix, data


def image_cases(config: settings):
    @given(files=st.lists(picture_files(), min_size=1, max_size=3), channels=st.sampled_from([1, 3]))
    def image_folder(files, channels):
        from glyphgen.data.files import load_image_folder

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "glyphs"
            folder.mkdir()
            for k, (suffix, data) in enumerate(files):
                (folder / f"{k}{suffix}").write_bytes(data)
            result = outcome(lambda: load_image_folder(folder, 32, channels=channels), folder)
            if not isinstance(result, GlyphgenError):
                assert result.images.shape == (len(files), channels, 32, 32)

    @given(file=picture_files())
    def style_reference(file):
        # The style references of `glyphgen sample --refs` and the web app: the same files through sketch.py.
        from glyphgen.sketch import load_references

        suffix, data = file
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"A{suffix}"
            path.write_bytes(data)
            outcome(lambda: load_references([str(path)], None, (1, 32, 32)), path.name)

    return [config(image_folder), config(style_reference)]


test_image_folder, test_style_reference = image_cases(fast(60))
test_image_folder_long, test_style_reference_long = (pytest.mark.slow(t) for t in image_cases(LONG))


def test_image_edge_cases(tmp_path):
    """1x1, CMYK and 16-bit pictures are read as the glyphs they show; a decompression bomb is refused unread."""
    from glyphgen.data.files import load_image_folder

    folder = tmp_path / "glyphs"
    folder.mkdir()
    Image.new("L", (1, 1), 0).save(folder / "dot.png")
    Image.new("CMYK", (20, 20), (0, 0, 0, 255)).save(folder / "black.jpg")  # CMYK full black
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))  # 16-bit grey, black to white
    Image.fromarray(ramp).save(folder / "ramp16.png")
    glyphs = outcome(lambda: load_image_folder(folder, 32, invert=False), folder)
    by_name = dict(zip(["black", "dot", "ramp16"], glyphs.images[:, 0], strict=True))
    assert by_name["black"].max() == 0 and by_name["dot"].max() == 0
    # Pillow's own 16-bit -> 8-bit conversion clips, so this ramp came out nearly all white (mean 254): scaled now.
    assert 100 < by_name["ramp16"].mean() < 155 and by_name["ramp16"][:, 0].max() < 10

    bomb = tmp_path / "bomb"
    bomb.mkdir()
    Image.new("1", (12000, 12000)).save(bomb / "bomb.png")  # 17 kB on disk, 144 million pixels
    error = outcome(lambda: load_image_folder(bomb, 32), bomb / "bomb.png")
    # The app lowers Pillow's own guard to the same bound, which then refuses it in Image.open: same message.
    assert isinstance(error, GlyphgenError) and "(4096x4096): shrink it" in str(error)


# ----------------------------------------------------------------------------------------------- IDX, CSV, CIFAR


def idx_bytes(magic: int, dims: list[int], payload: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload


DIM = st.sampled_from([0, 1, 2, 28, 255, 65535, 2**31, 2**32 - 1]) | st.integers(0, 40)


def data_cases(config: settings):
    @given(
        dims=st.lists(DIM, min_size=3, max_size=3),
        extra=st.integers(-64, 64),
        gz=st.booleans(),
        label_count=DIM,
        data=st.data(),
    )
    @example(dims=[2**32 - 1, 2**32 - 1, 2**32 - 1], extra=0, gz=False, label_count=1, data=None)
    @example(dims=[1, 0, 28], extra=0, gz=False, label_count=1, data=None)  # a 0-pixel side: a resize ValueError
    def idx(dims, extra, gz, label_count, data):
        from glyphgen.data.files import load_file_source

        n, h, w = dims
        size = n * h * w if n * h * w < 4096 else 4096
        payload = bytes(range(256)) * (max(0, size + extra) // 256 + 1)
        images = idx_bytes(0x803, dims, payload[: max(0, size + extra)])
        labels = idx_bytes(0x801, [label_count], bytes(min(label_count, 4096)))
        if data is not None:
            images = mutate(images, data.draw(EDITS), data.draw(cut_of(images)))
        with tempfile.TemporaryDirectory() as tmp:
            suffix = ".gz" if gz else ""
            ipath, lpath = (
                Path(tmp) / f"train-images-idx3-ubyte{suffix}",
                Path(tmp) / f"train-labels-idx1-ubyte{suffix}",
            )
            ipath.write_bytes(gzip.compress(images) if gz else images)
            lpath.write_bytes(gzip.compress(labels) if gz else labels)
            result = outcome(lambda: load_file_source("mnist", str(ipath), 16), ipath.name, lpath.name)
            if not isinstance(result, GlyphgenError):
                assert result.images.shape[1:] == (1, 16, 16) and len(result) == n

    @given(
        rows=st.lists(
            st.lists(st.integers(0, 300), min_size=0, max_size=790).map(lambda v: ",".join(map(str, v))),
            max_size=3,
        ),
        noise=st.binary(max_size=32),
        header=st.booleans(),
    )
    def az_csv(rows, noise, header):
        from glyphgen.data.files import load_az_csv

        text = ("label," + ",".join(f"p{i}" for i in range(784)) + "\n" if header else "") + "\n".join(rows)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "az.csv"
            path.write_bytes(text.encode() + noise)
            result = outcome(lambda: load_az_csv(path), path)
            if not isinstance(result, GlyphgenError):
                assert result.images.shape[1:] == (1, 28, 28) and result.labels.max() <= 25

    @given(batch=cifar_batches(), edits=EDITS, cut=st.none() | st.integers(0, 20_000))
    def cifar(batch, edits, cut):
        from glyphgen.data.files import load_cifar10

        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "data_batch_1").write_bytes(mutate(batch, edits, cut))
            result = outcome(lambda: load_cifar10(tmp), "data_batch_1", tmp)
            if not isinstance(result, GlyphgenError):
                assert result.images.shape[1:] == (3, 32, 32) and result.images.dtype == np.uint8

    return [config(t) for t in (idx, az_csv, cifar)]


@st.composite
def cifar_batches(draw) -> bytes:
    """A pickled CIFAR-10 batch, or something shaped nearly like one: other dtypes, shapes and label lists."""
    n = draw(st.integers(0, 3))
    dtype = draw(st.sampled_from([np.uint8, np.uint8, np.int16, np.float32]))
    width = draw(st.sampled_from([3072, 3072, 3071, 1024]))
    data = np.zeros((n, width), dtype=dtype)
    labels = draw(st.sampled_from([list(range(n)), [0] * (n + 1), ["cat"] * n, [[1, 2]] * n, list(range(20, 20 + n))]))
    batch = {b"data": data, b"labels": labels}
    if draw(st.booleans()):
        batch = draw(st.sampled_from([[batch], {b"data": data}, {b"labels": labels}, "text", 7]))
    return pickle.dumps(batch, protocol=draw(st.sampled_from([2, 4, 5])))


test_idx, test_az_csv, test_cifar = data_cases(fast(60))
test_idx_long, test_az_csv_long, test_cifar_long = (pytest.mark.slow(t) for t in data_cases(LONG))


# ------------------------------------------------------------------------------------------------ exported models

# One tiny network per family (random weights; built in well under a second), as the app's tests make them.
TINY = {
    "cvae": ({"latent": 4, "width": 4, "hidden": 8}, (1, 28, 28), list("0123456789")),
    "ddpm": ({"widths": (8, 16), "blocks": 1, "attention": (), "timesteps": 20, "sample_steps": 3}, (1, 16, 16), []),
    "dream": ({"base_features": 2, "levels": 2, "kT_steps": 3, "num_cycles": 2, "faithful": False}, (1, 16, 16), []),
    "vae": ({"latent": 8, "base_width": 4, "depth": 2}, (1, 16, 16), []),
    "gan": ({"latent": 8, "base_width": 4}, (1, 16, 16), []),
    "style": (
        {"widths": (8, 16), "attention": (), "timesteps": 20, "sample_steps": 3, "encoder_width": 8},
        (1, 16, 16),
        list("ABab12"),
    ),
}


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    import torch

    from glyphgen import checkpoint
    from glyphgen.methods import get_family

    root = tmp_path_factory.mktemp("exports")
    folders = {}
    for family, (options, shape, classes) in TINY.items():
        torch.manual_seed(0)
        cls = get_family(family)
        method = cls(cls.config_class(**options), shape, num_classes=len(classes))
        folders[family] = checkpoint.export(method, root / family, classes=classes, extra={"step": 1})
    return folders


def load_export(folder: Path):
    from glyphgen import checkpoint

    return checkpoint.load(folder)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ABSURD = st.sampled_from([0, -1, 10**9, 2**31, 2**63, 1e9, 1.5, "64", True, None, [], [10**9] * 3])


@st.composite
def broken_configs(draw, exports):
    """A shipped-like config.json with one or more of its fields (top level or network option) replaced."""
    family = draw(st.sampled_from(sorted(exports)))
    meta = json.loads((exports[family] / "config.json").read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "config", "config"]))
        target = meta["config"] if where == "config" and isinstance(meta.get("config"), dict) else meta
        key = draw(st.sampled_from([*sorted(target), "unknown_option"]))
        value = draw(ABSURD | JSON | st.sampled_from(["style", "ddpm", "vae", "nonsense"]))
        if draw(st.integers(0, 9)) == 0:
            target.pop(key, None)
        else:
            target[key] = value
    return family, meta


def export_cases(config: settings):
    @given(data=st.data())
    def broken_config(exports, data):
        family, meta = data.draw(broken_configs(exports))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "model"
            folder.mkdir()
            (folder / "model.safetensors").write_bytes((exports[family] / "model.safetensors").read_bytes())
            (folder / "config.json").write_text(json.dumps(meta), encoding="utf-8")
            outcome(lambda: load_export(folder), folder)

    @given(data=st.data(), blob=st.none() | st.binary(max_size=512))
    def broken_weights(exports, data, blob):
        family = data.draw(st.sampled_from(sorted(exports)))
        weights = (exports[family] / "model.safetensors").read_bytes()
        if blob is None:
            # Mostly the JSON header at the front (dtypes, shapes, offsets): that is where a damaged file misleads.
            header_end = 8 + int.from_bytes(weights[:8], "little")
            spots = st.tuples(st.integers(0, header_end), st.integers(0, 255))
            edits = data.draw(st.lists(spots, max_size=6) | EDITS)
            blob = mutate(weights, edits, data.draw(cut_of(weights)))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "model"
            folder.mkdir()
            (folder / "model.safetensors").write_bytes(blob)
            (folder / "config.json").write_bytes((exports[family] / "config.json").read_bytes())
            outcome(lambda: load_export(folder), folder)

    return [config(broken_config), config(broken_weights)]


test_export_broken_config, test_export_broken_weights = export_cases(fast(100))
test_export_broken_config_long, test_export_broken_weights_long = (pytest.mark.slow(t) for t in export_cases(LONG))


def rewrite_weights(src: Path, dst: Path, change) -> None:
    """dst: a copy of the export in src whose tensors went through change(state) -> state."""
    from safetensors.torch import load_file, save_file

    dst.mkdir()
    (dst / "config.json").write_bytes((src / "config.json").read_bytes())
    save_file(change(load_file(str(src / "model.safetensors"))), str(dst / "model.safetensors"))


def test_export_every_family_loads_and_wrong_tensors_are_named(exports, tmp_path):
    import torch

    for family, folder in exports.items():
        method, meta = outcome(lambda f=folder: load_export(f), folder)  # the meta-device check passes real exports
        assert meta["family"] == family

    from safetensors.torch import load_file

    src = exports["vae"]
    first = next(iter(load_file(str(src / "model.safetensors"))))
    cases = {
        "int_weights": lambda s: {**s, first: s[first].to(torch.int32)},
        "other_shape": lambda s: {**s, first: torch.zeros(3, 3)},
        "missing": lambda s: {k: v for k, v in s.items() if k != first},
        "extra": lambda s: {**s, "stray.weight": torch.zeros(2)},
    }
    for name, change in cases.items():
        rewrite_weights(src, tmp_path / name, change)
        error = outcome(lambda n=name: load_export(tmp_path / n), tmp_path / name / "model.safetensors")
        assert isinstance(error, GlyphgenError), name
    half = tmp_path / "half"
    rewrite_weights(src, half, lambda s: {k: v.half() if v.is_floating_point() else v for k, v in s.items()})
    assert not isinstance(outcome(lambda: load_export(half), half), GlyphgenError)  # fp16 exports stay loadable


def test_export_errors_name_the_file_and_the_problem(exports, tmp_path):
    src = exports["ddpm"]
    good = json.loads((src / "config.json").read_text(encoding="utf-8"))
    cases = {
        "unknown_family": ({**good, "family": "transformer"}, "transformer"),
        "version": ({**good, "format_version": 99}, "format version 99"),
        "list": ([good], "JSON list"),
        "channels": ({**good, "config": {**good["config"], "widths": [10**9, 16]}}, "larger than model.safetensors"),
        "blocks": ({**good, "config": {**good["config"], "blocks": 10**6}}, "larger than model.safetensors"),
        "timesteps": ({**good, "config": {**good["config"], "timesteps": 10**9}}, "timesteps"),
        "shape": ({**good, "image_shape": [1, 10**6, 10**6]}, "image_shape"),
        "classes": ({**good, "num_classes": 10**9}, "num_classes"),
    }
    for name, (meta, needle) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "model.safetensors").write_bytes((src / "model.safetensors").read_bytes())
        (folder / "config.json").write_text(json.dumps(meta), encoding="utf-8")
        error = outcome(lambda f=folder: load_export(f), folder)
        assert isinstance(error, GlyphgenError) and needle in str(error), (name, error)


ABSURD_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
    from glyphgen import checkpoint
    from glyphgen.errors import GlyphgenError
    src = Path(sys.argv[1])
    good = json.loads((src / "config.json").read_text())
    for option, value in [("base_width", 10**9), ("latent", 10**9), ("depth", 10**5)]:
        folder = src.parent / f"absurd-{option}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes((src / "model.safetensors").read_bytes())
        (folder / "config.json").write_text(json.dumps({**good, "config": {**good["config"], option: value}}))
        try:
            checkpoint.load(folder)
        except GlyphgenError as e:
            print("refused:", e)
        else:
            print("LOADED", option)
    """
)


def test_absurd_sizes_refused_before_allocating(exports, tmp_path):
    """1e9 channels, a 1e9-wide latent, 1e5 blocks: refused from the weights file's header, in a process whose
    address space is capped at 3 GB above what it holds after the imports, so a real allocation would fail loudly."""
    import shutil

    src = tmp_path / "vae"
    shutil.copytree(exports["vae"], src)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import glyphgen.checkpoint, resource; print(open('/proc/self/statm').read().split()[0])",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    limit = int(probe.stdout.split()[-1]) * os.sysconf("SC_PAGE_SIZE") + 3 * 2**30
    run = subprocess.run(
        [sys.executable, "-c", ABSURD_SCRIPT, str(src), str(limit)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("refused:") and "absurd-" in line for line in lines), run.stdout


# --------------------------------------------------------------------------------------------------- render cache


def digits_config():
    pytest.importorskip("sklearn", reason="the digits source is the optional [digits] part")
    from glyphgen.config import DataConfig

    return DataConfig(source="digits", size=8)


def cached(cfg) -> tuple[Path, object]:
    """The cache file `cfg` maps to, after building it once, and the fresh build."""
    from glyphgen.data import dataset

    fresh = dataset.load(cfg)
    return Path(fresh.info["cache"]["path"]), fresh


def check_rebuilt(cfg, fresh):
    """Loading `cfg` again gives the fresh glyphs (never the damaged ones), says so, and leaves a good cache."""
    from glyphgen.data import dataset
    from glyphgen.data.glyphset import GlyphSet

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with time_limit(HANG_SECONDS):
            again = dataset.load(cfg)
    path = Path(again.info["cache"]["path"])
    assert np.array_equal(again.images, fresh.images) and np.array_equal(again.labels, fresh.labels)
    if not again.info["cache"]["hit"]:  # the damage was noticed: a one-line warning naming the file
        messages = [str(w.message) for w in caught]
        assert any(str(path) in m and "\n" not in m for m in messages), messages
    GlyphSet.load(path, key=path.stem.split("-", 1)[1])  # the cache left behind is whole


def cache_cases(config: settings):
    @given(data=st.data())
    def damaged_cache(data):
        cfg = digits_config()
        path, fresh = cached(cfg)
        good = path.read_bytes()
        # A cut drawn without looking at the file: its zip timestamps change with each rebuild, and hypothesis
        # replays draws that must not depend on such state.
        path.write_bytes(mutate(good, data.draw(EDITS), data.draw(st.none() | st.integers(0, 1 << 16))))
        check_rebuilt(cfg, fresh)

    return [config(damaged_cache)]


(test_render_cache_damaged,) = cache_cases(fast(25))
(test_render_cache_damaged_long,) = (pytest.mark.slow(t) for t in cache_cases(LONG))


def test_render_cache_of_another_config_or_version_is_rebuilt():
    from glyphgen.data.glyphset import GlyphSet

    cfg = digits_config()
    path, fresh = cached(cfg)
    # A well-formed set with a valid checksum, but of other glyphs (another config's cache copied over this one):
    # it used to be served as this config's glyphs.
    other = GlyphSet(255 - fresh.images, fresh.labels, fresh.classes, info={"source": "digits"})
    other.save(path, key="another-config")
    check_rebuilt(cfg, fresh)
    # Written by an older glyphgen: no key, no checksum.
    np.savez(path.open("wb"), images=other.images, labels=other.labels, classes=np.array(other.classes))
    check_rebuilt(cfg, fresh)
    # Well-formed but random noise, with a checksum that matches it and no key.
    noise = GlyphSet(
        np.random.default_rng(0).integers(0, 256, fresh.images.shape, dtype=np.uint8), fresh.labels, fresh.classes
    )
    noise.save(path)
    check_rebuilt(cfg, fresh)


def test_render_cache_declaring_terabytes_is_rebuilt():
    # A .npy header inside the cache that declares 2**40 images: numpy allocates before reading (MemoryError).
    cfg = digits_config()
    path, fresh = cached(cfg)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": (2**40, 1, 8, 8)})
    import zipfile

    with zipfile.ZipFile(path, "a") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        z.writestr("images.npy", buf.getvalue())  # a second member of that name: numpy reads the last one
    check_rebuilt(cfg, fresh)
