"""Exported models: `model.safetensors` (weights) + `config.json` (everything needed to rebuild the network).

Loading never unpickles: safetensors holds only tensors, config.json only JSON. `config.json` carries a format
version, the family, the family's config, the image shape, the classes (characters) of conditional models, and
provenance (data and training configs, step). A checkpoint of another family, another shape, or a truncated file is
a one-line `GlyphgenError`.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from glyphgen.config import from_dict
from glyphgen.errors import GlyphgenError
from glyphgen.export_format import CONFIG, EVAL, FORMAT_VERSION, WEIGHTS  # noqa: F401 — re-exported
from glyphgen.methods import FAMILIES, get_family
from glyphgen.methods.base import Method


def export(method: Method, folder: str | Path, classes: list[str] | None = None, extra: dict | None = None) -> Path:
    """Write `method`'s weights and config into `folder` (each file written to a temporary name, then renamed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    method, own = method.for_export()
    state = {k: v.detach().contiguous().cpu() for k, v in method.state_dict().items()}
    config = {
        "format_version": FORMAT_VERSION,
        "family": method.family,
        "config": asdict(method.config),
        "image_shape": list(method.image_shape),
        "num_classes": method.num_classes,
        "classes": list(classes or []),
        **(extra or {}),
        **own,
    }
    from glyphgen.atomic import atomic_path

    # A unique temporary name per writer (two processes exporting at once cannot mix their files), world-readable
    # like any exported file, renamed over the old one. Both files are written in full before either is renamed,
    # the weights first: a folder with a config.json always has the weights beside it (a kill between the renames
    # leaves new weights under the old config, of the same network).
    with atomic_path(folder / CONFIG) as cfg, atomic_path(folder / WEIGHTS) as weights:
        # bytes, then a plain write: a full disk is an OSError (one line via atomic_path), not a SafetensorError
        weights.write_bytes(save(state, metadata={"format_version": str(FORMAT_VERSION), "family": method.family}))
        cfg.write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    return folder


def eval_reports(folder: Path) -> list[Path]:
    """Where `glyphgen eval`'s report on the export in `folder` may lie, in order of preference: eval.json beside the
    weights (put there by `copy_export`), <export>/eval/metrics.json (eval's default output for an export), and
    <run>/eval/metrics.json (its default for a run folder, whose export is <run>/model)."""
    return [folder / EVAL, folder / "eval" / "metrics.json", folder.parent / "eval" / "metrics.json"]


def copy_export(
    source: str | Path, folder: str | Path, about: str | None = None, half: bool = False, sampling: dict | None = None
) -> Path:
    """Copy the export in `source` (weights, config, metrics if any) to `folder`, each file atomically.

    about: a sentence saying what the model is for, stored in config.json for its model card.
    half: store float32 tensors as float16 (half the file; `load` casts them back into the float32 network).
    sampling: new sampling defaults (the family's sampling options, e.g. {"steps": 10} for a DDPM: the fewest steps
    that `glyphgen eval` found as good as more), kept in config.json's "sampling" section beside the training
    config, as diffusers keeps a scheduler's config apart from the model's.
    """
    source, folder = Path(source), Path(folder)
    if folder.resolve() == source.resolve():
        raise GlyphgenError(f"{folder} is the model itself; pick another destination")
    meta = read_config(source)
    if about is not None:
        meta["about"] = about
    if sampling:
        from glyphgen.methods.base import sample_options

        options_class = get_family(meta["family"]).options_class
        sample_options(options_class, sampling)  # an option the family lacks is an error naming its options
        meta["sampling"] = {**(meta.get("sampling") or {}), **sampling}
    folder.mkdir(parents=True, exist_ok=True)
    if half:
        state = load_file(str(source / WEIGHTS))
        state = {k: v.half() if v.dtype == torch.float32 else v for k, v in state.items()}
        weights = save(state, metadata={"format_version": str(FORMAT_VERSION), "family": meta["family"]})
        meta["weights_dtype"] = "float16"
    else:
        weights = (source / WEIGHTS).read_bytes()
    files = {WEIGHTS: weights, CONFIG: json.dumps(meta, indent=2, ensure_ascii=False).encode()}
    for found in eval_reports(source):
        if found.is_file():
            files[EVAL] = found.read_bytes()
            break
    from glyphgen.atomic import atomic_path

    for name, data in files.items():
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(data)
    return folder


