"""Training runs: resolve the configuration (defaults < YAML file < command line), make the run folder, train.

A resolved run configuration has four parts, the same in YAML files, on the command line and in `config.yaml`
inside each run folder:

    model: ddpm                     # the family
    data:  {source: kanjivg, size: 64, ...}           DataConfig
    train: {steps: 2000, batch_size: 32, ...}         TrainConfig
    ddpm:  {prediction: v, min_snr_gamma: 5.0, ...}   the family's own config (key = family name)
"""

from __future__ import annotations

import dataclasses
import datetime
import typing
from dataclasses import asdict, dataclass
from pathlib import Path

from glyphgen.config import FALSE_WORDS, TRUE_WORDS, DataConfig, TrainConfig, dump_yaml, from_dict, is_union, load_yaml
from glyphgen.errors import GlyphgenError
from glyphgen.methods import FAMILIES, get_family


@dataclass
class RunConfig:
    model: str
    data: DataConfig
    train: TrainConfig
    method: object  # the family's config dataclass

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "data": asdict(self.data),
            "train": asdict(self.train),
            self.model: asdict(self.method),
        }


def resolve(
    model: str | None,
    yaml_path: str | None,
    data: dict,
    train: dict,
    method_args: list[str],
    base: dict | None = None,
) -> RunConfig:
    """Merge defaults, the YAML file (or `base`, the same sections as a dict) and command-line values (only those
    the user typed) into a RunConfig."""
    base = load_yaml(yaml_path) if yaml_path else (base or {})
    model = model or base.get("model")
    if not model:
        raise GlyphgenError(
            "no model family given; pass --model (one of " + ", ".join(FAMILIES) + ") or set model: in --config"
        )
    cls = get_family(model)
    extra = set(base) - {"model", "data", "train", model}
    if extra:
        raise GlyphgenError(
            f"unknown section(s) {', '.join(sorted(extra))} in {yaml_path}; allowed: model, data, train, {model}"
        )
    for section in ("data", "train", model):
        if base.get(section) is not None and not isinstance(base[section], dict):
            raise GlyphgenError(f"section {section}: in {yaml_path} must be a mapping of option: value")
    data_cfg = from_dict(DataConfig, {**(base.get("data") or {}), **data})
    train_cfg = from_dict(TrainConfig, {**(base.get("train") or {}), **train})
    if train_cfg.conditional and cls.conditioning == "never":
        raise GlyphgenError(f"{model} models are unconditional and would ignore the labels; drop --conditional")
    # A family option named like a training option (the dream's channels_last) is reached on the command line by
    # the training option, which the trainer's parser takes first: the typed value goes to both.
    shared = {f.name for f in dataclasses.fields(cls.config_class)} & {f.name for f in dataclasses.fields(TrainConfig)}
    typed = {k: v for k, v in train.items() if k in shared}
    method_cfg = from_dict(
        cls.config_class,
        {**(base.get(model) or {}), **typed, **parse_method_args(cls.config_class, model, method_args)},
    )
    return RunConfig(model, data_cfg, train_cfg, method_cfg)


def _unknown_option(name: str, family: str, fields: list[str]) -> str:
    """The message for an option no config of `glyphgen train` has: the nearest real option (training, data or
    the family's), else the family's own options."""
    import difflib

    from glyphgen.config import DataConfig, TrainConfig

    flag = lambda f: "--" + f.replace("_", "-")  # noqa: E731
    known = ", ".join(flag(f) for f in fields)
    key = name.replace("-", "_")
    owners = [f for f in FAMILIES if key in {x.name for x in dataclasses.fields(get_family(f).config_class)}]
    if owners:  # a real option, of other families
        return (
            f"option --{name} does not apply to the {family} family (it is an option of {', '.join(owners)}); "
            f"its options are: {known}"
        )
    every = {flag(f.name) for c in (TrainConfig, DataConfig) for f in dataclasses.fields(c)} | {"--data-seed"}
    every |= {flag(f) for f in fields}
    close = difflib.get_close_matches("--" + name, sorted(every), n=1, cutoff=0.6)
    if close:
        return f"no such option: --{name}; did you mean {close[0]}?"
    return f"option --{name} does not apply to the {family} family; its options are: {known}"


def parse_method_args(config_class, family: str, args: list[str]) -> dict:
    """`["--prediction", "v", "--min-snr-gamma", "5"]` -> {"prediction": "v", "min_snr_gamma": 5.0}, typed by the
    family's config dataclass; an option of another family is an error naming the family's own options."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    hints = typing.get_type_hints(config_class)
    values: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise GlyphgenError(f"unexpected argument {arg!r}; model options look like --name value")
        name, _, value = arg[2:].partition("=")
        key = name.replace("-", "_")
        negated = key.startswith("no_") and key[3:] in fields and hints[key[3:]] is bool
        if key not in fields and not negated:
            raise GlyphgenError(_unknown_option(name, family, list(fields)))
        if negated:
            values[key[3:]] = False
            i += 1
            continue
        if hints[key] is bool and not value:  # --flag, --flag false, --no-flag
            following = args[i + 1].lower() if i + 1 < len(args) else ""
            if following in TRUE_WORDS + FALSE_WORDS:
                values[key] = following in TRUE_WORDS
                i += 2
            else:
                values[key] = True
                i += 1
            continue
        if not value:
            if i + 1 >= len(args):
                raise GlyphgenError(f"option --{name} needs a value")
            value = args[i + 1]
            i += 1
        values[key] = _convert(value, hints[key], name)
        i += 1
    return values


def _convert(value: str, hint, name: str):
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if value.lower() in TRUE_WORDS + FALSE_WORDS:
                return value.lower() in TRUE_WORDS
            raise ValueError(value)
        if hint in (int, float, str):
            return hint(value)
        if origin in (tuple, list):
            (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis} or {str}
            return origin(item(v) for v in value.replace(",", " ").split())
        if is_union(hint):
            for arg in typing.get_args(hint):
                if arg is type(None):
                    if value.lower() in ("none", "null", ""):
                        return None
                    continue
                try:
                    return _convert(value, arg, name)
                except GlyphgenError:
                    continue
            raise ValueError(value)
    except ValueError:
        raise GlyphgenError(f"option --{name}: cannot read {value!r} as {getattr(hint, '__name__', hint)}") from None
    return value  # Literal and other string-like values; the dataclass checks choices


def family_help() -> str:
    """Every family's options with defaults and docs, for `glyphgen train -h`."""
    from glyphgen.config import field_docs

    lines = []
    for family in FAMILIES:
        cls = get_family(family).config_class
        docs = field_docs(cls)
        lines.append(f"{family} options:")
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            lines.append(f"  --{f.name.replace('_', '-'):22s} {default!s:>12s}  {docs.get(f.name, '')}")
    return "\n".join(lines)


