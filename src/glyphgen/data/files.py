"""Glyph sets read from standard files the user already has on disk.

This module owns the readers for datasets that come as files rather than fonts or stroke data: MNIST / EMNIST IDX
files, the Kaggle "A-Z Handwritten Data" CSV, the CIFAR-10 "python version" batches, folders of image files (one
class, or one sub-folder per class), and scikit-learn's bundled 8x8 digits. Nothing here downloads anything: a
missing file is a `GlyphgenError` that says what to fetch and where to put it. Every reader returns a `GlyphSet`
in the project convention (uint8, ink high); `load_file_source` picks a reader by name for the CLI.

The CIFAR-10 batches are pickles. The project never unpickles a file a user hands in, so they are read with a
restricted unpickler that can only rebuild plain numpy arrays (see `_CifarUnpickler`).
"""

from __future__ import annotations

import gzip
import math
import pickle
import re
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from glyphgen.data.glyphset import GlyphSet
from glyphgen.errors import GlyphgenError

FILE_KINDS = ("mnist", "emnist", "az-csv", "cifar10", "folder", "digits")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

_IDX_IMAGES = 0x00000803  # unsigned byte, 3 dimensions
_IDX_LABELS = 0x00000801  # unsigned byte, 1 dimension
_GZIP_MAGIC = b"\x1f\x8b"


def _one_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else type(text).__name__


