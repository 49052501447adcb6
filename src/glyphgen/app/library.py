"""The app's models: exported model folders found under some folders, their model cards, and a cache of loaded ones.

A model folder is any folder holding `config.json` (format version, family) beside `model.safetensors`, as
`glyphgen export` and every run's `model/` write them. Its name is its path below the folder it was found in, with
a trailing `/model` dropped, so a run folder `runs/quick-cvae/model` is listed as `quick-cvae`. The card shown beside
a model is its `README.md` when it has one; otherwise one is written from config.json (data, training steps) and
the evaluation metrics kept with it (`glyphgen eval`'s report, or a `metrics` entry of config.json).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from glyphgen import cards, zoo
from glyphgen.checkpoint import CONFIG, WEIGHTS, load, read_config
from glyphgen.errors import GlyphgenError
from glyphgen.methods import FAMILIES, generates

log = logging.getLogger("glyphgen.app")
SKIP = {"checkpoints", "samples", "diffusers", ".git", "__pycache__"}  # never hold a model export of their own
MAX_DEPTH = 4  # how far below a models folder to look


@dataclass
class ModelEntry:
    """One exported model: where it is, its config.json and its card (markdown)."""

    name: str
    path: Path
    meta: dict = field(repr=False)
    card: str = field(repr=False, default="")

    @property
    def family(self) -> str:
        return self.meta["family"]

    @property
    def classes(self) -> list[str]:
        return list(self.meta.get("classes") or [])

    @property
    def conditional(self) -> bool:
        return bool(self.meta.get("num_classes"))

    @functools.cached_property
    def capabilities(self):
        """What the model can do (`glyphgen.methods.base.Capabilities`), from its config.json alone."""
        from glyphgen.generate import capabilities

        return capabilities(self.meta)

    @functools.cached_property
    def options(self):
        """Its sampling defaults (the family's `SampleOptions`: its config's, then its export's own section)."""
        from glyphgen.methods import get_family
        from glyphgen.methods.base import sample_options

        cls = get_family(self.family)
        defaults = cls.options_for(self._config)
        return sample_options(cls.options_class, self.meta.get("sampling") or {}, defaults)

    @functools.cached_property
    def option_limits(self) -> dict[str, int]:
        """Upper bounds its config puts on integer sampling options (a DDPM's steps: its timesteps)."""
        from glyphgen.methods import get_family

        return get_family(self.family).option_limits(self._config)

    @functools.cached_property
    def _config(self):
        from glyphgen.config import from_dict
        from glyphgen.methods import get_family

        return from_dict(get_family(self.family).config_class, self.meta["config"])

    @property
    def label(self) -> str:
        what = f"{self.family}, {len(self.classes)} characters" if self.conditional else self.family
        return f"{self.name} ({what})"


def default_folders() -> list[Path]:
    """The shipped weights and, when the app starts in a project folder, its `runs/`."""
    return [p for p in (zoo.WEIGHTS_DIR, Path("runs")) if p.is_dir()]


def find_models(folders) -> list[ModelEntry]:
    """Every model folder under `folders` (sorted by name; the first of two with one name wins).

    A folder whose config.json is broken (not JSON, wrong types, options its family cannot build) is skipped with a
    one-line warning naming it, so one bad export never stops the app from serving the others; a config.json of
    something else (no "family": a diffusers pipeline, a tokenizer) or of a model that draws nothing (the evaluation
    recogniser) is skipped silently.
    """
    found: dict[str, ModelEntry] = {}
    for root in map(Path, folders):
        if not root.is_dir():
            raise GlyphgenError(f"models folder {root} does not exist; pass --models with a folder of exported models")
        for path in sorted(_model_dirs(root, 0)):
            rel = path.relative_to(root)
            parts = rel.parts[:-1] if rel.parts and rel.parts[-1] == "model" else rel.parts
            name = "/".join(parts) or root.resolve().name
            if name in found or _foreign(path / CONFIG):
                continue
            try:
                entry = _entry(name, path)
            except Exception as e:  # noqa: BLE001 — any fault of one export: reported, the others still served
                log.warning("skipping model %s: %s", path, _one_line(e))
                continue
            found[name] = entry
    return [found[k] for k in sorted(found)]


def _foreign(config: Path) -> bool:
    """Whether config.json is some other tool's (a JSON object without a glyphgen "family") or a model that draws no
    glyphs (the recogniser), not a broken export."""
    try:
        meta = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False  # unreadable: a broken export until shown otherwise (read_config says what is wrong)
    return isinstance(meta, dict) and ("family" not in meta or not generates(meta["family"]))


def _entry(name: str, path: Path) -> ModelEntry:
    """The entry of one export, with everything the UI reads of it at start (capabilities, sampling options and their
    bounds, card) worked out now: a wrong type deep in its config fails here, not while the page is being built."""
    meta = read_config(path)
    if meta.get("family") not in FAMILIES:
        raise GlyphgenError(f"{path / CONFIG} names model family {meta.get('family')!r}; known: {', '.join(FAMILIES)}")
    entry = ModelEntry(name, path, meta, card(path, meta, name))
    entry.capabilities, entry.options, entry.option_limits  # noqa: B018 — computed (and cached) to check them
    list(entry.meta["image_shape"]), entry.classes, entry.conditional  # noqa: B018 — read by Handlers.models()
    return entry


def _one_line(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if isinstance(e, GlyphgenError) else f"{type(e).__name__}: {text}"


def _model_dirs(folder: Path, depth: int):
    if (folder / CONFIG).is_file() and (folder / WEIGHTS).is_file():
        yield folder
    if depth >= MAX_DEPTH:
        return
    for child in folder.iterdir():
        if child.is_dir() and child.name not in SKIP and not child.name.startswith("."):
            yield from _model_dirs(child, depth + 1)


def card(path: Path, meta: dict, name: str) -> str:
    """The model card: README.md if present, else the card `glyphgen export` would write (cards.render); shown
    without its Hugging Face metadata block (YAML front matter), which is for the hub, not for readers."""
    readme = path / "README.md"
    if readme.is_file():
        return _without_front_matter(readme.read_text(encoding="utf-8", errors="replace"))
    try:
        return _without_front_matter(cards.render(path, name))
    except (KeyError, TypeError, ValueError, OSError):  # a config.json too old or odd for a full card
        return f"### {name}\n\n**{meta.get('family')}** model; its config.json holds too little for a card"


def _without_front_matter(text: str) -> str:
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end >= 0:
            return text[end + 5 :].lstrip("\n")
    return text


class Library:
    """The models the app serves, by name, with the last few loaded kept in memory."""

    def __init__(self, folders, keep: int = 4):
        self.folders = [Path(f) for f in folders]
        self.entries = {e.name: e for e in find_models(self.folders)}
        self.keep = keep
        self._loaded: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def names(self, can: str | None = None, conditional: bool | None = None) -> list[str]:
        """Model names, optionally only those that can do something (a `Capabilities` field such as "trajectory" or
        "writes_in_style") and/or only (un)conditional ones."""
        return [
            e.name
            for e in self.entries.values()
            if (can is None or getattr(e.capabilities, can)) and (conditional is None or e.conditional == conditional)
        ]

    def entry(self, name: str) -> ModelEntry:
        if not name:
            raise GlyphgenError("pick a model first")
        if name not in self.entries:
            known = ", ".join(self.entries) or "none (start the app with --models DIR)"
            raise GlyphgenError(f"unknown model {name!r}; the app serves: {known}")
        return self.entries[name]

    def load(self, name: str):
        """(method, entry): the model rebuilt from its folder, from memory after the first time."""
        entry = self.entry(name)
        with self._lock:  # one load at a time; concurrent requests for one model share it
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name], entry
            method, _ = load(entry.path)
            self._loaded[name] = method
            while len(self._loaded) > self.keep:
                self._loaded.popitem(last=False)
        return method, entry
