"""What the web app and its HTTP API do, as plain Python: generate, write text, write in a drawn style, watch a dream,
build a font.

Each action takes a model name (from the `Library`) and plain values, checks them against the app's `Limits`, runs
the model and returns pictures (PIL images to show, PNG/GIF/zip files to download) and notes for the user. Nothing
here imports Gradio: the UI (`glyphgen.app.ui`) only lays these functions out and turns `GlyphgenError` into a
message. Image k of a request uses seed + k, as everywhere in glyphgen.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import math
import os
import re
import shutil
import tempfile
import time
import uuid
import weakref
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from glyphgen.app.library import Library
from glyphgen.errors import GlyphgenError
from glyphgen.images import grid, to_pil, to_uint8
from glyphgen.layout import COLUMNS, Page  # noqa: F401 — COLUMNS re-exported
from glyphgen.layout import known as _known
from glyphgen.layout import listing as _listing
from glyphgen.sketch import frame_all

MAX_SEED = 2**31 - 1
CALIBRATION_BATCH = 8  # images in the one-step run that measures a model's cost (see Handlers.estimate)
TRACE_S = 0.25  # seconds to trace, build and check one font glyph: measured on kanji-ddpm-cond's 32 px kanji (the most
# intricate shipped glyphs; hand-cvae's digits take 13 ms) on a 2-core CPU
KEEP_BYTES = 512 * 2**20  # request folders kept at most, oldest removed first (beside the age limit)


@dataclass(frozen=True)
class Limits:
    """Per-request caps, so one request cannot hold the (shared, CPU-only) server for minutes."""

    images: int = 64  # images per request (characters written, glyphs generated)
    steps: int = 250  # diffusion sampling steps
    cycles: int = 40  # dream cycles (each 2 * kT_steps network passes)
    text: int = 200  # characters typed, spaces and line breaks included
    frames: int = 48  # frames of a dream animation
    drawings: int = 5  # canvases read for a style
    uploads: int = 16  # glyph images uploaded for a style (beside the canvases)
    guidance: float = 20.0  # classifier-free guidance scale
    randomness: float = 3.0  # style randomness (multiples of the style's standard deviation)
    font_glyphs: int = 200  # glyphs in one font (each drawn, traced to outlines and checked)
    upload: str = "2mb"  # largest file a client may upload (Gradio's max_file_size)
    uploads_total: str = "10mb"  # all files of one upload request together, and all the uploads one action reads
    body: str = "1mb"  # any other request body (the JSON of an API call; files go through the upload route)
    budget_s: float = 30.0  # estimated seconds of this server's CPU one request may take (see Handlers.estimate)

    def bytes(self, field_name: str) -> int:
        """A size field ("2mb", "10mb", "1mb") in bytes, read as Gradio reads max_file_size (1 kb = 1024 b)."""
        return parse_size(getattr(self, field_name))


_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


def parse_size(size: str | int) -> int:
    """Bytes of a size such as "2mb" or 1024 (plain numbers are bytes)."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?b)\s*", str(size).lower())
    if not match:
        raise GlyphgenError(f"size {size!r} is not a size such as 2mb, 500kb or 1gb")
    return int(float(match[1]) * _UNITS[match[2]])


@dataclass
class Pictures:
    """What an action returns: a picture to show (and its PNG), files to download and notes (warnings) for the user.

    Pictures go out as files written once, never rewritten: two requests with the same answer must not overwrite a
    file another client is still downloading.
    """

    image: Image.Image
    shown: Path  # `image` as a PNG file
    files: list[Path]
    notes: list[str] = field(default_factory=list)
    animation: Path | None = None  # dream: the GIF
    framed: Path | None = None  # style: the drawings as the model sees them (PNG)
    recognised: list[dict[str, float] | None] = field(default_factory=list)  # style: top guesses per canvas

    @property
    def message(self) -> str:
        return " ".join(self.notes)


@dataclass
class FontFile:
    """What the font action returns: the .otf file, an HTML preview of its glyphs and notes for the user.

    `notes` says what was built (glyphs, size, how well the outlines match the drawings) and what went wrong;
    `warnings` are the notes about something that went wrong (characters left out, glyphs drawn empty, ...).
    """

    path: Path
    preview: str  # HTML: an @font-face rule embedding the font, the characters set in it and in a fallback font
    face: str  # the preview's CSS family name, unique per request (the browser caches fonts by family)
    chars: list[str]  # the characters in the font, in the order asked for
    report: dict  # `glyphgen.font.FontReport.as_dict()`
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        return " ".join(self.notes)


