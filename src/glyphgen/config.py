"""Typed configuration: dataclasses with defaults, `Literal` choices checked on construction, YAML in and out.

The same field names appear on the command line (`--stroke-width`), in YAML files (`stroke_width:`) and in the
config saved beside every dataset cache and model. An unknown key or a value outside a `Literal` is a one-line
`GlyphgenError` that lists what is allowed.
"""

from __future__ import annotations

import dataclasses
import types
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


def is_union(hint) -> bool:
    """`X | Y` or `Optional[X]`."""
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _literal_values(hint) -> tuple | None:
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if is_union(hint):
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


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")  # how YAML and flags say a bool


def _coerce(hint, value, where: str):
    """`value` (from YAML, JSON or a command line) as the field type `hint`, or a one-line error naming `where`.

    Written by hand: YAML and JSON give strings, numbers, lists and bools that a dataclass does not check, and a
    wrong one used to pass (YAML's "no" as a true bool, a font name split into its letters) or fail deep inside."""
    if value is None or hint is typing.Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if is_union(hint):
        options = [a for a in args if a is not type(None)]
        return _coerce(options[0], value, where) if len(options) == 1 else value
    if origin is Literal:
        return value  # check_choices names the choices
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        raise GlyphgenError(f"{where} must be true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise GlyphgenError(f"{where} must be a whole number, got {value!r}")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        if isinstance(value, int):
            return value
        raise GlyphgenError(f"{where} must be a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            # YAML 1.1 (PyYAML) reads 1e-3 as the string "1e-3" (it wants 1.0e-3); a number field takes it as meant.
            try:
                return float(value)
            except ValueError:
                pass
        raise GlyphgenError(f"{where} must be a number, got {value!r}")
    if hint is str:
        if isinstance(value, str | dict):  # a mapping: a mix part, which DataConfig turns into one line of YAML
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise GlyphgenError(f"{where} must be text, got {value!r}")
    if origin in (list, tuple):
        item = args[0] if args else typing.Any
        if isinstance(value, str):  # one name is a list of one ("8,16" for a tuple of numbers)
            value = [v for v in value.split(",") if v.strip()] if origin is tuple else [value]
        if not isinstance(value, list | tuple):
            raise GlyphgenError(f"{where} must be a list, got {value!r}")
        items = [_coerce(item, v, f"{where}[{k}]") for k, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    return value


def from_dict(cls, data: dict | None):
    """Build dataclass `cls` from a plain dict, each value checked and converted to its field's type; unknown keys
    and values of the wrong kind are one-line errors (the former listing the known keys)."""
    if data is not None and not isinstance(data, dict):
        raise GlyphgenError(f"{cls.__name__} options must be a mapping of option: value, got {type(data).__name__}")
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names, key=str)
    if unknown:
        shown = ", ".join(map(str, unknown))
        raise GlyphgenError(f"unknown {cls.__name__} option(s) {shown}; known: {', '.join(sorted(names))}")
    hints = typing.get_type_hints(cls)
    for key, value in data.items():
        data[key] = _coerce(hints[key], value, f"{cls.__name__} option {key}")
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


DataSource = Literal["kanjivg", "font", "faces", "digits", "mnist", "emnist", "az-csv", "cifar10", "folder", "mix"]


@dataclass
class DataConfig:
    """What glyphs to render or load. Every field is part of the cache key."""

    source: DataSource = "kanjivg"  # where glyphs come from
    charset: str = ""  # set name (`glyphgen data charsets`), literal characters, or @file.txt; "" = the source's own
    size: int = 64  # image side in pixels
    fonts: list[str] = field(default_factory=list)  # font files ("f.ttc#1": face 1) or families; [] = CJK Regulars
    placement: Literal["center", "em"] = "center"  # fonts: centre the ink box, or the original fixed em-box placement
    margin: float = 0.08  # blank border around centred glyphs, as a fraction of the size
    stroke_width: float = 3.0  # KanjiVG stroke width in KanjiVG units (the SVGs use 3 in a 109 box)
    variants: bool = False  # KanjiVG: also render the 4,959 variant forms (Kaisho, ...) as extra styles
    augment_copies: int = 0  # KanjiVG: extra handwriting-like renders per character (stroke jitter + width jitter)
    jitter: float = 1.5  # KanjiVG augmentation: control-point jitter in KanjiVG units
    width_jitter: float = 0.15  # KanjiVG augmentation: relative stroke-width jitter
    path: str = ""  # file sources: the file or folder to read
    limit: int = 0  # keep only the first N characters of the set (0 = all)
    seed: int = 0  # seed of the augmentation renders
    parts: list[str] = field(default_factory=list)  # source mix: data options per part, one YAML mapping each
    faces: str = ""  # source faces: face set of the style split (kanji, latin); its charset unless charset is given
    split: Literal["train", "heldout"] = "train"  # source faces: training faces and characters, or held-out faces

    def __post_init__(self):
        check_choices(self)
        self.parts = [_part_text(p) for p in self.parts]
        if (self.source == "mix") != bool(self.parts):
            raise GlyphgenError("source mix needs --parts (one YAML mapping each), and only source mix takes them")
        if not 8 <= self.size <= 512:
            raise GlyphgenError(f"size {self.size} is out of range; use 8 to 512 pixels")
        if not 0 <= self.margin < 0.5:
            raise GlyphgenError(f"margin {self.margin} is out of range; use 0 <= margin < 0.5")
        if (self.source == "faces") != bool(self.faces):
            raise GlyphgenError(
                "source faces needs --faces (a face set of the style split: kanji or latin), "
                "and only source faces takes it"
            )
        if self.stroke_width <= 0:
            raise GlyphgenError("stroke_width must be positive")

    def part_configs(self) -> list[DataConfig]:
        """The parts of a mix as DataConfigs. Each part takes this config's size, and its charset and seed unless it
        sets its own; a part may not be a mix itself or ask for another size."""
        configs = []
        for text in self.parts:
            options = yaml.safe_load(text)
            if options.get("source", "kanjivg") == "mix":
                raise GlyphgenError(f"a mix part cannot be a mix itself: {text}")
            if options.get("size", self.size) != self.size:
                raise GlyphgenError(f"mix part {text} asks for size {options['size']}; parts take the mix's size")
            options = {"charset": self.charset, "seed": self.seed, **options, "size": self.size}
            configs.append(from_dict(DataConfig, options))
        return configs


def _part_text(part) -> str:
    """A mix part as one canonical line of YAML (a mapping in a YAML file, or a string typed on the command line)."""
    if isinstance(part, str):
        try:
            part = yaml.safe_load(part)
        except yaml.YAMLError as e:
            raise GlyphgenError(f"mix part {part!r} is not YAML: {str(e).splitlines()[0]}") from e
    if not isinstance(part, dict):
        raise GlyphgenError(f"a mix part must be a mapping of data options such as '{{source: digits}}', got {part!r}")
    return yaml.safe_dump(part, default_flow_style=True, allow_unicode=True, sort_keys=False).strip()


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


MAX_BATCH = 65_536  # a batch larger than this is a typo (1e8 once asked for 25.6 GB)


@dataclass
class TrainConfig:
    """How to train: steps, batches, EMA, checkpoints, logging, devices. Model options live in each family's config."""

    steps: int = 2000  # optimiser steps to train for (a resumed run continues up to this count)
    batch_size: int = 32  # images per step (per device)
    conditional: bool = False  # feed character labels to families that can use them (ddpm, gan); cvae always does
    ema_decay: float = 0.999  # decay of the exponential moving average of the weights used for sampling
    checkpoint_every: int = 500  # write checkpoints/last.ckpt and the EMA export every N steps, and on Ctrl-C/SIGTERM
    snapshot_every: int = 0  # also keep the EMA export of every N-th step under snapshots/stepNNNNNNN (0 = none)
    sample_every: int = 500  # write a sample grid every N steps (0 = only at the end)
    n_samples: int = 16  # images per sample grid
    log_every: int = 25  # append to metrics.jsonl every N steps
    loggers: str = "auto"  # also log to logs/version_N: auto (CSV, + TensorBoard if installed), csv, tensorboard, none
    seed: int = 0  # seeds weights, batches and noise; a resumed run restores the RNG state instead
    lr_warmup: int = 0  # steps of linear learning-rate warm-up from 0 (0 = none)
    lr_schedule: Literal["constant", "cosine"] = "constant"  # after warm-up: constant, or cosine decay to 0 at `steps`
    grad_clip: float = 0.0  # clip each optimiser's gradient norm to this (0 = off)
    accumulate: int = 1  # batches whose gradients are summed per optimiser step (one-optimiser families)
    augment_rotate: float = 0.0  # random rotation, max degrees
    augment_translate: float = 0.0  # random shift, max fraction of the image side
    augment_scale: float = 0.0  # random zoom, max relative change
    augment_shear: float = 0.0  # random slant (horizontal shear), max degrees
    augment_weight: float = 0.0  # random stroke weight: blend towards a 1 px bolder (or thinner) glyph by up to this
    hflip: bool = False  # mirror half the batch; off by default because a mirrored character is not a character
    channels_last: bool = True  # NHWC memory format: ~2x faster 3x3 convolutions on CPU
    threads: int = 0  # CPU threads for torch (0 = torch's default); small-channel models (dream) run fastest on 1
    devices: str = "1"  # Lightning devices: a count, "auto", or a list like "0,1"
    num_nodes: int = 1  # machines for multi-node training
    strategy: str = "auto"  # Lightning strategy: auto, ddp, ddp_spawn, ...
    accelerator: str = "auto"  # cpu, gpu, auto
    precision: str = "32-true"  # Lightning precision; bf16 is ~4x slower than fp32 on CPUs, so it is not the default
    out: str = "runs"  # parent folder of run folders
    name: str = ""  # run folder name ("" = <model>-<date>-<time>)

    def __post_init__(self):
        for name in ("steps", "batch_size", "n_samples", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise GlyphgenError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.sample_every < 0:
            raise GlyphgenError(f"sample_every must be 0 (only at the end) or more, got {self.sample_every}")
        if self.lr_warmup < 0 or self.grad_clip < 0 or self.accumulate < 1:
            raise GlyphgenError(
                f"lr_warmup {self.lr_warmup} and grad_clip {self.grad_clip} must be >= 0, accumulate "
                f"{self.accumulate} >= 1"
            )
        chosen = {part.strip() for part in self.loggers.split(",")}
        if not chosen <= {"auto", "csv", "tensorboard", "none"} or (len(chosen) > 1 and chosen & {"auto", "none"}):
            raise GlyphgenError(f"loggers {self.loggers!r}: use auto, csv, tensorboard, csv,tensorboard or none")
        if self.snapshot_every < 0:
            raise GlyphgenError(f"snapshot_every must be 0 (none) or more, got {self.snapshot_every}")
        if self.batch_size > MAX_BATCH:
            raise GlyphgenError(f"batch_size {self.batch_size} is too large; use at most {MAX_BATCH:,}")
        if self.n_samples > 1024:
            raise GlyphgenError(f"n_samples {self.n_samples} is too large; use at most 1,024")
        if not 0.0 <= self.ema_decay < 1.0:
            raise GlyphgenError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