def _need_file(path: str | Path, what: str, hint: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise GlyphgenError(f"{what} not found: {path}; {hint}")
    if not path.is_file():
        raise GlyphgenError(f"{what} {path} is not a file; {hint}")
    return path


def _need_dir(path: str | Path, what: str, hint: str) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise GlyphgenError(f"{what} not found: {path}; {hint}")
    if not path.is_dir():
        raise GlyphgenError(f"{what} {path} is not a folder; {hint}")
    return path


# ----------------------------------------------------------------------------------------------------------- IDX


_IDX_HINT = "download the MNIST or EMNIST IDX files yourself and pass the path of the images file"


def _open_maybe_gzip(path: Path):
    # The magic bytes decide, not the suffix: MNIST mirrors ship both gzipped and plain files under either name.
    with open(path, "rb") as f:
        head = f.read(2)
    return gzip.open(path, "rb") if head == _GZIP_MAGIC else open(path, "rb")


def _read_idx(path: Path, magic: int, what: str) -> np.ndarray:
    """The uint8 array of an IDX file whose header must carry `magic` (images N×H×W or labels N)."""
    ndim = magic & 0xFF
    item = "images" if ndim == 3 else "labels"
    try:
        with _open_maybe_gzip(path) as f:
            header = f.read(4)
            if not header:
                raise GlyphgenError(f"{path} is empty; download the IDX {item} file again")
            if len(header) < 4 or int.from_bytes(header, "big") != magic:
                raise GlyphgenError(
                    f"{path} is not an IDX {what} file (bad magic 0x{header.hex().rjust(8, '0')}); pass the {item} file"
                )
            dims_raw = f.read(4 * ndim)
            if len(dims_raw) < 4 * ndim:
                raise GlyphgenError(f"{path} is truncated: its IDX header is incomplete; download it again")
            dims = [int.from_bytes(dims_raw[4 * i : 4 * i + 4], "big") for i in range(ndim)]
            if ndim > 1 and 0 in dims[1:]:  # a 0-pixel side leaves nothing to resize or train on
                raise GlyphgenError(
                    f"{path} is not a valid IDX {what} file: its header says images of {dims[1]}x{dims[2]} pixels; "
                    "download it again"
                )
            per_item = math.prod(dims[1:])  # Python ints: 65535 x 65535 x 65535 overflows int64
            expected = dims[0] * per_item
            # Read in chunks into a bytearray: the result stays writable without a second copy, and a header that
            # claims absurd sizes ends in a "truncated" message instead of one giant allocation.
            data = bytearray()
            truncated_stream = False
            try:
                while len(data) <= expected:
                    chunk = f.read(min(1 << 24, expected + 1 - len(data)))
                    if not chunk:
                        break
                    data += chunk
            except EOFError:
                truncated_stream = True
    except (OSError, zlib.error) as e:  # BadGzipFile is an OSError
        raise GlyphgenError(f"cannot read {path}: {_one_line(e)}; download it again") from e
    if len(data) < expected or truncated_stream:
        held = min(len(data), expected) // per_item if per_item else 0
        raise GlyphgenError(f"{path} is truncated: header says {dims[0]} {item}, file holds {held}; download it again")
    if len(data) > expected:
        raise GlyphgenError(
            f"{path} is not a valid IDX {what} file: header says {dims[0]} {item} but more data follows; "
            "download it again"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


def load_idx(
    images: str | Path,
    labels: str | Path | None = None,
    *,
    classes: list[str] | None = None,
    transpose: bool | None = None,
) -> GlyphSet:
    """MNIST / EMNIST IDX files (gzipped or not) as a (N, 1, H, W) GlyphSet.

    MNIST strokes are white on black, which is already ink high. EMNIST stores each image transposed;
    `transpose=None` turns it back when the images file name contains "emnist". Without `classes`, the classes are
    the distinct label values as strings in numeric order ("0".."9" for MNIST, "1".."26" for EMNIST letters); with
    `classes`, the stored label values index into it. Without `labels`, every image gets label 0 of one class "".
    """
    images_path = _need_file(images, "IDX images file", _IDX_HINT)
    pixels = _read_idx(images_path, _IDX_IMAGES, "image")
    if transpose is None:
        transpose = "emnist" in images_path.name.lower()
    if transpose:
        pixels = pixels.transpose(0, 2, 1)
    pixels = np.ascontiguousarray(pixels)[:, None]

    info: dict = {"source": "idx", "images_file": str(images_path), "transposed": bool(transpose)}
    if labels is None:
        return GlyphSet(pixels, np.zeros(len(pixels), np.int64), list(classes) if classes else [""], info=info)

    labels_path = _need_file(labels, "IDX labels file", _IDX_HINT)
    raw = _read_idx(labels_path, _IDX_LABELS, "label").astype(np.int64)
    info["labels_file"] = str(labels_path)
    if len(raw) != len(pixels):
        raise GlyphgenError(
            f"{images_path.name} holds {len(pixels)} images but {labels_path.name} holds {len(raw)} labels; "
            "pass the labels file that belongs to these images"
        )
    if classes is not None:
        if len(raw) and raw.max() >= len(classes):
            raise GlyphgenError(
                f"{labels_path} has label {int(raw.max())} but only {len(classes)} classes were given; "
                "give one class name per label value"
            )
        return GlyphSet(pixels, raw, list(classes), info=info)
    values = np.unique(raw)
    return GlyphSet(pixels, np.searchsorted(values, raw), [str(v) for v in values], info=info)


# ------------------------------------------------------------------------------------------------------ A-Z CSV


_AZ_HINT = 'download "A-Z Handwritten Data" from Kaggle yourself and pass the path of its CSV file'
_AZ_FIELDS = 1 + 28 * 28
_CHUNK_BYTES = 1 << 21  # parse ~2 MB of text at a time: its temporaries stay small and cache-warm


def _csv_token(buf: np.ndarray, pos: int) -> str:
    """The comma-separated field around byte `pos`, for error messages."""
    start = pos
    while start > 0 and buf[start - 1] not in (44, 10):
        start -= 1
    end = pos
    while end < len(buf) and buf[end] not in (44, 10) and end - start < 40:
        end += 1
    return bytes(buf[start:end]).decode("latin-1")


def _parse_az_chunk(buf: np.ndarray, first_line: int, path: Path) -> np.ndarray:
    """Rows of small non-negative integers from `buf` (whole lines, each ending in "\\n") as (rows, 785) int16.

    Vectorised over bytes and fields: the real file has 290 million fields, where a Python-level split or
    np.loadtxt takes minutes and np.fromstring(sep=",") cannot say which line is wrong. Every field ends at a
    separator and has one to three digits, so its value is read from the three bytes before that separator.
    """
    d = buf - np.uint8(48)  # digit values; anything else wraps to >= 10
    is_digit = d < 10
    is_nl = buf == 10
    is_sep = is_nl | (buf == 44)
    if not np.all(is_sep | is_digit):
        pos = int(np.flatnonzero(~(is_sep | is_digit))[0])
        raise GlyphgenError(
            f"{path} line {first_line + int(np.count_nonzero(is_nl[:pos]))}: {_csv_token(buf, pos)!r} is not an "
            "integer; every field must be a whole number 0-255"
        )
    ends = np.flatnonzero(is_sep)  # one separator closes each field
    line_ends = np.flatnonzero(is_nl[ends])  # field index of each line's last field
    per_line = np.diff(line_ends, prepend=-1)
    if np.any(per_line != _AZ_FIELDS):
        i = int(np.flatnonzero(per_line != _AZ_FIELDS)[0])
        raise GlyphgenError(
            f"{path} line {first_line + i} has {int(per_line[i])} values, expected {_AZ_FIELDS} "
            "(a label 0-25 then 784 pixels); fix or delete that line"
        )
    empty = np.empty_like(is_sep)
    empty[0] = is_sep[0]
    np.logical_and(is_sep[1:], is_sep[:-1], out=empty[1:])
    long = is_digit[:-3] & is_digit[1:-2] & is_digit[2:-1] & is_digit[3:]
    if empty.any() or long.any():
        pos = int(np.flatnonzero(empty)[0]) if empty.any() else len(buf)
        pos_long = int(np.flatnonzero(long)[0]) if long.any() else len(buf)
        what = "an empty value" if pos < pos_long else f"{_csv_token(buf, pos_long)!r}, which is out of range"
        pos = min(pos, pos_long)
        line = first_line + int(np.count_nonzero(is_nl[:pos]))
        raise GlyphgenError(f"{path} line {line} has {what}; every field must be a whole number 0-255")
    digits = np.zeros(len(buf) + 3, dtype=np.uint8)  # digits[k + 3] is byte k as a digit, 0 for a separator
    np.multiply(d, is_digit, out=digits[3:])
    hundreds = np.zeros_like(digits)  # a digit followed by a digit: only then can it be a 3-digit field's first
    np.multiply(digits[3:-1], is_digit[1:], out=hundreds[3:-1])
    values = digits[2:][ends].astype(np.int16)
    values += digits[1:][ends] * np.int16(10)
    values += hundreds[ends] * np.int16(100)
    return values.reshape(len(line_ends), _AZ_FIELDS)


def load_az_csv(path: str | Path) -> GlyphSet:
    """Kaggle "A-Z Handwritten Data" CSV: per row a label 0-25 then 28×28 pixels 0-255 (ink high); classes A..Z.

    The file has no header, but a copy re-saved with pandas starts with one ("0,0.1,0.2,..."); a first line that is
    not all integers is skipped.
    """
    path = _need_file(path, "A-Z CSV file", _AZ_HINT)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise GlyphgenError(f"cannot read {path}: {_one_line(e)}") from e
    if b"\r" in raw:
        raw = raw.replace(b"\r", b"")
    if not raw.endswith(b"\n") or raw.endswith(b"\n\n"):  # copying 600 MB only when the ending needs it
        raw = raw.rstrip(b"\n") + b"\n"
    buf = np.frombuffer(raw, dtype=np.uint8)
    first = buf[: raw.index(b"\n")]
    has_header = bool(len(first)) and not np.all(((first >= 48) & (first <= 57)) | (first == 44))
    pos = len(first) + 1 if has_header else 0
    n_rows = raw.count(b"\n") - int(has_header)
    if n_rows == 0 or raw == b"\n":
        raise GlyphgenError(f"{path} holds no data rows; pass the A-Z Handwritten Data CSV")

    images = np.empty((n_rows, 28 * 28), dtype=np.uint8)
    labels = np.empty(n_rows, dtype=np.int64)
    row = 0
    while pos < len(raw):
        end = raw.index(b"\n", min(pos + _CHUNK_BYTES, len(raw) - 1)) + 1
        values = _parse_az_chunk(buf[pos:end], int(has_header) + row + 1, path)
        for name, column, limit in (("label", values[:, :1], 25), ("pixel", values[:, 1:], 255)):
            if column.max() > limit:
                line = int(has_header) + row + 1 + int(np.flatnonzero((column > limit).any(axis=1))[0])
                raise GlyphgenError(
                    f"{path} line {line} has a {name} above {limit}; labels are 0-25 (A-Z), pixels 0-255"
                )
        images[row : row + len(values)] = values[:, 1:]
        labels[row : row + len(values)] = values[:, 0]
        row += len(values)
        pos = end
    classes = [chr(ord("A") + i) for i in range(26)]
    info = {"source": "az-csv", "file": str(path)}
    return GlyphSet(images.reshape(-1, 1, 28, 28), labels, classes, info=info)


# ----------------------------------------------------------------------------------------------------- CIFAR-10


_CIFAR_HINT = 'download the CIFAR-10 "python version" yourself, extract it, and pass the cifar-10-batches-py folder'


class _PickleRefused(Exception):
    pass


def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


# What a pickle gets for "numpy.ndarray": only a token for `_safe_reconstruct`, never the class, so a pickle cannot
# call ndarray(shape, "O") and build an object array past `_safe_dtype`.
_NDARRAY_TOKEN = object()


def _safe_reconstruct(subtype, shape, dtype):
    if subtype is not _NDARRAY_TOKEN:
        raise _PickleRefused(f"an array of type {subtype!r}")
    if np.dtype(dtype).hasobject:
        raise _PickleRefused("an object array")
    return _numpy_reconstruct()(np.ndarray, shape, dtype)


def _safe_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject:
        raise _PickleRefused("an object array")
    return dt


def _safe_latin1_encode(text, encoding="latin1"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _PickleRefused(f"_codecs.encode with {encoding!r}")
    return text.encode("latin-1")


class _CifarUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, strings, numbers and plain numpy arrays; nothing else.

    Why this cannot run code: a pickle runs code only by calling a callable, and the only callables it can reach
    are the globals it names, every one of which is looked up through `find_class`. Here that returns just three
    harmless functions and a token: numpy's array rebuild (making only a bare, non-object ndarray), a dtype
    constructor that rejects object dtypes (so no array can hold arbitrary Python objects), a latin-1 bytes
    encoder (how Python 3 writes bytes at protocol 2), and an inert stand-in for numpy.ndarray (the rebuild's first
    argument). Any other name, os.system included, is refused before it is imported; numpy's own __setstate__ then
    only copies bytes into arrays. `persistent_load` is not defined, so persistent ids are refused too.
    """

    _ALLOWED: ClassVar[dict] = {
        ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
        ("numpy", "ndarray"): _NDARRAY_TOKEN,
        ("numpy", "dtype"): _safe_dtype,
        ("_codecs", "encode"): _safe_latin1_encode,
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise _PickleRefused(f"{module}.{name}") from None


def _load_cifar_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _CifarUnpickler(f, encoding="bytes").load()
    except _PickleRefused as e:
        raise GlyphgenError(
            f"refusing to load {path}: it asks for {e}, which a CIFAR-10 batch never needs; "
            "use the original files from the CIFAR-10 site"
        ) from None
    except Exception as e:  # a damaged or foreign pickle fails in many ways; all mean "not a CIFAR-10 batch"
        raise GlyphgenError(f"{path} is not a CIFAR-10 batch ({_one_line(e)}); {_CIFAR_HINT}") from e
    if not isinstance(obj, dict):
        raise GlyphgenError(f"{path} is not a CIFAR-10 batch (holds a {type(obj).__name__}); {_CIFAR_HINT}")
    return {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def load_cifar10(directory: str | Path) -> GlyphSet:
    """CIFAR-10 "python version" (data_batch_1..5, test_batch, batches.meta) as (N, 3, 32, 32) uint8.

    These are RGB photos, which have no ink convention: pixels are kept exactly as stored, not inverted. Whichever
    of the six batches are present are read, training batches first; `info["batches"]` records which.
    """
    directory = _need_dir(directory, "CIFAR-10 folder", _CIFAR_HINT)
    if not (directory / "data_batch_1").exists() and (directory / "cifar-10-batches-py").is_dir():
        directory = directory / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    present = [n for n in names if (directory / n).is_file()]
    if not present:
        raise GlyphgenError(f"no CIFAR-10 batches (data_batch_1 .. test_batch) in {directory}; {_CIFAR_HINT}")

    images, labels, counts = [], [], {}
    for name in present:
        batch = _load_cifar_pickle(directory / name)
        data, lab = batch.get("data"), batch.get("labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise GlyphgenError(f"{directory / name} has no (N, 3072) uint8 'data' array; {_CIFAR_HINT}")
        try:
            lab = np.asarray(lab, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise GlyphgenError(f"{directory / name} has no list of integer 'labels'; {_CIFAR_HINT}") from None
        if len(lab) != len(data):
            raise GlyphgenError(f"{directory / name} holds {len(data)} images but {len(lab)} labels; {_CIFAR_HINT}")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
        counts[name] = len(data)

    classes = list(CIFAR10_CLASSES)
    meta_path = directory / "batches.meta"
    if meta_path.is_file():
        names_raw = _load_cifar_pickle(meta_path).get("label_names")
        if isinstance(names_raw, list) and names_raw:
            classes = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names_raw]
    labels_all = np.concatenate(labels)
    if len(labels_all) and (labels_all.min() < 0 or labels_all.max() >= len(classes)):
        raise GlyphgenError(f"{directory} has labels outside 0..{len(classes) - 1}; {_CIFAR_HINT}")
    info = {"source": "cifar10", "folder": str(directory), "batches": counts}
    return GlyphSet(np.concatenate(images), labels_all, classes, info=info)


# ------------------------------------------------------------------------------------------------- image folder


_FOLDER_HINT = "put image files (png, jpg, jpeg, bmp, gif, webp) in it, or one sub-folder of images per class"


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _class_name(folder_name: str) -> str:
    # Character datasets (the Kaggle kanji set among them) name class folders by code point, e.g. "U+4E00"; the
    # GlyphSet class of a glyph is the character itself.
    m = re.fullmatch(r"[Uu]\+([0-9A-Fa-f]{4,6})", folder_name)
    if m and int(m.group(1), 16) <= 0x10FFFF:
        return chr(int(m.group(1), 16))
    return folder_name


def _read_image(path: Path, size: int, channels: int) -> np.ndarray:
    from PIL import Image

    from glyphgen.images import open_picture

    try:
        with open_picture(path) as im:  # the first frame of an animated gif; a decompression bomb is refused
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                # Transparent pixels usually hold black RGB; on paper they are paper, so lay the image on white.
                rgba = im.convert("RGBA")
                im = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im.alpha_composite(rgba)
            im = im.convert("L" if channels == 1 else "RGB")
            im = im.resize((size, size), Image.Resampling.LANCZOS)
            arr = np.asarray(im, dtype=np.uint8)
    except GlyphgenError:
        raise
    except Exception as e:  # PIL reports bad files as OSError, SyntaxError, ValueError, struct.error, ...
        raise GlyphgenError(f"cannot read image {path}: {_one_line(e)}; delete or replace that file") from e
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def load_image_folder(
    directory: str | Path, size: int = 64, *, channels: int = 1, invert: bool | None = None
) -> GlyphSet:
    """A flat folder of images (one class "") or one sub-folder per class, resized to size×size (Lanczos).

    Images are stretched to a square, not cropped. `channels` 1 gives greyscale, 3 RGB; transparent pixels count as
    white paper. `invert=None` is auto: a 1-channel image whose median border pixel is bright (dark ink on white
    paper) is inverted so the result is ink high, decided per image; 3-channel images (photos) are kept as they
    are. `invert=True/False` forces the choice for every image. Class folders named "U+XXXX" become that character.
    """
    directory = _need_dir(directory, "image folder", _FOLDER_HINT)
    if channels not in (1, 3):
        raise GlyphgenError(f"channels must be 1 (greyscale) or 3 (RGB), not {channels}")
    if not 1 <= int(size) <= 4096:
        raise GlyphgenError(f"image size {size} is out of range; use 1 to 4096 pixels")
    size = int(size)

    loose = _image_files(directory)
    subdirs = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = [(d, _image_files(d)) for d in subdirs]
    per_class = [(d, files) for d, files in per_class if files]
    if per_class and loose:
        raise GlyphgenError(
            f"{directory} mixes loose images with class sub-folders; move the {len(loose)} loose images into a "
            "sub-folder, or pass a folder that holds only one kind"
        )
    if per_class:
        groups = [(_class_name(d.name), files) for d, files in per_class]
        if len({name for name, _ in groups}) < len(groups):  # "U+4E00" next to a folder named "一"
            groups = [(d.name, files) for d, files in per_class]
    elif loose:
        groups = [("", loose)]
    else:
        raise GlyphgenError(f"no images in {directory}; {_FOLDER_HINT}")

    total = sum(len(files) for _, files in groups)
    images = np.empty((total, channels, size, size), dtype=np.uint8)
    labels = np.empty(total, dtype=np.int64)
    n_inverted = 0
    i = 0
    for label, (_, files) in enumerate(groups):
        for path in files:
            arr = _read_image(path, size, channels)
            flip = invert
            if flip is None:
                if channels == 1:
                    border = np.concatenate([arr[0, 0], arr[0, -1], arr[0, 1:-1, 0], arr[0, 1:-1, -1]])
                    flip = bool(np.median(border) > 127)
                else:
                    flip = False
            if flip:
                arr = 255 - arr
                n_inverted += 1
            images[i] = arr
            labels[i] = label
            i += 1
    info = {"source": "folder", "folder": str(directory), "inverted": n_inverted}
    return GlyphSet(images, labels, [name for name, _ in groups], info=info)


# ------------------------------------------------------------------------------------------ scikit-learn digits


def _resize_set(images: np.ndarray, size: int, resample) -> np.ndarray:
    """(N, C, h, w) uint8 -> (N, C, size, size), one PIL resize per image plane."""
    from PIL import Image

    n, c, h, w = images.shape
    if (h, w) == (size, size):
        return images
    out = np.empty((n, c, size, size), dtype=np.uint8)
    for i in range(n):
        for j in range(c):
            out[i, j] = np.asarray(Image.fromarray(images[i, j]).resize((size, size), resample))
    return out


def _sklearn_digits_rows() -> np.ndarray | None:
    """sklearn's bundled digits.csv.gz (64 pixels then the digit per row), read without importing sklearn.

    Importing sklearn pulls in scipy and takes seconds; the data is one 60 kB file inside the package. None when the
    file is not where this sklearn keeps it, so the caller falls back to `load_digits`.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    try:
        with gzip.open(path, "rt") as f:
            rows = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, ValueError, EOFError):
        return None
    if rows.shape != (1797, 65) or rows.min() < 0 or rows[:, :64].max() > 16 or rows[:, 64].max() > 9:
        return None
    return rows


def load_sklearn_digits(size: int | None = None) -> GlyphSet:
    """scikit-learn's bundled handwritten digits: 1,797 images of 8×8, classes "0".."9" (ships with the package).

    Values 0-16 (ink high) are scaled to 0-255; `size` resizes (bilinear), e.g. to 28 or 32.
    """
    from PIL import Image

    rows = _sklearn_digits_rows()
    if rows is not None:
        pixels, labels = rows[:, :64].reshape(-1, 8, 8), rows[:, 64]
    else:
        try:
            from sklearn.datasets import load_digits
        except ImportError as e:
            raise GlyphgenError(
                "the 8x8 digits come with scikit-learn, an optional part of glyphgen: pip install 'glyphgen[digits]'"
            ) from e
        digits = load_digits()
        pixels, labels = digits.images, digits.target
    images = np.rint(np.asarray(pixels, dtype=np.float64) * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[:, None]
    if size is not None:
        images = _resize_set(images, int(size), Image.Resampling.BILINEAR)
    labels = np.asarray(labels, dtype=np.int64)
    return GlyphSet(images, labels, [str(d) for d in range(10)], info={"source": "sklearn-digits"})


# --------------------------------------------------------------------------------------------------- dispatcher


def _labels_file_for(images_path: Path) -> tuple[Path, list[Path]]:
    """The labels file next to an IDX images file, by the standard naming; (expected name, candidates tried)."""
    name = images_path.name
    stem = name.removesuffix(".gz")
    if "images" not in stem or "idx3" not in stem:
        raise GlyphgenError(
            f"cannot tell the labels file for {images_path}: pass the images file, named like "
            "train-images-idx3-ubyte[.gz], with its train-labels-idx1-ubyte[.gz] next to it"
        )
    label_stem = stem.replace("images", "labels").replace("idx3", "idx1")
    expected = images_path.with_name(label_stem + (".gz" if name.endswith(".gz") else ""))
    others = [images_path.with_name(label_stem + s) for s in ("", ".gz") if label_stem + s != expected.name]
    return expected, [expected, *others]


def _emnist_mapping(images_path: Path) -> dict[int, str]:
    """EMNIST's "<split>-mapping.txt" (lines "label code [code]") next to the images file, if there is one."""
    m = re.match(r"(emnist-[a-z]+)-", images_path.name.lower())
    if not m:
        return {}
    path = images_path.with_name(images_path.name[: len(m.group(1))] + "-mapping.txt")
    if not path.is_file():
        return {}
    mapping = {}
    try:
        for line in path.read_text(encoding="ascii").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                mapping[int(parts[0])] = chr(int(parts[1]))
    except (OSError, UnicodeDecodeError, ValueError, OverflowError):
        return {}  # a broken mapping only costs the character names; labels stay numeric
    return mapping


def load_file_source(kind: str, path: str | None, size: int | None) -> GlyphSet:
    """Read a file source by name (one of FILE_KINDS); `size` resizes to size×size where given.

    mnist / emnist: `path` is the images IDX file; the labels file is found next to it by the standard naming
    (`*-images-idx3-ubyte[.gz]` -> `*-labels-idx1-ubyte[.gz]`). EMNIST classes become characters when the split's
    mapping file (e.g. emnist-letters-mapping.txt) lies beside it. folder: `size` defaults to 64.
    """
    if kind not in FILE_KINDS:
        raise GlyphgenError(f"unknown file source {kind!r}; choose one of {', '.join(FILE_KINDS)}")
    if size is not None and not 1 <= int(size) <= 4096:
        raise GlyphgenError(f"image size {size} is out of range; use 1 to 4096 pixels")
    if kind == "digits":
        return load_sklearn_digits(size)
    if not path:
        what = {
            "mnist": "MNIST images file",
            "emnist": "EMNIST images file",
            "az-csv": "A-Z CSV file",
            "cifar10": "cifar-10-batches-py folder",
            "folder": "image folder",
        }[kind]
        raise GlyphgenError(f"file source {kind!r} needs a path; pass the {what}")
    if kind == "folder":
        return load_image_folder(path, 64 if size is None else size)

    if kind in ("mnist", "emnist"):
        label = "MNIST" if kind == "mnist" else "EMNIST"
        images_path = _need_file(
            path, f"{label} file", f"download it yourself from the {label} site and pass the path of the images file"
        )
        expected, candidates = _labels_file_for(images_path)
        labels_path = next((p for p in candidates if p.is_file()), None)
        if labels_path is None:
            raise GlyphgenError(
                f"{label} labels file not found: {expected}; put the labels file that belongs to "
                f"{images_path.name} next to it"
            )
        gs = load_idx(images_path, labels_path, transpose=(kind == "emnist"))
        if kind == "emnist":
            mapping = _emnist_mapping(images_path)
            if mapping and all(int(c) in mapping for c in gs.classes):
                gs.classes = [mapping[int(c)] for c in gs.classes]
    elif kind == "az-csv":
        gs = load_az_csv(path)
    else:
        gs = load_cifar10(path)
    if size is not None and gs.images.shape[-1] != int(size):
        from PIL import Image

        gs.images = _resize_set(gs.images, int(size), Image.Resampling.LANCZOS)
        gs.info["resized_to"] = int(size)
    gs.info["kind"] = kind
    return gs