# Bounds on what a config.json may describe, checked before anything is built: a glyph model is trained on data of
# 8-512 px (DataConfig.size) in 1 (glyphs) or 3 (RGB) channels, and one class per character of the largest charset.
MAX_SIDE, MAX_CHANNELS, MAX_CLASSES = 512, 4, 1_000_000
_FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")  # what a float parameter may be stored as (half exports are F16)


def read_config(folder: str | Path) -> dict:
    """config.json of the export in `folder`, its structure checked (a mapping with a known family, its config as a
    mapping, a (C, H, W) image shape in range, the classes); anything else is a one-line error naming the file."""
    folder = Path(folder)
    path = folder / CONFIG
    if not path.is_file():
        raise GlyphgenError(f"{folder} is not an exported model (no {CONFIG}); pass a run folder's model/ or an export")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        why = e.msg if isinstance(e, json.JSONDecodeError) else type(e).__name__
        raise GlyphgenError(f"{path} is not valid JSON ({why}); re-export the model") from e
    except OSError as e:
        raise GlyphgenError(f"cannot read {path} ({e.strerror or e}); check its permissions") from e
    if not isinstance(config, dict):
        kind = type(config).__name__
        raise GlyphgenError(f"{path} holds a JSON {kind}, not an export's settings; re-export the model")
    version = config.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise GlyphgenError(
            f"{path} has format version {_shown(version)}; this glyphgen reads version {FORMAT_VERSION}"
        )
    family = config.get("family")
    if not isinstance(family, str) or family not in FAMILIES:
        raise GlyphgenError(f"{path} names model family {_shown(family)}; known families: {', '.join(FAMILIES)}")
    if not isinstance(config.get("config"), dict):
        raise GlyphgenError(f'{path} has no "config" mapping of the {family} network\'s options; re-export the model')
    shape = config.get("image_shape")
    if not (isinstance(shape, list) and len(shape) == 3 and all(_is_int(v) for v in shape)) or not (
        1 <= shape[0] <= MAX_CHANNELS and 1 <= shape[1] <= MAX_SIDE and 1 <= shape[2] <= MAX_SIDE
    ):
        raise GlyphgenError(
            f"{path} has image_shape {_shown(shape)}; it must be [channels 1-{MAX_CHANNELS}, height, width] with "
            f"sides of 1-{MAX_SIDE} px"
        )
    num_classes = config.get("num_classes", 0)
    if not _is_int(num_classes) or not 0 <= num_classes <= MAX_CLASSES:
        raise GlyphgenError(f"{path} has num_classes {_shown(num_classes)}; use a whole number 0-{MAX_CLASSES:,}")
    classes = config.get("classes", [])
    if (
        not isinstance(classes, list)
        or not all(isinstance(c, str) for c in classes)
        or (classes and len(classes) != num_classes)
    ):
        raise GlyphgenError(f'{path} has a "classes" entry that is not a list of its {num_classes} class names')
    if not isinstance(config.get("sampling") or {}, dict):
        raise GlyphgenError(f'{path} has a "sampling" entry that is not a mapping of sampling option: value')
    return config


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value) -> str:
    """A JSON value for a one-line message: repr, cut short (a hostile file can put megabytes in one field)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _weights_header(weights: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (safetensors dtype, shape) of every tensor in `weights`, read from its header alone (no tensor data):
    safetensors checks there that the tensors lie within the file, so a truncated file fails here."""
    try:
        with safe_open(str(weights), framework="pt") as f:
            return {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise GlyphgenError(f"{weights} is corrupt or truncated ({_one_line(e)}); re-export the model") from e


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


@contextlib.contextmanager
def _at_most(tensors: int, elements: int, what: str):
    """Stop a network's construction (on the meta device, so nothing is allocated) as soon as it registers more
    tensors or elements than its weights file holds, plus a little for buffers that are not saved: a config.json that
    asks for 1e9 channels or 1e5 blocks is refused at once, not after minutes of building."""
    from torch.nn.modules.module import (
        register_module_buffer_registration_hook,
        register_module_parameter_registration_hook,
    )

    counted, me = [0, 0], threading.get_ident()

    def count(module, name, tensor):
        if tensor is None or threading.get_ident() != me:  # the hooks are global; another thread's models are not ours
            return
        counted[0] += 1
        counted[1] += tensor.numel()
        if counted[0] > tensors or counted[1] > elements:
            raise GlyphgenError(f"the network it describes is larger than {what} holds; re-export the model")

    handles = [register_module_parameter_registration_hook(count), register_module_buffer_registration_hook(count)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _check_fits(expected: dict[str, torch.Tensor], header: dict, weights: Path, family: str) -> None:
    """The network's state (names, shapes, float or not) against the file's header, before any weight is read."""
    missing = [k for k in expected if k not in header]
    unexpected = [k for k in header if k not in expected]
    wrong = [
        f"{k} is {list(header[k][1])} {header[k][0]}, the network wants {list(t.shape)} {str(t.dtype)[6:]}"
        for k, t in expected.items()
        if k in header
        and (tuple(t.shape) != header[k][1] or (header[k][0] in _FLOAT_DTYPES) != t.dtype.is_floating_point)
    ]
    if not (missing or unexpected or wrong):
        return
    parts = [f"{len(missing)} tensor(s) missing, e.g. {missing[0]}" if missing else ""]
    parts.append(f"{len(unexpected)} unknown, e.g. {unexpected[0]}" if unexpected else "")
    parts.append(wrong[0] if wrong else "")
    raise GlyphgenError(
        f"{weights} does not fit the {family} network its config describes ({'; '.join(p for p in parts if p)})"
    )


def load(folder: str | Path, expect_family: str | None = None) -> tuple[Method, dict]:
    """Rebuild the exported method from `folder` (weights loaded, eval mode) and return it with its config.json.

    The network is first built on the meta device (shapes only) and compared with the weights file's header, so a
    config.json that does not match its weights, however large it claims the network is, allocates nothing."""
    folder = Path(folder)
    meta = read_config(folder)
    family = meta["family"]
    if expect_family and family != expect_family:
        raise GlyphgenError(f"{folder} holds a {family} model, not {expect_family}")
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise GlyphgenError(f"{folder} has no {WEIGHTS}; re-export the model")
    header = _weights_header(weights)
    cls = get_family(family)
    path = folder / CONFIG

    def build():
        try:
            config = from_dict(cls.config_class, meta["config"])
            return cls(config, tuple(meta["image_shape"]), meta.get("num_classes", 0))
        except GlyphgenError as e:  # the family's own checks name the option, not the file
            raise GlyphgenError(f"{path}: {e}") from e
        except (TypeError, ValueError, OverflowError, RuntimeError) as e:  # torch refusing a size (2**63 channels)
            why = _one_line(e)[:120]
            raise GlyphgenError(f"{path}: the {family} network it describes cannot be built ({why})") from e

    elements = sum(math.prod(shape) for _, shape in header.values())
    with _at_most(len(header) + 64, elements + (1 << 20), WEIGHTS), torch.device("meta"):
        _check_fits(build().state_dict(), header, weights, family)
    method = build()
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise GlyphgenError(f"{weights} is corrupt or truncated ({_one_line(e)}); re-export the model") from e
    try:
        method.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise GlyphgenError(f"{weights} does not fit the {family} network its config describes ({first[:200]})") from e
    method.sampling_defaults = dict(meta.get("sampling") or {})
    try:
        method.sample_options()  # a "sampling" section the family cannot read fails here, naming the option
    except GlyphgenError as e:
        raise GlyphgenError(f"{path}: {e}") from e
    # channels_last: ~2x faster 3x3 convolutions on CPU, and the layout the trainer's EMA weights sample in.
    from glyphgen import runtime

    return method.to(runtime.device(), memory_format=torch.channels_last).eval(), meta
