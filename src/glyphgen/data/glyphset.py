"""`GlyphSet`: the one in-memory form of every glyph dataset.

Convention (the same for every source):
    images  (N, C, H, W) uint8, ink HIGH: 0 = blank paper, 255 = full ink. C is 1 for glyphs, 3 for RGB sets.
    labels  (N,) int64, index into `classes` (the character, or a class name for non-glyph sets)
    styles  (N,) int64, index into `style_names` (font or writer), or None where a source has no style
    content (len(classes), C, H, W) uint8, the neutral content glyph of each class (the style sets), or None

Models read images as float in [0, 1] (`to_float`) and map them to their own range ([-1, 1] for diffusion and GANs,
[0, 1] for the VAEs and the dream model). On disk a GlyphSet is an .npz of plain arrays, loaded with
allow_pickle=False, so a cache file can never run code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glyphgen.errors import GlyphgenError


@dataclass
class GlyphSet:
    images: np.ndarray  # (N, C, H, W) uint8, ink high
    labels: np.ndarray  # (N,) int64 into classes
    classes: list[str]  # label -> character or class name
    styles: np.ndarray | None = None  # (N,) int64 into style_names
    style_names: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)  # provenance: source, skipped glyphs, counts per style
    content: np.ndarray | None = None  # (len(classes), C, H, W) uint8: each class's content glyph (data/faces.py)

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be (N, C, H, W) uint8, got {self.images.shape} {self.images.dtype}")
        # Views such as a[:, None] carry zero strides that in-place tensor ops (DDP's buffer broadcast) refuse to
        # write into; a copy gets ordinary strides.
        if 0 in self.images.strides or not self.images.flags.c_contiguous:
            self.images = self.images.copy()
        self.labels = np.ascontiguousarray(self.labels, dtype=np.int64)
        if len(self.labels) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        if self.styles is not None:
            self.styles = np.asarray(self.styles, dtype=np.int64)
            if len(self.styles) != len(self.images):
                raise ValueError(f"{len(self.images)} images but {len(self.styles)} styles")
        if self.content is not None:
            self.content = np.ascontiguousarray(self.content)
            if self.content.dtype != np.uint8 or self.content.shape != (len(self.classes), *self.images.shape[1:]):
                raise ValueError(
                    f"content must be ({len(self.classes)}, {', '.join(map(str, self.images.shape[1:]))}) uint8, "
                    f"got {self.content.shape} {self.content.dtype}"
                )

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    def subset(self, index) -> GlyphSet:
        """The glyphs at `index` (a slice, mask or index array); classes and styles keep their numbering."""
        return GlyphSet(
            self.images[index],
            self.labels[index],
            list(self.classes),
            None if self.styles is None else self.styles[index],
            list(self.style_names),
            dict(self.info),
            self.content,
        )

    def to_float(self):
        """Images as a float32 torch tensor (N, C, H, W) in [0, 1], ink high."""
        import torch

        return torch.from_numpy(self.images).float().div_(255.0)

    def checksum(self) -> str:
        """SHA-256 of the arrays (images, labels, styles, content) and the class list: what a cache file must hold."""
        import hashlib

        h = hashlib.sha256()
        for a in (self.images, self.labels, self.styles, self.content):
            if a is not None:
                h.update(str((a.dtype, a.shape)).encode())
                h.update(np.ascontiguousarray(a).data)
        h.update(json.dumps(self.classes, ensure_ascii=False).encode())
        return h.hexdigest()

    def save(self, path: str | Path, key: str | None = None) -> None:
        """Write an .npz of plain arrays (no pickles) with their checksum; written under a unique temporary name
        (two processes building one cache cannot mix their bytes), fsynced, then renamed, so a reader never sees
        half a file. key: what the set was built from (the render cache's key), checked again by `load`."""
        from glyphgen.atomic import atomic_path, remove_temporaries

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_temporaries(path.parent)  # what builders killed mid-write left (only those of processes gone)
        arrays = dict(
            images=self.images,
            labels=self.labels,
            classes=np.array(self.classes, dtype=np.str_),
            style_names=np.array(self.style_names, dtype=np.str_),
            info=np.array(json.dumps(self.info, ensure_ascii=False)),
        )
        if self.styles is not None:
            arrays["styles"] = self.styles
        if self.content is not None:
            arrays["content"] = self.content
        arrays["checksum"] = np.array(self.checksum())
        if key is not None:
            arrays["key"] = np.array(key)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a bare temporary name
                np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path, key: str | None = None) -> GlyphSet:
        """Read a saved set; a truncated, bit-flipped or foreign file (no or a wrong checksum, labels outside the
        classes, another `key` than the one asked for) is a one-line GlyphgenError, never a set to train on."""
        import zipfile

        try:
            with np.load(path, allow_pickle=False) as z:
                glyphs = cls(
                    images=z["images"],
                    labels=z["labels"],
                    classes=[str(c) for c in z["classes"]],
                    styles=z["styles"] if "styles" in z.files else None,
                    style_names=[str(s) for s in z["style_names"]],
                    info=json.loads(str(z["info"])),
                    content=z["content"] if "content" in z.files else None,
                )
                stored = str(z["checksum"]) if "checksum" in z.files else None
                built_for = str(z["key"]) if "key" in z.files else None
        # MemoryError: a damaged .npy header can declare terabytes, which numpy tries to allocate before reading.
        except (OSError, ValueError, KeyError, EOFError, MemoryError, RecursionError, zipfile.BadZipFile) as e:
            raise GlyphgenError(
                f"cannot read glyph set {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
            ) from e
        if key is not None and built_for != key:  # a well-formed set of another config, or from an older glyphgen
            raise GlyphgenError(f"glyph set {path} was built from other settings (or by an older glyphgen)")
        if stored != glyphs.checksum():
            raise GlyphgenError(f"glyph set {path} does not match its checksum (damaged, or not written by glyphgen)")
        if len(glyphs.labels) and (glyphs.labels.min() < 0 or glyphs.labels.max() >= len(glyphs.classes)):
            raise GlyphgenError(f"glyph set {path} has labels outside its {len(glyphs.classes)} classes")
        return glyphs


def merge(sets: list[GlyphSet], names: list[str] | None = None) -> GlyphSet:
    """One set from several with the same image shape: classes are united by character (first appearance first),
    labels renumbered, and each part's styles kept apart under "<name>/<style>" (name: the part's index or `names`)."""
    if not sets:
        raise GlyphgenError("nothing to merge")
    if any(g.content is not None for g in sets):
        raise GlyphgenError("a face set (source faces) carries content glyphs and cannot be part of a mix")
    names = names or [str(i) for i in range(len(sets))]
    shapes = {g.shape for g in sets}
    if len(shapes) > 1:
        raise GlyphgenError(f"cannot mix glyph sets of shapes {sorted(shapes)}; give every part the same size/channels")
    classes = list(dict.fromkeys(c for g in sets for c in g.classes))
    index = {c: i for i, c in enumerate(classes)}
    labels, styles, style_names = [], [], []
    for name, g in zip(names, sets, strict=True):
        labels.append(np.array([index[c] for c in g.classes], dtype=np.int64)[g.labels])
        own = g.style_names or ["all"]
        offset = len(style_names)
        style_names += [f"{name}/{s}" for s in own]
        styles.append(offset + (g.styles if g.styles is not None else np.zeros(len(g), dtype=np.int64)))
    info = {"parts": [g.info for g in sets]}
    return GlyphSet(
        np.concatenate([g.images for g in sets]),
        np.concatenate(labels),
        classes,
        np.concatenate(styles),
        style_names,
        info,
    )
