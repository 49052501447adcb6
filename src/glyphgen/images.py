"""Turning glyph arrays into pictures people look at: single PNGs and grids.

Glyph arrays are ink high (the data convention); pictures are drawn the way people read glyphs, dark ink on light
paper, unless `invert=False`. RGB images (C = 3) are shown as they are.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def to_uint8(images) -> np.ndarray:
    """(N, C, H, W) torch/numpy float in [0, 1] or uint8 -> numpy uint8 (N, C, H, W)."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if images.ndim == 3:
        images = images[:, None]
    return images


def to_pil(image: np.ndarray, invert: bool = True) -> Image.Image:
    """One (C, H, W) uint8 image -> PIL image (dark ink on white for 1-channel glyphs when invert)."""
    if image.shape[0] == 1:
        a = image[0]
        return Image.fromarray(255 - a if invert else a, mode="L")
    return Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0)), mode="RGB")


def grid(images, nrow: int | None = None, pad: int = 2, invert: bool = True, scale: int = 1) -> Image.Image:
    """Tile (N, C, H, W) images into one picture, `nrow` per row (default: square-ish), `pad` px of paper between."""
    images = to_uint8(images)
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / nrow))
    paper = 0 if c == 1 else 255  # 1-channel: ink-high 0 is paper (white once inverted); RGB: white padding
    canvas = np.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), paper, dtype=np.uint8)
    for k in range(n):
        r, col = divmod(k, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        canvas[:, y : y + h, x : x + w] = images[k]
    picture = to_pil(canvas, invert=invert)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    return picture


def save_grid(images, path: str | Path, **options) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid(images, **options).save(path)
    return path


def glyph_file_name(k: int, seed: int, char: str | None = None) -> str:
    """`007-永-seed42.png`: the image's place, its character (U+XXXX where a file name should not hold it) and seed."""
    if char is None:
        return f"{k:03d}-seed{seed}.png"
    shown = char if char.isalnum() else f"U+{ord(char):04X}"
    return f"{k:03d}-{shown}-seed{seed}.png"


def check_glyph_folder(folder: str | Path) -> Path:
    """A folder `save_each` may (re)write: absent, or holding PNG files only (checked before any sampling)."""
    from glyphgen.errors import GlyphgenError

    folder = Path(folder)
    if not folder.exists():
        return folder
    foreign = (
        [p.name for p in folder.iterdir() if not (p.is_file() and p.suffix.lower() == ".png")]
        if folder.is_dir()
        else []
    )
    if not folder.is_dir() or foreign:
        raise GlyphgenError(
            f"{folder} holds other files ({', '.join(foreign[:3]) or 'it is a file'}); the single glyphs go into "
            "a folder named after --out: pick another --out"
        )
    return folder


def save_each(images, folder: str | Path, names: list[str], invert: bool = True) -> list[Path]:
    """Write image k as folder/names[k], replacing whatever an earlier call wrote there (so a second call never
    leaves old glyphs among new ones): the folder is written beside as a hidden one and swapped in. A folder that
    holds anything but PNG files is not glyphgen's to replace: a one-line error, nothing touched."""
    import shutil
    import tempfile

    folder = check_glyph_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for image, name in zip(to_uint8(images), names, strict=True):
            to_pil(image, invert=invert).save(fresh / name)
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            folder.rename(old / folder.name)
            fresh.rename(folder)
            shutil.rmtree(old)
        else:
            fresh.rename(folder)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return [folder / name for name in names]


# Pixels a picture file glyphgen reads (glyph images, style references) may have: a 4096 px square, the largest
# image size glyphgen resizes to. Checked from the header before decoding, so a small file that declares a huge
# canvas (a decompression bomb: a 17 kB PNG of 12000 x 12000 px decodes to 144 MB, RGBA to 576 MB) is refused
# without allocating it; Pillow's own guard only warns below 179 million pixels.
MAX_PIXELS = 4096 * 4096


def open_picture(path: str | Path) -> Image.Image:
    """The decoded first frame of the picture file `path`, its size checked before decoding; 16-bit grey pictures
    come back as 8-bit "L" scaled to 0-255 (Pillow's own conversion clips them, turning a 16-bit glyph white).
    A picture over MAX_PIXELS is a one-line GlyphgenError naming the file; unreadable files raise Pillow's errors."""
    from glyphgen.errors import GlyphgenError

    try:
        im = Image.open(path)
    except Image.DecompressionBombError:  # Pillow's guard, where the app has lowered it to MAX_PIXELS
        raise GlyphgenError(
            f"image {path} has over {MAX_PIXELS:,} pixels; pictures glyphgen reads have at most "
            f"{MAX_PIXELS:,} (4096x4096): shrink it"
        ) from None
    try:
        if im.width * im.height > MAX_PIXELS:
            raise GlyphgenError(
                f"image {path} is {im.width}x{im.height} pixels; pictures glyphgen reads have at most "
                f"{MAX_PIXELS:,} (4096x4096): shrink it"
            )
        im.load()
        if im.mode.startswith("I;16") or (im.mode == "I" and im.getextrema()[1] > 255):
            wide = np.asarray(im, dtype=np.float64)
            im = Image.fromarray(np.clip(wide / 257.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    except BaseException:
        im.close()
        raise
    return im


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def check_picture_path(path: str | Path, flag: str = "--out") -> Path:
    """A picture path Pillow can write (known extension, writable folder), checked before any sampling."""
    from glyphgen.atomic import check_writable
    from glyphgen.errors import GlyphgenError

    path = Path(path)
    if path.suffix.lower() not in PICTURE_SUFFIXES:
        raise GlyphgenError(f"{flag} {path}: name a picture file ending in {', '.join(PICTURE_SUFFIXES)}")
    return check_writable(path, flag)