def distill_config(
    teacher: str, out: Path | None, student_steps: int, teacher_steps: int, guidance, lr, train: dict
) -> RunConfig:
    """The run that distils `teacher` (a shipped name, export or run folder) into a `student_steps` student: the
    teacher's own data, the distill family's options, training options the user typed over short-run defaults."""
    from glyphgen.checkpoint import read_config
    from glyphgen.generate import resolve_model

    meta = read_config(resolve_model(teacher))
    # checked here too (Distill checks on building), so that a wrong teacher makes no run folder
    if meta["family"] != "ddpm":
        raise GlyphgenError(f"{teacher} is a {meta['family']} model; distillation takes DDPM teachers")
    if (meta.get("config") or {}).get("prediction") != "v":
        raise GlyphgenError(f"{teacher} does not predict v; a few-step student needs a v-predicting teacher")
    if not isinstance(meta.get("data"), dict):
        raise GlyphgenError(f"{teacher} records no training data; distil a model glyphgen trained")
    name = Path(teacher).name.removesuffix("-model") if Path(teacher).name != "model" else Path(teacher).parent.name
    out = Path(out) if out else Path("runs") / f"{name}-{student_steps}step"
    options = {"teacher": str(teacher), "student_steps": student_steps}
    given = {"teacher_steps": teacher_steps, "guidance": guidance, "lr": lr}
    options.update({k: v for k, v in given.items() if v is not None})
    defaults = {"steps": 2000, "checkpoint_every": 100, "sample_every": 500}
    base = {
        "model": "distill",
        "data": meta["data"],
        "train": {**defaults, "conditional": bool(meta.get("num_classes")), "out": str(out.parent), "name": out.name},
        "distill": options,
    }
    return resolve(None, None, {}, train, [], base=base)


def make_run_dir(cfg: RunConfig) -> Path:
    name = cfg.train.name or f"{cfg.model}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    run_dir = Path(cfg.train.out) / name
    if (run_dir / "checkpoints" / "last.ckpt").exists():
        raise GlyphgenError(
            f"run folder {run_dir} already holds a run; continue it with --resume {run_dir} or pick another --name"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _steps_done(run_dir: Path) -> int | None:
    """The step of a run's latest export (written with every checkpoint), or None when it has none yet."""
    import json

    try:
        return int(json.loads((run_dir / "model" / "config.json").read_text(encoding="utf-8"))["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_resume(resume: str, out: str) -> Path:
    """`--resume latest` (newest run under `out`) or a run folder -> that run's folder."""
    if resume == "latest":
        runs = sorted(Path(out).glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        if not runs:
            raise GlyphgenError(f"no run with a checkpoint under {out}/ to resume")
        return runs[-1].parent.parent
    run_dir = Path(resume)
    if not any((run_dir / "checkpoints" / n).is_file() for n in ("last.ckpt", "previous.ckpt")):
        raise GlyphgenError(f"{run_dir} holds no checkpoints/last.ckpt to resume from")
    return run_dir


def train(cfg: RunConfig, run_dir: Path, resume: bool = False):
    """Load the data, build the family's method and train it; returns the Lightning module."""
    import torch

    from glyphgen.data.dataset import load
    from glyphgen.train import fit, resume_checkpoint

    if resume:
        done = _steps_done(run_dir)
        if done is not None and cfg.train.steps <= done:
            raise GlyphgenError(
                f"{run_dir} has trained {done:,d} steps already and {cfg.train.steps:,d} are asked for; "
                f"pass --steps above {done} to train on"
            )
    from glyphgen.atomic import write_text

    write_text(run_dir / "config.yaml", dump_yaml(cfg.to_dict()))
    glyphs = load(cfg.data, progress=True)
    cls = get_family(cfg.model)
    wants_labels = cls.conditioning == "always" or cfg.train.conditional
    num_classes = len(glyphs.classes) if wants_labels else 0
    torch.manual_seed(cfg.train.seed)
    method = cls(cfg.method, glyphs.shape, num_classes)
    meta = {"data": asdict(cfg.data), "train": asdict(cfg.train)}
    return fit(
        method,
        glyphs,
        cfg.train,
        run_dir,
        resume=resume_checkpoint(run_dir / "checkpoints") if resume else None,
        use_labels=wants_labels,
        meta=meta,
    )
