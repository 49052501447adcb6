"""Glyphs grouped by face, for the few-shot style family: the versioned style split and the sets it defines.

`lists/style-split.json` (version 2) is fixed and shipped with the package. For each face set ("kanji": jōyō at
64 px, centred; "latin": A-Z a-z 0-9, centred) it names

    content        the neutral face whose rendering of each character is the model's content input
    train          the faces training may use
    heldout        faces of different kinds (brush, pen, mincho, kai, rounded, sans, ...) that no training step sees
    heldout_chars  ~10% of the characters, never trained on in any face
    excluded       faces left out of both, with the reason: near-copies of a held-out face (a font derived from
                   another), which would make that face seen in all but name

Faces are named by font file (and face index inside a collection), as the Debian package in `package` installs them
(`scripts/setup.sh` installs every one); a face that is not installed is a one-line error naming its package.

The sets (`build`):
    split="train"    every training face x the characters minus the held-out ones; styles = faces
    split="heldout"  every held-out face x all characters (evaluation separates seen and unseen characters)
Both carry `content`: the content face's rendering of every character of the set, held-out characters included (a
model must be able to write them), as `GlyphSet.content`, aligned with `classes`. Characters a face lacks, or draws
as .notdef, are skipped for that face (fonts.render_font); characters the content face lacks leave the set.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from glyphgen.data.glyphset import GlyphSet
from glyphgen.errors import GlyphgenError

SPLIT_FILE = "style-split.json"
SPLIT_VERSION = 2
SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class Face:
    """One face of the split: a font file (face `index` of a collection), its kind and its Debian package."""

    file: str
    index: int
    kind: str
    package: str

    @property
    def id(self) -> str:
        """The face's name in the split, in reports and in a GlyphSet's style_names: "file#index"."""
        return f"{self.file}#{self.index}"


@dataclass(frozen=True)
class FaceSet:
    name: str
    charset: str
    placement: str
    content: Face
    train: tuple[Face, ...]
    heldout: tuple[Face, ...]
    heldout_chars: str

    def faces(self, split: str) -> tuple[Face, ...]:
        if split not in SPLITS:
            raise GlyphgenError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        return self.train if split == "train" else self.heldout

    def kinds(self) -> dict[str, str]:
        """Held-out face id -> kind (brush, pen, ...): the per-kind rows of a style evaluation."""
        return {f.id: f.kind for f in self.heldout}


@functools.cache
def split_file() -> dict:
    data = json.loads((resources.files("glyphgen.data") / "lists" / SPLIT_FILE).read_text(encoding="utf-8"))
    if data.get("version") != SPLIT_VERSION:
        raise GlyphgenError(f"{SPLIT_FILE} has version {data.get('version')}; this glyphgen reads {SPLIT_VERSION}")
    return data


def face_set(name: str) -> FaceSet:
    """The named face set of the split ("kanji" or "latin")."""
    sets = split_file()["sets"]
    if name not in sets:
        raise GlyphgenError(f"unknown face set {name!r}; the style split has {', '.join(sets)}")
    s = sets[name]

    def faces(items):
        return tuple(Face(f["file"], f["index"], f["kind"], f["package"]) for f in items)

    return FaceSet(
        name,
        s["charset"],
        s["placement"],
        faces([s["content"]])[0],
        faces(s["train"]),
        faces(s["heldout"]),
        s["heldout_chars"],
    )


def placement_of(data: dict | None) -> str:
    """How the glyphs of a model's training data (its config.json's data section) sit in their square: "center"
    (ink box scaled and centred) or "em" (the font's em box, so case and baseline survive)."""
    data = data or {}
    if data.get("source") == "faces" and data.get("faces"):
        return face_set(data["faces"]).placement
    return data.get("placement", "center")


@functools.cache
def _installed() -> dict[str, Path]:
    """Font file name -> path of the installed fonts (fonts.discover_fonts: fontconfig, else the font folders)."""
    from glyphgen.data.fonts import discover_fonts

    found: dict[str, Path] = {}
    for info in discover_fonts():
        found.setdefault(info.spec.path.name, info.spec.path)
    return found


def resolve(faces: tuple[Face, ...] | list[Face]):
    """The FontSpec of each face; faces that are not installed are one error naming their packages."""
    from glyphgen.data.fonts import FontSpec

    installed = _installed()
    missing = [f for f in faces if f.file not in installed]
    if missing:
        packages = " ".join(sorted({f.package for f in missing}))
        names = ", ".join(f.file for f in missing[:4]) + (" ..." if len(missing) > 4 else "")
        raise GlyphgenError(
            f"{len(missing)} face(s) of the style split are not installed ({names}); "
            f"install them with scripts/setup.sh (Debian packages: {packages})"
        )
    return [FontSpec(installed[f.file], f.index) for f in faces]


def build(name: str, split: str, size: int, margin: float, chars: list[str] | None = None, progress=False) -> GlyphSet:
    """The glyphs of one split of face set `name` at `size` px (see the module docstring); `chars` narrows the
    character set (default: the set's charset)."""
    from glyphgen.data.charsets import get_charset
    from glyphgen.data.fonts import render_font

    fs = face_set(name)
    faces = fs.faces(split)
    wanted = list(chars) if chars is not None else get_charset(fs.charset)
    content_spec, *specs = resolve((fs.content, *faces))
    content = render_font(content_spec, wanted, size, placement=fs.placement, margin=margin, progress=progress)
    classes = content.chars  # every character the content face draws, held-out ones included
    label_of = {c: i for i, c in enumerate(classes)}
    held = set(fs.heldout_chars)
    targets = [c for c in classes if c not in held] if split == "train" else classes
    parts, labels, styles, per_face = [], [], [], {}
    for k, (face, spec) in enumerate(zip(faces, specs, strict=True)):
        r = render_font(spec, targets, size, placement=fs.placement, margin=margin, progress=progress)
        parts.append(r.images)
        labels += [label_of[c] for c in r.chars]
        styles += [k] * len(r.chars)
        per_face[face.id] = {"kind": face.kind, "rendered": len(r.chars), "missing": len(r.missing) + len(r.empty)}
    info = {
        "face_set": name,
        "split": split,
        "split_version": SPLIT_VERSION,
        "content_face": fs.content.id,
        "heldout_chars": fs.heldout_chars,
        "faces": per_face,
    }
    return GlyphSet(
        np.concatenate(parts)[:, None],
        np.array(labels, dtype=np.int64),
        classes,
        np.array(styles, dtype=np.int64),
        [f.id for f in faces],
        info,
        content=content.images[:, None],
    )
