"""Exported models: `model.safetensors` (weights) + `config.json` (everything needed to rebuild the network).

Loading never unpickles: safetensors holds only tensors, config.json only JSON. `config.json` carries a format
version, the family, the family's config, the image shape, the classes (characters) of conditional models, and
provenance (data and training configs, step). A checkpoint of another family, another shape, or a truncated file is
a one-line `GlyphgenError`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save, save_file

from glyphgen.config import from_dict
from glyphgen.errors import GlyphgenError
from glyphgen.export_format import CONFIG, EVAL, FORMAT_VERSION, WEIGHTS  # noqa: F401 — re-exported
from glyphgen.methods import get_family
from glyphgen.methods.base import Method


def export(method: Method, folder: str | Path, classes: list[str] | None = None, extra: dict | None = None) -> Path:
    """Write `method`'s weights and config into `folder` (each file written to a temporary name, then renamed)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in method.state_dict().items()}
    config = {
        "format_version": FORMAT_VERSION,
        "family": method.family,
        "config": asdict(method.config),
        "image_shape": list(method.image_shape),
        "num_classes": method.num_classes,
        "classes": list(classes or []),
        **(extra or {}),
    }
    from glyphgen.atomic import atomic_path, write_text

    # A unique temporary name per writer (two processes exporting at once cannot mix their files), world-readable
    # like any exported file, renamed over the old one.
    with atomic_path(folder / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format_version": str(FORMAT_VERSION), "family": method.family})
    write_text(folder / CONFIG, json.dumps(config, indent=2, ensure_ascii=False))
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


def read_config(folder: str | Path) -> dict:
    folder = Path(folder)
    path = folder / CONFIG
    if not path.is_file():
        raise GlyphgenError(f"{folder} is not an exported model (no {CONFIG}); pass a run folder's model/ or an export")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GlyphgenError(
            f"{path} is not valid JSON ({e.msg if hasattr(e, 'msg') else e}); re-export the model"
        ) from e
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise GlyphgenError(f"{path} has format version {version}; this glyphgen reads version {FORMAT_VERSION}")
    return config


def load(folder: str | Path, expect_family: str | None = None) -> tuple[Method, dict]:
    """Rebuild the exported method from `folder` (weights loaded, eval mode) and return it with its config.json."""
    folder = Path(folder)
    meta = read_config(folder)
    family = meta.get("family")
    if expect_family and family != expect_family:
        raise GlyphgenError(f"{folder} holds a {family} model, not {expect_family}")
    cls = get_family(family)
    method = cls(from_dict(cls.config_class, meta["config"]), tuple(meta["image_shape"]), meta.get("num_classes", 0))
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise GlyphgenError(f"{folder} has no {WEIGHTS}; re-export the model")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise GlyphgenError(f"{weights} is corrupt or truncated ({e}); re-export the model") from e
    try:
        method.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise GlyphgenError(f"{weights} does not fit the {family} network its config describes ({first})") from e
    method.sampling_defaults = dict(meta.get("sampling") or {})
    method.sample_options()  # a "sampling" section the family cannot read fails here, naming the option
    # channels_last: ~2x faster 3x3 convolutions on CPU, and the layout the trainer's EMA weights sample in.
    from glyphgen import runtime

    return method.to(runtime.device(), memory_format=torch.channels_last).eval(), meta
