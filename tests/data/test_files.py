"""glyphgen.data.files: each reader on files written here in the real standard layout, and its user errors."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from glyphgen.data import files
from glyphgen.data.files import (
    load_az_csv,
    load_cifar10,
    load_file_source,
    load_idx,
    load_image_folder,
    load_sklearn_digits,
)
from glyphgen.errors import GlyphgenError

RNG = np.random.default_rng(0)


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


# --------------------------------------------------------------------------------------------------------- IDX


def write_idx_images(path, images, *, gz=False):
    n, h, w = images.shape
    blob = struct.pack(">IIII", 0x00000803, n, h, w) + images.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if gz else blob)
    return path


def write_idx_labels(path, labels, *, gz=False):
    blob = struct.pack(">II", 0x00000801, len(labels)) + np.asarray(labels, np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if gz else blob)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    images = RNG.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2])
    suffix = ".gz" if gz else ""
    img = write_idx_images(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, gz=gz)
    lab = write_idx_labels(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, gz=gz)
    gs = load_idx(img, lab)
    assert gs.images.shape == (7, 1, 28, 28) and gs.images.dtype == np.uint8
    np.testing.assert_array_equal(gs.images[:, 0], images)  # MNIST is already ink high: no inversion
    assert gs.classes == ["1", "2", "3", "4", "5", "9"]
    assert [gs.classes[i] for i in gs.labels] == [str(v) for v in labels]
    gs.images[0, 0, 0, 0] = 1  # writable


def test_idx_gzip_detected_by_magic_not_suffix(tmp_path):
    images = RNG.integers(0, 256, (2, 5, 4), dtype=np.uint8)
    img = write_idx_images(tmp_path / "plain-name-images-idx3-ubyte", images, gz=True)
    np.testing.assert_array_equal(load_idx(img).images[:, 0], images)


def test_idx_classes_numeric_order_and_given(tmp_path):
    img = write_idx_images(tmp_path / "a-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    lab = write_idx_labels(tmp_path / "a-labels-idx1-ubyte", [10, 2, 1])
    assert load_idx(img, lab).classes == ["1", "2", "10"]
    gs = load_idx(img, lab, classes=[chr(ord("a") + i) for i in range(11)])
    assert [gs.classes[i] for i in gs.labels] == ["k", "c", "b"]
    with pytest.raises(GlyphgenError) as e:
        load_idx(img, lab, classes=["x", "y"])
    assert "label 10" in one_line_error(e)


def test_emnist_transpose(tmp_path):
    images = RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    stored = images.transpose(0, 2, 1)
    img = write_idx_images(tmp_path / "emnist-letters-test-images-idx3-ubyte", stored)
    np.testing.assert_array_equal(load_idx(img).images[:, 0], images)  # auto by name
    np.testing.assert_array_equal(load_idx(img, transpose=False).images[:, 0], stored)
    other = write_idx_images(tmp_path / "x-images-idx3-ubyte", stored)
    np.testing.assert_array_equal(load_idx(other).images[:, 0], stored)
    np.testing.assert_array_equal(load_idx(other, transpose=True).images[:, 0], images)


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "x-images-idx3-ubyte"
    path.write_bytes(struct.pack(">IIII", 0x00000801, 1, 2, 2) + bytes(4))
    with pytest.raises(GlyphgenError) as e:
        load_idx(path)
    assert "is not an IDX image file (bad magic 0x00000801)" in one_line_error(e)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated(tmp_path, gz):
    blob = struct.pack(">IIII", 0x00000803, 10, 28, 28) + bytes(3 * 28 * 28 + 5)
    path = tmp_path / "x-images-idx3-ubyte"
    path.write_bytes(gzip.compress(blob) if gz else blob)
    with pytest.raises(GlyphgenError) as e:
        load_idx(path)
    assert "truncated: header says 10 images, file holds 3" in one_line_error(e)


def test_idx_truncated_gzip_stream(tmp_path):
    blob = gzip.compress(struct.pack(">IIII", 0x00000803, 10, 28, 28) + RNG.bytes(10 * 28 * 28))
    path = tmp_path / "x-images-idx3-ubyte.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(GlyphgenError) as e:
        load_idx(path)
    assert "truncated" in one_line_error(e)


def test_idx_count_mismatch_and_missing(tmp_path):
    img = write_idx_images(tmp_path / "a-images-idx3-ubyte", np.zeros((3, 2, 2), np.uint8))
    lab = write_idx_labels(tmp_path / "a-labels-idx1-ubyte", [1, 2])
    with pytest.raises(GlyphgenError) as e:
        load_idx(img, lab)
    assert "3 images but" in one_line_error(e)
    with pytest.raises(GlyphgenError) as e:
        load_idx(tmp_path / "nope-images-idx3-ubyte.gz")
    assert "not found" in one_line_error(e) and "nope-images-idx3-ubyte.gz" in str(e.value)


# ----------------------------------------------------------------------------------------------------- A-Z CSV


def az_rows(n):
    labels = RNG.integers(0, 26, n)
    pixels = RNG.integers(0, 256, (n, 784))
    pixels[:, ::3] = 0  # the real file is mostly zeros: keep one-digit fields common
    return labels, pixels


def write_az(path, labels, pixels, header=False, newline="\n"):
    lines = [",".join(map(str, [lab, *row])) for lab, row in zip(labels, pixels, strict=True)]
    if header:
        lines.insert(0, ",".join(["0"] + [f"0.{i}" for i in range(1, 785)]))  # what pandas writes back
    path.write_text(newline.join(lines) + newline)
    return path


@pytest.mark.parametrize("header", [False, True])
def test_az_csv_round_trip(tmp_path, header):
    labels, pixels = az_rows(5)
    gs = load_az_csv(write_az(tmp_path / "A_Z Handwritten Data.csv", labels, pixels, header=header))
    assert gs.images.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(gs.images.reshape(5, 784), pixels)
    np.testing.assert_array_equal(gs.labels, labels)
    assert gs.classes == [chr(c) for c in range(ord("A"), ord("Z") + 1)]


def test_az_csv_crlf_no_final_newline_and_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_CHUNK_BYTES", 5000)  # 3 rows a chunk
    labels, pixels = az_rows(8)
    path = write_az(tmp_path / "az.csv", labels, pixels, newline="\r\n")
    path.write_bytes(path.read_bytes().rstrip())
    gs = load_az_csv(path)
    np.testing.assert_array_equal(gs.images.reshape(8, 784), pixels)
    np.testing.assert_array_equal(gs.labels, labels)


def test_az_csv_783_pixels(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "_CHUNK_BYTES", 3000)  # 2 rows a chunk
    labels, pixels = az_rows(4)
    path = write_az(tmp_path / "az.csv", labels, pixels, header=True)
    lines = path.read_text().splitlines()
    lines[4] = lines[4].rsplit(",", 1)[0]  # row 4 (line 5 with the header) loses its last pixel
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GlyphgenError) as e:
        load_az_csv(path)
    assert "line 5 has 784 values, expected 785" in one_line_error(e)


@pytest.mark.parametrize(
    ("bad", "expect"),
    [
        ("1.5", "'1.5' is not an integer"),
        ("x", "'x' is not an integer"),
        ("", "empty value"),
        ("1000", "'1000'"),
        ("256", "pixel above 255"),
    ],
)
def test_az_csv_bad_values(tmp_path, bad, expect):
    labels, pixels = az_rows(3)
    path = write_az(tmp_path / "az.csv", labels, pixels)
    lines = path.read_text().splitlines()
    fields = lines[1].split(",")
    fields[100] = bad
    lines[1] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(GlyphgenError) as e:
        load_az_csv(path)
    message = one_line_error(e)
    assert "line 2" in message and expect in message


def test_az_csv_label_range_and_empty(tmp_path):
    labels, pixels = az_rows(2)
    labels[1] = 26
    with pytest.raises(GlyphgenError) as e:
        load_az_csv(write_az(tmp_path / "az.csv", labels, pixels))
    assert "line 2 has a label above 25" in one_line_error(e)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(GlyphgenError) as e:
        load_az_csv(tmp_path / "empty.csv")
    assert "no data rows" in one_line_error(e)


# ---------------------------------------------------------------------------------------------------- CIFAR-10


def write_cifar(folder, batches=("data_batch_1", "test_batch"), n=4, meta=True):
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in batches:
        data = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in RNG.integers(0, 10, n)]
        batch = {
            b"batch_label": f"{name} of 1".encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        written[name] = (data, labels)
    if meta:
        names = [b"plane", b"car", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
        with open(folder / "batches.meta", "wb") as f:
            pickle.dump({b"num_cases_per_batch": n, b"label_names": names, b"num_vis": 3072}, f, protocol=2)
    return written


def test_cifar10_round_trip(tmp_path):
    written = write_cifar(tmp_path / "cifar-10-batches-py")
    gs = load_cifar10(tmp_path)  # the parent of the extracted folder works too
    assert gs.images.shape == (8, 3, 32, 32) and gs.images.dtype == np.uint8
    expect = np.concatenate([written["data_batch_1"][0], written["test_batch"][0]]).reshape(-1, 3, 32, 32)
    np.testing.assert_array_equal(gs.images, expect)  # kept as stored: photos are not inverted
    np.testing.assert_array_equal(gs.labels, written["data_batch_1"][1] + written["test_batch"][1])
    assert gs.classes[:2] == ["plane", "car"] and len(gs.classes) == 10
    assert gs.info["batches"] == {"data_batch_1": 4, "test_batch": 4}


def test_cifar10_legacy_numpy_module_name_and_no_meta(tmp_path):
    folder = tmp_path / "c"
    written = write_cifar(folder, batches=("data_batch_1",), meta=False)
    # The real files were written by numpy 1.x, which names numpy.core.multiarray.
    blob = (folder / "data_batch_1").read_bytes()
    assert b"numpy._core.multiarray" in blob
    (folder / "data_batch_1").write_bytes(blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    gs = load_cifar10(folder)
    np.testing.assert_array_equal(gs.images.reshape(-1, 3072), written["data_batch_1"][0])
    assert gs.classes == files.CIFAR10_CLASSES


def py2_batch_pickle(data, labels):
    """A batch pickled the way Python 2 wrote the real files: py2 str (SHORT_BINSTRING / BINSTRING) everywhere."""

    def short(b):
        return b"U" + bytes([len(b)]) + b

    def int4(n):
        return b"J" + struct.pack("<i", n)

    p = b"\x80\x02}(" + short(b"data")
    p += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + short(b"b") + b"\x87R"
    p += b"(K\x01" + int4(data.shape[0]) + int4(data.shape[1]) + b"\x86"
    p += b"cnumpy\ndtype\n" + short(b"u1") + b"K\x00K\x01\x87R"
    p += b"(K\x03" + short(b"|") + b"NNN" + int4(-1) + int4(-1) + b"K\x00tb"
    p += b"\x89T" + struct.pack("<I", data.nbytes) + data.tobytes() + b"tb"
    p += short(b"labels") + b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"eu."
    return p


def test_cifar10_python2_written_batch(tmp_path):
    data = RNG.integers(0, 256, (3, 3072), dtype=np.uint8)
    (tmp_path / "data_batch_3").write_bytes(py2_batch_pickle(data, [9, 0, 4]))
    gs = load_cifar10(tmp_path)
    np.testing.assert_array_equal(gs.images.reshape(3, 3072), data)
    assert gs.labels.tolist() == [9, 0, 4] and gs.info["batches"] == {"data_batch_3": 3}


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_malicious_pickle_refused_and_not_run(tmp_path, protocol):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    marker = tmp_path / "pwned"
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Evil(marker), b"labels": [0]}, f, protocol=protocol)
    with pytest.raises(GlyphgenError) as e:
        load_cifar10(folder)
    message = one_line_error(e)
    assert message.startswith("refusing to load") and "system" in message
    assert not marker.exists()


class _ObjectNdarray:
    def __reduce__(self):  # a direct call of numpy.ndarray(shape, "O") instead of numpy's own reconstruct
        return (np.ndarray, ((3,), "O"))


def test_cifar10_direct_ndarray_call_refused(tmp_path):
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _ObjectNdarray(), b"labels": [0, 0, 0]}, f, protocol=2)
    with pytest.raises(GlyphgenError) as e:
        load_cifar10(tmp_path)
    assert "not a CIFAR-10 batch" in one_line_error(e)


def test_cifar10_object_array_refused(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": np.array([1, 2], dtype=object), b"labels": [0, 1]}, f, protocol=2)
    with pytest.raises(GlyphgenError) as e:
        load_cifar10(folder)
    assert "refusing to load" in one_line_error(e)


def test_cifar10_missing_and_garbage(tmp_path):
    with pytest.raises(GlyphgenError) as e:
        load_cifar10(tmp_path / "nowhere")
    assert "not found" in one_line_error(e)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GlyphgenError) as e:
        load_cifar10(tmp_path / "empty")
    assert "no CIFAR-10 batches" in one_line_error(e)
    (tmp_path / "empty" / "data_batch_1").write_bytes(b"not a pickle at all\n")
    with pytest.raises(GlyphgenError) as e:
        load_cifar10(tmp_path / "empty")
    assert "is not a CIFAR-10 batch" in one_line_error(e)


# ------------------------------------------------------------------------------------------------ image folder


def glyph_image(size=40, dark_on_white=True, mode="L"):
    """A '+' stroke; dark ink on white paper, or white ink on black."""
    ink, paper = (0, 255) if dark_on_white else (255, 0)
    arr = np.full((size, size), paper, np.uint8)
    arr[size // 2 - 3 : size // 2 + 3, 8:-8] = ink
    arr[8:-8, size // 2 - 3 : size // 2 + 3] = ink
    im = Image.fromarray(arr)
    return im.convert(mode) if mode != "L" else im


def test_image_folder_flat_auto_inverts_to_ink_high(tmp_path):
    glyph_image().save(tmp_path / "a.png")
    glyph_image(dark_on_white=False).save(tmp_path / "b.jpg", quality=95)
    glyph_image(size=50, mode="RGB").save(tmp_path / "c.bmp")
    (tmp_path / "notes.txt").write_text("ignored")
    gs = load_image_folder(tmp_path, size=32)
    assert gs.images.shape == (3, 1, 32, 32) and gs.classes == [""]
    assert gs.info["inverted"] == 2
    for img in gs.images[:, 0]:
        assert img[0].max() < 40 and img[:, 0].max() < 40  # paper is 0
        assert img[16, 16] > 200  # stroke centre is ink


def test_image_folder_transparent_png_is_paper(tmp_path):
    arr = np.zeros((32, 32, 4), np.uint8)  # transparent black everywhere
    arr[10:22, 14:18] = (0, 0, 0, 255)  # an opaque black stroke
    Image.fromarray(arr, "RGBA").save(tmp_path / "t.png")
    img = load_image_folder(tmp_path, size=32).images[0, 0]
    assert img[0, 0] == 0 and img[16, 16] == 255


def test_image_folder_per_class(tmp_path):
    for cls, n in (("U+4E00", 2), ("cat", 1)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            glyph_image().save(tmp_path / cls / f"{i}.png")
    gs = load_image_folder(tmp_path, size=16, channels=3)
    assert gs.classes == ["一", "cat"]
    assert gs.labels.tolist() == [0, 0, 1]
    assert gs.images.shape == (3, 3, 16, 16)
    assert gs.images[0, :, 0, 0].tolist() == [255, 255, 255]  # RGB is not auto-inverted
    assert load_image_folder(tmp_path, size=16, channels=3, invert=True).images[0, :, 0, 0].tolist() == [0, 0, 0]


def test_image_folder_errors(tmp_path):
    with pytest.raises(GlyphgenError) as e:
        load_image_folder(tmp_path / "missing")
    assert "not found" in one_line_error(e)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(GlyphgenError) as e:
        load_image_folder(tmp_path / "empty")
    assert "no images in" in one_line_error(e)
    (tmp_path / "bad").mkdir()
    glyph_image().save(tmp_path / "bad" / "ok.png")
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(GlyphgenError) as e:
        load_image_folder(tmp_path / "bad")
    assert "cannot read image" in one_line_error(e) and "broken.png" in str(e.value)
    (tmp_path / "bad" / "broken.png").unlink()
    (tmp_path / "bad" / "sub").mkdir()
    glyph_image().save(tmp_path / "bad" / "sub" / "x.png")
    with pytest.raises(GlyphgenError) as e:
        load_image_folder(tmp_path / "bad")
    assert "mixes loose images" in one_line_error(e)


# ----------------------------------------------------------------------------------------- scikit-learn digits


def test_sklearn_digits():
    gs = load_sklearn_digits()
    assert gs.images.shape == (1797, 1, 8, 8) and gs.images.dtype == np.uint8
    assert gs.classes == [str(d) for d in range(10)] and set(gs.labels.tolist()) == set(range(10))
    assert gs.images.max() == 255
    border = np.concatenate([gs.images[:, 0, 0], gs.images[:, 0, -1], gs.images[:, 0, :, 0], gs.images[:, 0, :, -1]])
    assert (border == 0).mean() > 0.6  # ink high: the paper around each digit is mostly 0 (8x8 crops are tight)
    assert border.mean() < gs.images[:, 0, 2:6, 2:6].mean() / 2
    assert np.bincount(gs.labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert gs.images[0, 0, 0].tolist() == [0, 0, 80, 207, 143, 16, 0, 0]  # row 0 of digit 0 is 0,0,5,13,9,1,0,0 /16
    big = load_sklearn_digits(28)
    assert big.images.shape == (1797, 1, 28, 28)


@pytest.mark.slow  # imports sklearn (and scipy): seconds on a busy machine
def test_sklearn_digits_match_load_digits(monkeypatch):
    from sklearn.datasets import load_digits

    digits = load_digits()
    fast = load_sklearn_digits()
    np.testing.assert_array_equal(fast.labels, digits.target)
    np.testing.assert_array_equal(fast.images[:, 0], np.rint(digits.images * 255 / 16).astype(np.uint8))
    monkeypatch.setattr(files, "_sklearn_digits_rows", lambda: None)  # sklearn moved its file: use its loader
    np.testing.assert_array_equal(load_sklearn_digits().images, fast.images)


def test_digits_without_scikit_learn_name_the_extra_to_install(monkeypatch):
    import sys

    # scikit-learn is an optional part ([digits]): as if it were not installed
    monkeypatch.setattr(files, "_sklearn_digits_rows", lambda: None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(GlyphgenError, match=r"pip install 'glyphgen\[digits\]'"):
        load_sklearn_digits()


# ------------------------------------------------------------------------------------------------- dispatcher


def test_dispatch_mnist_finds_labels_and_resizes(tmp_path):
    images = RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    img = write_idx_images(tmp_path / "train-images-idx3-ubyte.gz", images, gz=True)
    write_idx_labels(tmp_path / "train-labels-idx1-ubyte", [0, 1, 2])  # unzipped beside a zipped images file
    gs = load_file_source("mnist", str(img), None)
    np.testing.assert_array_equal(gs.images[:, 0], images)
    assert gs.classes == ["0", "1", "2"] and gs.info["kind"] == "mnist"
    assert load_file_source("mnist", str(img), 32).images.shape == (3, 1, 32, 32)


def test_dispatch_mnist_missing_labels_and_file(tmp_path):
    img = write_idx_images(tmp_path / "train-images-idx3-ubyte", np.zeros((1, 4, 4), np.uint8))
    with pytest.raises(GlyphgenError) as e:
        load_file_source("mnist", str(img), None)
    assert "train-labels-idx1-ubyte" in one_line_error(e)
    with pytest.raises(GlyphgenError) as e:
        load_file_source("mnist", str(tmp_path / "data" / "train-images-idx3-ubyte.gz"), None)
    message = one_line_error(e)
    assert message.startswith("MNIST file not found:") and "MNIST site" in message


def test_dispatch_emnist_mapping(tmp_path):
    stored = RNG.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    img = write_idx_images(tmp_path / "emnist-letters-train-images-idx3-ubyte", stored)
    write_idx_labels(tmp_path / "emnist-letters-train-labels-idx1-ubyte", [1, 26])
    (tmp_path / "emnist-letters-mapping.txt").write_text("".join(f"{i} {64 + i} {96 + i}\n" for i in range(1, 27)))
    gs = load_file_source("emnist", str(img), None)
    assert gs.classes == ["A", "Z"]
    np.testing.assert_array_equal(gs.images[:, 0], stored.transpose(0, 2, 1))


def test_dispatch_other_kinds(tmp_path):
    labels, pixels = az_rows(2)
    assert load_file_source("az-csv", str(write_az(tmp_path / "az.csv", labels, pixels)), 32).shape == (1, 32, 32)
    write_cifar(tmp_path / "cifar")
    assert load_file_source("cifar10", str(tmp_path / "cifar"), None).shape == (3, 32, 32)
    (tmp_path / "imgs").mkdir()
    glyph_image().save(tmp_path / "imgs" / "a.png")
    assert load_file_source("folder", str(tmp_path / "imgs"), None).shape == (1, 64, 64)
    assert len(load_file_source("digits", None, None)) == 1797


def test_dispatch_unknown_kind_and_no_path():
    with pytest.raises(GlyphgenError) as e:
        load_file_source("svhn", "x", None)
    message = one_line_error(e)
    assert all(kind in message for kind in files.FILE_KINDS)
    with pytest.raises(GlyphgenError) as e:
        load_file_source("az-csv", None, None)
    assert "needs a path" in one_line_error(e)
