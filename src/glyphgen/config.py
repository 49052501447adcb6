"""Typed configuration: dataclasses with defaults, `Literal` choices checked on construction, YAML in and out.

The same field names appear on the command line (`--stroke-width`), in YAML files (`stroke_width:`) and in the
config saved beside every dataset cache and model. An unknown key or a value outside a `Literal` is a one-line
`GlyphgenError` that lists what is allowed.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from glyphgen.errors import GlyphgenError


def check_choices(cfg) -> None:
    """Raise GlyphgenError when a `Literal`-typed field of dataclass `cfg` holds a value outside its choices.

    Call it from `__post_init__`. Handles `Literal[...]` and `Literal[...] | None`.
    """
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        allowed = _literal_values(hints.get(f.name))
        value = getattr(cfg, f.name)
        if allowed is not None and value not in allowed:
            choices = ", ".join(repr(a) for a in allowed if a is not None)
            raise GlyphgenError(f"{type(cfg).__name__}.{f.name} = {value!r} is not allowed; choose one of {choices}")


def _literal_values(hint) -> tuple | None:
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        values = []
        for arg in typing.get_args(hint):
            if arg is type(None):
                values.append(None)
            elif typing.get_origin(arg) is Literal:
                values.extend(typing.get_args(arg))
            else:
                return None
        return tuple(values) if values else None
    return None


def from_dict(cls, data: dict | None):
    """Build dataclass `cls` from a plain dict; unknown keys are an error that lists the known ones."""
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise GlyphgenError(f"unknown {cls.__name__} option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    try:
        return cls(**data)
    except TypeError as e:
        raise GlyphgenError(f"bad {cls.__name__} options: {e}") from e


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise GlyphgenError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise GlyphgenError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from e
    if data is not None and not isinstance(data, dict):
        raise GlyphgenError(f"config file {path} must hold a mapping of option: value")
    return data or {}


def dump_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


DataSource = Literal["kanjivg", "font", "digits", "mnist", "emnist", "az-csv", "cifar10", "folder"]


@dataclass
class DataConfig:
    """What glyphs to render or load. Every field is part of the cache key."""

    source: DataSource = "kanjivg"  # where glyphs come from
    charset: str = ""  # character set name (see `glyphgen data charsets`), a literal string, or @file.txt; "" = the source's own
    size: int = 64  # image side in pixels
    fonts: list[str] = field(default_factory=list)  # font files ("f.ttc#1" picks a face) or installed family names; [] = all installed CJK fonts
    placement: Literal["center", "em"] = "center"  # font glyphs: centre the ink box, or the original fixed em-box placement
    margin: float = 0.08  # blank border around centred glyphs, as a fraction of the size
    stroke_width: float = 3.0  # KanjiVG stroke width in KanjiVG units (the SVGs use 3 in a 109 box)
    variants: bool = False  # KanjiVG: also render the 4,959 variant forms (Kaisho, ...) as extra styles
    augment_copies: int = 0  # KanjiVG: extra handwriting-like renders per character (stroke jitter + width jitter)
    jitter: float = 1.5  # KanjiVG augmentation: control-point jitter in KanjiVG units
    width_jitter: float = 0.15  # KanjiVG augmentation: relative stroke-width jitter
    path: str = ""  # file sources: the file or folder to read
    limit: int = 0  # keep only the first N characters of the set (0 = all)
    seed: int = 0  # seed of the augmentation renders

    def __post_init__(self):
        check_choices(self)
        if not 8 <= self.size <= 512:
            raise GlyphgenError(f"size {self.size} is out of range; use 8 to 512 pixels")
        if not 0 <= self.margin < 0.5:
            raise GlyphgenError(f"margin {self.margin} is out of range; use 0 <= margin < 0.5")
        if self.stroke_width <= 0:
            raise GlyphgenError("stroke_width must be positive")


def field_docs(cls) -> dict[str, str]:
    """One-line docs of a config dataclass's fields, read from the `# comment` after each field in its source
    (the comment is the documentation, so it is written once and shown by `-h`)."""
    import inspect
    import re

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for m in re.finditer(r"^\s+(\w+)\s*:[^=\n]+=.*?#\s*(.+)$", source, re.M):
            docs[m.group(1)] = m.group(2).strip()
    return docs