class Handlers:
    """The app's actions over one `Library` of models; outputs go to folders under `out` (old ones pruned)."""

    def __init__(self, library: Library, limits: Limits | None = None, out: str | Path | None = None):
        self.library = library
        self.limits = limits or Limits()
        if out:
            self.out = Path(out)
        else:  # its own folder, named after this process: removed at exit, or by the next app if this one is killed
            _remove_stale_folders(Path(tempfile.gettempdir()))
            self.out = Path(tempfile.mkdtemp(prefix=f"{OUT_PREFIX}{os.getpid()}-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, self.out, ignore_errors=True)
        self.keep_seconds = 3600.0
        self.keep_bytes = KEEP_BYTES
        self._recognizer = None  # the shipped recogniser, loaded on first use (reads drawings for style models)
        self._step_costs: dict[tuple, float] = {}  # (model, guidance kind) -> seconds of one step of a batch

    def close(self) -> None:
        """Remove the folder of request outputs (when the app made it); the app calls this when it stops."""
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()

    # ---- models ----------------------------------------------------------------------------------------------

    def models(self) -> list[dict]:
        """Every model the app serves: name, family, image shape, characters (conditional models)."""
        return [
            {
                "name": e.name,
                "family": e.family,
                "image_shape": list(e.meta["image_shape"]),
                "conditional": e.conditional,
                "characters": "".join(e.classes) if all(len(c) == 1 for c in e.classes) else e.classes,
                "step": e.meta.get("step"),
            }
            for e in self.library.entries.values()
        ]

    def card(self, model: str) -> str:
        """The model card (markdown) of one model."""
        return self.library.entry(model).card

    def font_models(self) -> list[str]:
        """The models a font can be built with: conditional ones whose classes are single characters."""
        return [n for n in self.library.names(conditional=True) if _single_chars(self.library.entries[n].classes)]

    def controls(self, model: str) -> dict:
        """Which sampling options apply to a model and their defaults, for the UI to show or hide them: read from
        the family's sampling options (its `SampleOptions` with the model's defaults), never from its name."""
        none = {"sampler": None, "samplers": [], "steps": None, "steps_label": "", "steps_max": 1, "guidance": None}
        if not model:
            return none
        entry = self.library.entry(model)
        options = dataclasses.asdict(entry.options)
        controls = dict(none)
        if "sampler" in options:
            controls.update(sampler=options["sampler"], samplers=list(entry.capabilities.samplers))
        if "steps" in options:
            steps_max = min(self.limits.steps, entry.option_limits.get("steps", self.limits.steps))
            controls.update(steps_label="sampling steps", steps_max=steps_max)
            controls["steps"] = min(options["steps"], steps_max)
        elif "num_cycles" in options:
            controls.update(steps_label="dream cycles", steps_max=self.limits.cycles)
            controls["steps"] = min(options["num_cycles"], self.limits.cycles)
        if "guidance" in options and entry.capabilities.takes_labels:
            controls["guidance"] = options["guidance"]
        return controls

    # ---- actions ---------------------------------------------------------------------------------------------

    def generate(self, model: str, n: int = 16, seed: int = 0, sampler=None, steps=None, guidance=None) -> Pictures:
        """n images from any model; conditional models cycle through their characters."""
        n = _int(n, "number of images")
        if not 1 <= n <= self.limits.images:
            raise GlyphgenError(f"{n} images asked for; this app makes 1 to {self.limits.images} per request")
        method, entry = self.library.load(model)
        labels = torch.arange(n) % entry.meta["num_classes"] if entry.conditional else None
        images = self._sample(method, entry, _seeds(seed, n), labels, sampler, steps, guidance)
        picture = _grid(images)
        folder = self._folder()
        names = [f"{k:03d}.png" for k in range(n)]
        shown = _save(picture, folder / "grid.png")
        return Pictures(picture, shown, [shown, _zip(images, names, folder / "glyphs.zip")])

    def write(self, model: str, text: str, seed: int = 0, sampler=None, steps=None, guidance=None) -> Pictures:
        """Typed text rendered by a conditional model, one image per character; unknown characters are reported."""
        entry = self.library.entry(model)
        if not entry.conditional:
            raise GlyphgenError(
                f"{model} is an unconditional {entry.family} model and cannot choose characters; "
                "pick a conditional one (cvae, or ddpm/gan trained with --conditional)"
            )
        page = self._page(text, entry.classes)
        method, _ = self.library.load(model)
        labels = torch.tensor([label for _, label in page.glyphs])
        images = self._sample(method, entry, _seeds(seed, len(labels)), labels, sampler, steps, guidance)
        return self._page_pictures(page, images, entry.meta["image_shape"])

    def read_style(
        self, model: str, drawings, uploads=None
    ) -> tuple[np.ndarray, list[int], list[dict[str, float] | None]]:
        """Frame the drawings (and uploaded glyph images, after them) and recognise them: (glyphs (S, C, H, W),
        their indices among drawings + uploads, top-3 per drawing or upload)."""
        from glyphgen.sketch import read_picture

        method, entry = self._load_able(model, "writes_in_style", "write in your style", "a style or cvae")
        drawings = list(drawings or [])
        if len(drawings) > self.limits.drawings:
            raise GlyphgenError(f"{len(drawings)} drawings sent; this app reads at most {self.limits.drawings}")
        uploads = [u for u in (uploads or []) if u]
        if len(uploads) > self.limits.uploads:
            raise GlyphgenError(f"{len(uploads)} images uploaded; this app reads at most {self.limits.uploads}")
        total, cap = sum(Path(u).stat().st_size for u in uploads), self.limits.bytes("uploads_total")
        if total > cap:  # each file passed the upload's own cap; several uploads may still add up
            raise GlyphgenError(
                f"the uploaded images come to {total / 2**20:.1f} MB; this app reads at most {cap / 2**20:g} MB of "
                "them a request"
            )
        drawings += [read_picture(u) for u in uploads]
        glyphs, used = frame_all(drawings, tuple(entry.meta["image_shape"]), entry.meta.get("data"))
        probs = self._read_glyphs(method, entry, glyphs)
        recognised: list[dict[str, float] | None] = [None] * len(drawings)
        for k, p in zip(used, probs, strict=True):
            top = p.topk(min(3, len(p)))
            recognised[k] = {entry.classes[i]: round(float(v), 4) for v, i in zip(top.values, top.indices, strict=True)}
        return glyphs, used, recognised

    def _read_glyphs(self, method, entry, glyphs: np.ndarray) -> torch.Tensor:
        """(S, num_classes) probabilities of the model's characters for framed glyphs: the model's own reading
        where it has one (cvae), else the shipped recogniser's over the characters both know."""
        probs = method.class_probs(torch.from_numpy(glyphs))
        if probs is not None:
            return probs
        from glyphgen.eval.features import load_features
        from glyphgen.eval.metrics import class_map

        if self._recognizer is None:
            self._recognizer = load_features()
        features, meta = self._recognizer
        columns = class_map(entry.classes, meta["classes"])  # model class -> recogniser class (-1: unknown)
        logits = features.logits(torch.from_numpy(glyphs))
        known = torch.from_numpy(columns >= 0)
        out = torch.full((len(glyphs), len(entry.classes)), float("-inf"))
        out[:, known] = logits[:, torch.from_numpy(columns[columns >= 0])]
        return out.softmax(dim=1)

    def write_in_style(
        self,
        model: str,
        drawings,
        text: str = "",
        randomness: float = 0.0,
        average: bool = True,
        seed: int = 0,
        steps=None,
        guidance=None,
        uploads=None,
    ) -> Pictures:
        """Encode the style of the drawn (and uploaded) characters and render `text` (empty: the whole character
        set) in it. randomness: the style variance of a latent model (cvae); steps, guidance: a diffusion model's
        sampling."""
        randomness = _float(randomness, "randomness")
        if not 0 <= randomness <= self.limits.randomness:
            raise GlyphgenError(f"randomness {randomness} is out of range; use 0 to {self.limits.randomness}")
        method, entry = self._load_able(model, "writes_in_style", "write in your style", "a style or cvae")
        names = {f.name for f in dataclasses.fields(entry.options)}
        options = {"temperature": randomness} if "temperature" in names else self._options(entry, None, steps, guidance)
        notes = []
        if not (text or "").strip():
            chars = entry.classes[: self.limits.images]
            if len(chars) < len(entry.classes):
                notes.append(f"showing the first {len(chars)} of the model's {len(entry.classes)} characters.")
            text = "".join(chars)
        page = self._page(text, entry.classes)
        labels = torch.tensor([label for _, label in page.glyphs])
        self._afford(model, len(labels), options)  # before the drawings are read: a refused request does nothing
        glyphs, _, recognised = self.read_style(model, drawings, uploads)
        images = method.write(
            torch.from_numpy(glyphs), labels, _seeds(seed, len(labels)), average=bool(average), **options
        )
        pictures = self._page_pictures(page, images, entry.meta["image_shape"])
        pictures.notes = notes + pictures.notes
        pictures.framed = _save(_grid(torch.from_numpy(glyphs), nrow=len(glyphs)), pictures.shown.parent / "framed.png")
        pictures.recognised = recognised
        return pictures

    def dream(
        self, model: str, seed: int = 0, steps=None, frames: int = 16, sampler=None, guidance=None, char=""
    ) -> Pictures:
        """One glyph emerging from noise: an animated GIF of the sampling trajectory and a strip of `frames` frames.

        Dream models show their dreaming passes (steps = dream cycles); ddpm models their denoising steps
        (steps = sampling steps), for `char` when the model is conditional (its first character if empty).
        """
        frames = _int(frames, "frames")
        if not 2 <= frames <= self.limits.frames:
            raise GlyphgenError(f"{frames} frames asked for; use 2 to {self.limits.frames}")
        method, entry = self._load_able(model, "trajectory", "watch a dream", "a dream or diffusion")
        labels = None
        if entry.conditional:
            char = (char or "").strip() or entry.classes[0]
            if len(char) != 1:
                raise GlyphgenError(f"give one character to dream, not {len(char)}")
            labels = self._page(char, entry.classes).labels()
        options = self._options(entry, sampler, steps, guidance)
        self._afford(model, 1, options)
        with torch.no_grad():
            _, trajectory = method.sample(_seeds(seed, 1), labels, return_trajectory=True, **options)
        trajectory = trajectory[:, 0]  # (T, C, H, W) in [0, 1], noise first
        picks = torch.linspace(0, len(trajectory) - 1, min(frames, len(trajectory))).round().long()
        film = trajectory[picks]
        folder = self._folder()
        gif = folder / "dream.gif"
        scale = max(1, math.ceil(128 / film.shape[-1]))  # GIF frames at least 128 px
        pictures = [grid(f[None], pad=0, scale=scale) for f in film]
        durations = [80] * (len(pictures) - 1) + [1500]  # hold the finished glyph
        pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=durations, loop=0)
        strip = _grid(film, nrow=len(film))
        png = _save(strip, folder / "strip.png")
        what = f"{len(trajectory)} steps, {len(film)} shown."
        return Pictures(strip, png, [gif, png], [what], animation=gif)

    def font(self, model: str, text: str = "", family: str = "", seed: int = 0, steps=None, guidance=None) -> FontFile:
        """A font (.otf) of the typed characters (empty: the model's characters, up to the app's cap) drawn by a
        conditional model, traced, built and checked by `glyphgen.font.make_font`; with an HTML preview.

        Each character is drawn once, all from the one seed (so the font keeps one style); spaces are ignored,
        characters the model does not know are left out and named, and letters of a one-case model are drawn in the
        other case.
        An empty family name means "glyphgen <model>". The sampler is the model's default.
        """
        from glyphgen.font import make_font
        from glyphgen.fontbuild import MAX_FAMILY_NAME, check_family_name

        entry = self.library.entry(model)
        if not entry.conditional:
            raise GlyphgenError(
                f"{model} is an unconditional {entry.family} model and cannot draw asked-for characters, which a font "
                "needs; pick a conditional one (cvae, or ddpm/gan trained with --conditional)"
            )
        if not _single_chars(entry.classes):
            raise GlyphgenError(f"{model}'s classes are not single characters, so they cannot be a font's characters")
        family = (family or "").strip() or f"glyphgen {entry.name}"[:MAX_FAMILY_NAME].strip()
        try:
            family = check_family_name(family)
        except GlyphgenError as e:
            raise GlyphgenError(str(e).replace("--name", "the family name")) from None
        chars, warnings = self._font_chars(text, entry.classes)
        first = _seeds(seed, len(chars))[0]
        options = self._options(entry, None, steps, guidance)
        traced = f", each traced ({TRACE_S:g} s a glyph)"
        self._afford(model, len(chars), options, extra_s=len(chars) * TRACE_S, extra=traced)
        path = self._folder() / f"{_filename(family)}.otf"
        # "=" makes the characters literal ("latin" would be a named set, "@x" a file on the server)
        loaded = self.library.load(model)[0], entry.meta
        report = make_font(
            entry.path, path, family, chars="=" + "".join(chars), seed=first, loaded=loaded, **options
        ).as_dict()
        check = report["check"]
        summary = f"{report['glyphs']} glyphs, {report['bytes'] / 1024:.1f} KB"
        if check.get("iou_mean") is not None:
            summary += (
                f"; outlines against the drawings: IoU {check['iou_mean']:.3f} on average, lowest "
                f"{check['iou_min']:.3f} ({check['iou_min_char']})"
            )
        if report["empty"]:
            warnings.append(f"drawn empty (blank in the font): {_listing(report['empty'])}.")
        if report["low_iou"]:
            low = [c for c, _ in report["low_iou"]]
            warnings.append(f"outlines far from their drawings (IoU under 0.75): {_listing(low)}.")
        face = f"glyphgen-{uuid.uuid4().hex[:12]}"
        preview = font_preview(path, face, family, chars)
        return FontFile(path, preview, face, chars, report, [summary + "."] + warnings, warnings)

    def _font_chars(self, text, classes: list[str]) -> tuple[list[str], list[str]]:
        """The characters a font of `text` holds (each once, in order; empty text: the model's, up to the cap), and
        notes on the ones left out or drawn in the other case."""
        cap = self.limits.font_glyphs
        text = "" if text is None else str(text)
        if not text.strip():
            chars = list(dict.fromkeys(classes))
            if len(chars) <= cap:
                return chars, []
            note = f"the font holds the first {cap:,d} of the model's {len(chars):,d} characters (this app's cap)."
            return chars[:cap], [note]
        typed = [c for c in dict.fromkeys(text) if not c.isspace()]
        if len(typed) > cap:
            raise GlyphgenError(f"{len(typed):,d} different characters typed; a font here holds at most {cap:,d}")
        if len(text) > self.limits.text:
            raise GlyphgenError(f"the text has {len(text)} characters; this app takes at most {self.limits.text}")
        known = set(classes)
        chars, unknown, folded = [], [], []
        for c in typed:
            if c in known:
                chars.append(c)
            elif len(c.swapcase()) == 1 and c.swapcase() in known:  # a letters model of one case
                chars.append(c.swapcase())
                folded.append(c)
            else:
                unknown.append(c)
        chars = list(dict.fromkeys(chars))
        if not chars:
            if unknown:
                raise GlyphgenError(f"the model knows none of {_listing(unknown)}; it knows {_known(classes)}")
            raise GlyphgenError("type some characters for the font")
        notes = []
        if unknown:
            notes.append(f"not in this model (left out of the font): {_listing(unknown)}; it knows {_known(classes)}.")
        if folded:
            other = "".join(c.swapcase() for c in folded)
            notes.append(f"the model draws one case: the font holds {other} instead of {''.join(folded)}.")
        return chars, notes

    # ---- work budget -----------------------------------------------------------------------------------------

    def estimate(self, model: str, n: int, options: dict) -> float:
        """Seconds of this server's CPU that sampling n images of `model` with `options` takes, worked out before
        any of the request's own work.

        The cost of one sampling step of a batch of CALIBRATION_BATCH images is measured once per model (and kind of
        guidance: at 0 or 1 one network pass a step, guided two) on first use, after an untimed warm-up, then
        estimate = steps (diffusion steps, dream cycles; 1 for one-pass families) x that cost x max(1, n / batch):
        a smaller batch is taken to cost no less than the measured one, a larger one to grow in proportion.
        Batching only makes images cheaper, so this errs high (measured: 1.5-3x for a ddpm on 2 cores).
        """
        method, entry = self.library.load(model)
        steps = options.get("steps") or options.get("num_cycles") or 1
        return steps * self._step_cost(method, entry, options) * max(1.0, n / CALIBRATION_BATCH)

    def _afford(self, model: str, n: int, options: dict, extra_s: float = 0.0, extra: str = "") -> None:
        """Refuse (a message, nothing run) a request estimated to take more than the app's budget."""
        seconds = self.estimate(model, n, options) + extra_s
        if seconds > self.limits.budget_s:
            steps = options.get("steps") or options.get("num_cycles")
            what = f"{n} image{'s' * (n != 1)}" + (f" x {steps} {_step_word(options)}" if steps else "") + extra
            raise GlyphgenError(
                f"this request ({what}) would take about {seconds:.0f} s of this server's CPU; it allows "
                f"{self.limits.budget_s:g} s a request: ask for fewer images or steps"
            )

    def _step_cost(self, method, entry, options: dict) -> float:
        guidance = options.get("guidance")
        kind = guidance if guidance in (None, 0, 1) or not entry.conditional else "guided"
        key = (entry.name, kind)
        if key not in self._step_costs:
            one = dict(options)
            for name in ("steps", "num_cycles"):
                if name in one:
                    one[name] = 1
            labels = (lambda k: torch.zeros(k, dtype=torch.long)) if entry.conditional else (lambda k: None)
            with torch.no_grad():
                method.sample([0], labels(1), **one)  # untimed: a first call pays for lazy set-up
                start = time.perf_counter()
                method.sample(list(range(CALIBRATION_BATCH)), labels(CALIBRATION_BATCH), **one)
            self._step_costs[key] = time.perf_counter() - start
        return self._step_costs[key]

    # ---- helpers ---------------------------------------------------------------------------------------------

    def _load_able(self, model: str, capability: str, action: str, kind: str):
        """The model, loaded, if it can do `capability` (a `Capabilities` field); otherwise a message."""
        entry = self.library.entry(model)
        if not getattr(entry.capabilities, capability):
            raise GlyphgenError(f"{model} is a {entry.family} model; to {action} pick {kind} model")
        return self.library.load(model)

    def _options(self, entry, sampler, steps, guidance) -> dict:
        """The sampling options that apply to this model (others ignored), checked against the app's limits.

        None (or an empty value; 0 for steps) means the model's default. The family checks the values again."""
        controls = self.controls(entry.name)
        names = {f.name for f in dataclasses.fields(entry.options)}
        options = {}
        if "sampler" in names:
            sampler = sampler or controls["sampler"]
            if sampler not in controls["samplers"]:
                raise GlyphgenError(f"unknown sampler {sampler!r}; choose one of {', '.join(controls['samplers'])}")
            options["sampler"] = sampler
        step_name = "steps" if "steps" in names else "num_cycles" if "num_cycles" in names else None
        if step_name:
            what = controls["steps_label"]
            value = controls["steps"] if steps in (None, "", 0) else _int(steps, what)
            if not 1 <= value <= controls["steps_max"]:
                raise GlyphgenError(f"{value} {what} asked for; use 1 to {controls['steps_max']} here")
            options[step_name] = value
        if controls["guidance"] is not None and guidance not in (None, ""):
            guidance = _float(guidance, "guidance")
            if not 0 <= guidance <= self.limits.guidance:
                raise GlyphgenError(f"guidance {guidance} is out of range; use 0 to {self.limits.guidance}")
            options["guidance"] = guidance
        return options

    def _sample(self, method, entry, seeds, labels, sampler, steps, guidance) -> torch.Tensor:
        options = self._options(entry, sampler, steps, guidance)
        self._afford(entry.name, len(seeds), options)
        with torch.no_grad():
            return method.sample(seeds, labels, **options)

    def _page(self, text, classes: list[str]) -> Page:
        return Page.layout(text, classes, max_text=self.limits.text, max_glyphs=self.limits.images, what="this app")

    def _page_pictures(self, page: Page, images: torch.Tensor, shape) -> Pictures:
        cells = page.cells(images, tuple(shape))
        picture = _grid(cells, nrow=page.columns)
        folder = self._folder()
        names = [f"{k:03d}_U+{ord(c):04X}.png" for k, (c, _) in enumerate(page.glyphs)]
        shown = _save(picture, folder / "text.png")
        return Pictures(picture, shown, [shown, _zip(images, names, folder / "glyphs.zip")], page.notes)

    def _folder(self) -> Path:
        """A new folder for one request's files. Older ones go once past `keep_seconds`, and the oldest first while
        all of them hold more than `keep_bytes` (Gradio has copied a request's outputs to its own cache by the time
        it answers, so this only bounds the disk a busy server uses)."""
        self.out.mkdir(parents=True, exist_ok=True)
        now = time.time()
        folders = []
        for old in self.out.iterdir():
            try:
                if not old.is_dir():
                    continue
                age = now - old.stat().st_mtime
                if age > self.keep_seconds:
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    folders.append((age, sum(f.stat().st_size for f in old.iterdir()), old))
            except FileNotFoundError:  # removed by a concurrent request
                pass
        total = sum(size for _, size, _ in folders)
        for _, size, old in sorted(folders, key=lambda f: -f[0]):  # oldest first
            if total <= self.keep_bytes:
                break
            shutil.rmtree(old, ignore_errors=True)
            total -= size
        folder = self.out / f"{int(now)}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        return folder


OUT_PREFIX = "glyphgen-app-"  # the app's output folders in the temporary directory: glyphgen-app-<pid>-<random>


def _remove_stale_folders(tmp: Path) -> None:
    """Remove output folders of apps that are no longer running (killed before they could remove their own)."""
    for folder in tmp.glob(f"{OUT_PREFIX}*"):
        pid = folder.name.removeprefix(OUT_PREFIX).split("-")[0]
        if not pid.isdigit() or _alive(int(pid)) or not _mine(folder):
            continue  # another app's (alive), an older glyphgen's (no pid in its name), another user's
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _mine(folder: Path) -> bool:
    try:
        return folder.is_dir() and folder.stat().st_uid == os.getuid()
    except OSError:
        return False


def _step_word(options: dict) -> str:
    return "steps" if "steps" in options else "dream cycles"


PREVIEW_PX = 48  # font size of the preview paragraphs


def font_preview(path: Path, face: str, family: str, chars: list[str]) -> str:
    """HTML showing a font: an @font-face rule with the font as a data URL under the CSS family `face`, the characters
    set in it (`#font-preview-sample`), and the same characters in the browser's serif font (`#font-preview-fallback`)
    to compare with."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    text = html.escape("".join(chars))
    name = html.escape(family)
    paragraph = f"font-size:{PREVIEW_PX}px;line-height:1.25;margin:0 0 12px;overflow-wrap:anywhere;word-break:break-all"
    return (
        f'<div class="glyphgen-font-preview" data-family="{face}" data-name="{name}">'
        f'<style>@font-face{{font-family:"{face}";src:url("data:font/otf;base64,{data}") format("opentype");'
        "font-display:block}</style>"
        f'<p class="glyphgen-font-caption">{name}, {len(chars)} glyph{"s" * (len(chars) != 1)}:</p>'
        f'<p id="font-preview-sample" class="glyphgen-font-sample" style="font-family:&quot;{face}&quot;,serif;'
        f'{paragraph}">{text}</p>'
        '<p class="glyphgen-font-caption">the same characters in the browser\'s serif font:</p>'
        f'<p id="font-preview-fallback" class="glyphgen-font-fallback" style="font-family:serif;{paragraph}">{text}</p>'
        "</div>"
    )


def _single_chars(classes: list[str]) -> bool:
    return bool(classes) and all(len(c) == 1 for c in classes)


def _filename(family: str) -> str:
    """A file name for a font family: letters (any script), digits, spaces, '-', '_' and '.' kept, the rest '_'."""
    name = re.sub(r"[^\w\- .]", "_", family).strip(" ._")
    return name or "font"


def _int(value, what: str) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GlyphgenError(f"{what} must be a whole number, got {value!r}") from None
    if not number.is_integer():
        raise GlyphgenError(f"{what} must be a whole number, got {value!r}")
    return int(number)


def _float(value, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GlyphgenError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise GlyphgenError(f"{what} must be a finite number, got {value!r}")
    return number


def _seeds(seed, n: int) -> list[int]:
    seed = _int(0 if seed in (None, "") else seed, "seed")
    if not 0 <= seed <= MAX_SEED - n:
        raise GlyphgenError(f"seed {seed} is out of range; use 0 to {MAX_SEED - n}")
    return [seed + k for k in range(n)]


def _grid(images, nrow: int | None = None, glyph_px: int = 64) -> Image.Image:
    """A grid of (N, C, H, W) images enlarged (nearest neighbour) so each glyph is about `glyph_px` pixels tall."""
    return grid(images, nrow=nrow, scale=max(1, round(glyph_px / images.shape[-2])))


def _save(picture: Image.Image, path: Path) -> Path:
    picture.save(path)
    return path


def _zip(images, names: list[str], path: Path) -> Path:
    """One PNG per image (dark ink on white) in a zip archive."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, image in zip(names, to_uint8(images), strict=True):
            buffer = io.BytesIO()
            to_pil(image).save(buffer, format="PNG")
            z.writestr(name, buffer.getvalue())
    return path
