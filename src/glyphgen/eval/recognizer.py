"""The glyph recogniser: its training data, its training (through the one trainer), held-out accuracy, the shipped
weights.

Classes are KanjiVG's CJK characters (6,422) followed by Latin letters and digits (62). Training glyphs: KanjiVG
renders (clean + `kanjivg_copies` stroke-jittered copies), every `train_fonts` face for the CJK set, the
`latin_fonts` faces (centred and em-placed) for the Latin set, and most of scikit-learn's handwritten digits; each
batch is warped (random affine) and its strokes thickened or thinned. The held-out sets are glyphs the network never
sees: KanjiVG with stroke jitter drawn from another seed, whole fonts (`heldout_fonts`), and the last digits.

The recogniser is the `recognizer` family (`glyphgen.methods.recognizer`), so `train()` is `glyphgen.train.fit` on
these glyphs: the run folder `out` holds config.yaml (these options and the classes, for `--resume`), metrics.jsonl,
checkpoints/ and model/, the export (`checkpoint.export`: fp16 safetensors + config.json with the held-out accuracy,
and the card from `cards.py`). `load()` reads an export or a run folder through `checkpoint.load`: no pickles.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from glyphgen.config import DataConfig, TrainConfig, dump_yaml, from_dict, load_yaml
from glyphgen.data.glyphset import GlyphSet
from glyphgen.errors import GlyphgenError
from glyphgen.eval.config import LATIN, RecognizerConfig
from glyphgen.export_format import CONFIG, WEIGHTS
from glyphgen.methods.recognizer import Classifier, ClassifierConfig
from glyphgen.models.recognizer import Recognizer

RUN_CONFIG = "config.yaml"  # in a training run's folder: the recogniser's options and classes
NAME = "glyphgen glyph recogniser"  # its card's title


def shipped_dir() -> Path:
    """The recogniser shipped inside the package (`glyphgen/weights/recognizer`)."""
    return Path(str(resources.files("glyphgen") / "weights" / "recognizer"))


# ------------------------------------------------------------------------------------------------------------ data


def cjk_classes() -> list[str]:
    """KanjiVG's CJK Unified Ideographs, in code-point order."""
    from glyphgen.data.fonts import cjk_count
    from glyphgen.data.strokes import kanjivg_chars

    return [c for c in kanjivg_chars() if cjk_count([ord(c)])]


def all_classes() -> list[str]:
    return cjk_classes() + LATIN


@dataclass
class Split:
    images: np.ndarray  # (N, 1, H, W) uint8, ink high
    labels: np.ndarray  # (N,) int64 into the recogniser's classes
    parts: dict[str, slice]  # named sub-sets (for per-set accuracy)


def _relabel(glyphs: GlyphSet, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    known = np.array([c in index for c in glyphs.classes])
    keep = known[glyphs.labels]
    labels = np.array([index.get(c, -1) for c in glyphs.classes])[glyphs.labels[keep]]
    return glyphs.images[keep], labels


def _concat(parts: list[tuple[str, np.ndarray, np.ndarray]]) -> Split:
    names, start = {}, 0
    for name, images, _ in parts:
        names[name] = slice(start, start + len(images))
        start += len(images)
    return Split(np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]), names)


def build_data(cfg: RecognizerConfig, classes: list[str], progress: bool = True) -> tuple[Split, Split]:
    """(train, held-out) glyphs for `classes`, rendered through the dataset cache."""
    from glyphgen.data.dataset import load

    index = {c: i for i, c in enumerate(classes)}
    cjk = "".join(c for c in classes if c not in LATIN)
    latin = "=" + "".join(c for c in classes if c in LATIN)
    size = cfg.render_size
    train, held = [], []

    def add(into, name, data: DataConfig, keep=None):
        glyphs = load(data, progress=progress)
        if keep is not None:
            glyphs = glyphs.subset(keep(glyphs))
        images, labels = _relabel(glyphs, index)
        if len(images):
            into.append((name, images, labels))

    if cjk:
        add(train, "kanjivg", DataConfig(source="kanjivg", charset=cjk, size=size, augment_copies=cfg.kanjivg_copies))
        add(
            held,
            "kanjivg-jitter-unseen-seed",
            DataConfig(source="kanjivg", charset=cjk, size=size, augment_copies=1, seed=cfg.heldout_seed),
            keep=lambda g: g.styles == 1,  # the jittered copy only; the clean render is in training
        )
        for font in cfg.train_fonts:
            add(train, f"font:{font}", DataConfig(source="font", charset=cjk, size=size, fonts=[font]))
    if len(latin) > 1:
        for font in cfg.latin_fonts:
            for placement in ("center", "em"):
                data = DataConfig(source="font", charset=latin, size=size, fonts=[font], placement=placement)
                add(train, f"latin:{font}:{placement}", data)
        digits = load(DataConfig(source="digits", size=size))
        cut = len(digits) - cfg.digits_heldout
        images, labels = _relabel(digits.subset(slice(0, cut)), index)
        train.append(("digits", images, labels))
        images, labels = _relabel(digits.subset(slice(cut, None)), index)
        held.append(("digits-heldout", images, labels))
    for font in cfg.heldout_fonts:
        if cjk:
            add(held, f"font-unseen:{font}", DataConfig(source="font", charset=cjk, size=size, fonts=[font]))
        if len(latin) > 1:
            add(held, f"latin-unseen:{font}", DataConfig(source="font", charset=latin, size=size, fonts=[font]))
    if not train:
        raise GlyphgenError("the recogniser's training data is empty; check the fonts and classes")
    return _concat(train), _concat(held)


# ------------------------------------------------------------------------------------------------------ load


def load(folder: str | Path | None = None) -> tuple[Recognizer, dict]:
    """The recogniser in `folder` (an export, or a training run's folder; default: the shipped one), in eval mode, in
    fp32 on the CPU, with its config.json."""
    from glyphgen import checkpoint

    folder = Path(folder) if folder else shipped_dir()
    if not (folder / CONFIG).is_file() and (folder / "model" / CONFIG).is_file():
        folder = folder / "model"  # a run folder of `glyphgen eval train-recognizer`
    if not (folder / CONFIG).is_file() or not (folder / WEIGHTS).is_file():
        hint = "train one with: glyphgen eval train-recognizer" if folder == shipped_dir() else "pass its folder"
        raise GlyphgenError(f"no recogniser in {folder} (needs {WEIGHTS} and {CONFIG}); {hint}")
    method, meta = checkpoint.load(folder, expect_family=Classifier.family)
    # Evaluation feeds it CPU tensors in the default layout, as the recogniser has always been read (so its features,
    # and every FGD measured with them, stay the same numbers).
    return method.net.to("cpu", memory_format=torch.contiguous_format).eval(), meta


def heldout_top1(meta: dict) -> float | None:
    """A recogniser's overall held-out top-1 accuracy, from its config.json (None when it was never measured)."""
    return ((meta.get("metrics") or {}).get("heldout_top1") or {}).get("all")


# ------------------------------------------------------------------------------------------------------- accuracy


@torch.no_grad()
def predict(model: Recognizer, images, batch_size: int = 512) -> torch.Tensor:
    """(N, 1, H, W) uint8 or float in [0, 1] -> (N,) predicted class indices."""
    out = []
    for k in range(0, len(images), batch_size):
        x = torch.as_tensor(images[k : k + batch_size])
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        out.append(model(x).argmax(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def accuracy(model: Recognizer, split: Split, limit: int = 0, seed: int = 0) -> dict[str, dict]:
    """Top-1 accuracy per named part of `split` (on at most `limit` random glyphs per part when limit > 0)."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    result = {}
    for name, part in split.parts.items():
        idx = np.arange(part.start, part.stop)
        if limit and len(idx) > limit:
            idx = np.sort(rng.choice(idx, limit, replace=False))
        pred = predict(model, split.images[idx]).numpy()
        result[name] = {"top1": float((pred == split.labels[idx]).mean()), "n": len(idx)}
    model.train(was_training)
    return result


def _summary(acc: dict[str, dict]) -> dict[str, float]:
    def mean(keys):
        n = sum(acc[k]["n"] for k in keys)
        return sum(acc[k]["top1"] * acc[k]["n"] for k in keys) / n if n else float("nan")

    cjk = [k for k in acc if not k.startswith(("latin", "digits"))]
    latin = [k for k in acc if k.startswith(("latin", "digits"))]
    return {"all": mean(list(acc)), "cjk": mean(cjk), "latin_digits": mean(latin)}


# ------------------------------------------------------------------------------------------------------- training


def classifier_config(cfg: RecognizerConfig) -> ClassifierConfig:
    """The network and loss options of the recogniser's family."""
    names = ("lr", "weight_decay", "size", "widths", "embed", "label_smoothing", "morph")
    return ClassifierConfig(**{k: getattr(cfg, k) for k in names})


def train_config(cfg: RecognizerConfig) -> TrainConfig:
    """The trainer's options: the recogniser's batches, seed and checkpoints; its affine warp; AdamW's rate warmed up
    over the first 15% of the steps, then a cosine decay (the shape of a one-cycle schedule); no weight averaging."""
    return TrainConfig(
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        checkpoint_every=cfg.checkpoint_every,
        seed=cfg.seed,
        threads=cfg.threads,
        ema_decay=0.0,  # the export is the trained weights themselves (the averaging weight is 1)
        sample_every=0,
        lr_warmup=max(1, round(0.15 * cfg.steps)),
        lr_schedule="cosine",
        augment_rotate=cfg.rotate,
        augment_translate=cfg.translate,
        augment_scale=cfg.scale,
        augment_shear=cfg.shear,
    )


def data_sources(cfg: RecognizerConfig, classes: list[str]) -> DataConfig:
    """The sources `build_data` draws the training glyphs from, as a mix: what the card names and licenses."""
    parts: list[dict] = []
    if any(c not in LATIN for c in classes):
        parts += [{"source": "kanjivg", "augment_copies": cfg.kanjivg_copies}]
        parts += [{"source": "font", "fonts": list(cfg.train_fonts)}] if cfg.train_fonts else []
    if any(c in LATIN for c in classes):
        parts += [{"source": "font", "charset": "latin", "fonts": list(cfg.latin_fonts)}] if cfg.latin_fonts else []
        parts += [{"source": "digits"}]
    return DataConfig(source="mix", size=cfg.render_size, parts=parts)


def _saved_run(out: Path, cfg: RecognizerConfig) -> tuple[RecognizerConfig, list[str]]:
    """The options and classes a run in `out` was started with; --steps and --threads are taken from `cfg`."""
    saved = load_yaml(out / RUN_CONFIG)
    if not isinstance(saved.get("recognizer"), dict) or not isinstance(saved.get("classes"), list):
        raise GlyphgenError(f"{out / RUN_CONFIG} is not a recogniser run's config; start a new run without --resume")
    resumed = from_dict(RecognizerConfig, {**saved["recognizer"], "steps": cfg.steps, "threads": cfg.threads})
    return resumed, [str(c) for c in saved["classes"]]


def train(cfg: RecognizerConfig, out: str | Path, resume: bool = False, progress: bool = True, classes=None) -> dict:
    """Train the recogniser into the run folder `out` and export it (weights, config.json and card in out/model);
    returns its held-out accuracy, or {"stopped_by": signal, "step": n} when Ctrl-C or SIGTERM stopped it (after a
    checkpoint: `resume=True` continues).

    `classes` defaults to every KanjiVG CJK character plus Latin letters and digits; tests pass a few."""
    from glyphgen import cards
    from glyphgen.atomic import write_text
    from glyphgen.checkpoint import export
    from glyphgen.train import fit, resume_checkpoint

    out = Path(out)
    checkpoints = out / "checkpoints"
    if resume:
        if not any((checkpoints / n).is_file() for n in ("last.ckpt", "previous.ckpt")):
            raise GlyphgenError(f"no checkpoint in {checkpoints} to resume; drop --resume to start a new training run")
        cfg, classes = _saved_run(out, cfg)
    elif (checkpoints / "last.ckpt").is_file():
        raise GlyphgenError(f"{out} already holds a recogniser training run; continue it with --resume or pick --out")
    classes = list(classes or all_classes())
    t_data = time.perf_counter()
    train_set, held = build_data(cfg, classes, progress=progress)
    t_data = time.perf_counter() - t_data
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / RUN_CONFIG, dump_yaml({"recognizer": asdict(cfg), "classes": classes}))

    glyphs = GlyphSet(train_set.images, train_set.labels, classes)
    train_cfg = train_config(cfg)
    torch.manual_seed(cfg.seed)
    method = Classifier(classifier_config(cfg), glyphs.images.shape[1:], len(classes))
    meta = {"data": asdict(data_sources(cfg, classes)), "train": asdict(train_cfg), "recognizer": asdict(cfg)}

    def scores(m: Classifier) -> dict[str, float]:  # held-out accuracy on up to 2,000 glyphs per set
        s = _summary(accuracy(m.net, held, limit=2000))
        return {"heldout_top1": s["all"], "heldout_top1_cjk": s["cjk"], "heldout_top1_latin": s["latin_digits"]}

    module = fit(
        method,
        glyphs,
        train_cfg,
        out,
        resume=resume_checkpoint(checkpoints) if resume else None,
        use_labels=True,
        meta=meta,
        evaluate=scores,
        evaluate_every=cfg.eval_every,
    )
    if module.stopped_by:
        return {"stopped_by": module.stopped_by, "step": int(module.step)}

    # What ships is fp16 (half the file); the accuracy is measured on those very weights, read back as load() does.
    final = copy.deepcopy(module.ema.module).to(torch.float16).eval()
    acc = accuracy(copy.deepcopy(final).float().net, held)
    seconds = round(float(module.train_seconds), 1)
    result = {
        "metrics": {"heldout_top1": _summary(acc), **acc},
        "train_seconds": seconds,
        "data_seconds": round(t_data, 1),
        "train_images": len(train_set.images),
        "heldout_images": len(held.images),
        "torch_threads": torch.get_num_threads(),
    }
    schedule = "AdamW, warm-up over 15% of the steps then cosine decay, through glyphgen's trainer"
    extra = {**meta, "step": int(module.step), "run": out.name, **result, "weights_dtype": "float16"}
    extra["about"] = about(cfg, classes, result, schedule)
    export(final, out / "model", classes, extra=extra)
    cards.write(out / "model", name=NAME)
    return result


def about(cfg: RecognizerConfig, classes: list[str], result: dict, schedule: str) -> str:
    """What the card says of a trained recogniser beyond its export's facts: its use, held-out sets, training."""
    s = result["metrics"]["heldout_top1"]
    parts = {k: v for k, v in result["metrics"].items() if k != "heldout_top1"}
    rows = "\n".join(f"| {name} | {v['n']:,d} | {v['top1']:.3f} |" for name, v in parts.items())
    n_cjk = sum(c not in LATIN for c in classes)
    return f"""A small CNN (`glyphgen.models.recognizer.Recognizer`: stages {cfg.widths}, {cfg.embed}-d embedding,
{cfg.size}x{cfg.size} input) that names a glyph among {len(classes):,d} characters: {n_cjk:,d} KanjiVG CJK
characters and {len(classes) - n_cjk} Latin letters and digits. glyphgen's evaluation uses its {cfg.embed}-d
embedding as the feature space of FGD, KID, precision/recall and novelty, and its top-1 guess to judge conditional
models. Weights are fp16 safetensors.

## Held-out top-1 accuracy: {s["all"]:.3f} (CJK {s["cjk"]:.3f}, Latin/digits {s["latin_digits"]:.3f})

Measured on {result["heldout_images"]:,d} renders the network never saw: KanjiVG glyphs with stroke jitter drawn from
an unseen seed ({cfg.heldout_seed}; training used seed 0), the whole held-out font(s) {", ".join(cfg.heldout_fonts)}
(CJK and Latin), and the last {cfg.digits_heldout} scikit-learn handwritten digits.

| held-out set | glyphs | top-1 |
|---|---|---|
{rows}

## Training

{result["train_images"]:,d} training glyphs rendered at {cfg.render_size} px: KanjiVG (clean + {cfg.kanjivg_copies}
jittered copies), fonts {", ".join(cfg.train_fonts)} for CJK; {", ".join(cfg.latin_fonts)} (centred and em-placed)
for Latin; scikit-learn digits. Each batch gets a random affine warp (rotate {cfg.rotate}°, shift {cfg.translate},
zoom {cfg.scale}, shear {cfg.shear}°) and {cfg.morph:.0%} of glyphs thicker or thinner strokes. {schedule}; peak lr
{cfg.lr}, batch {cfg.batch_size}, {cfg.steps:,d} steps, label smoothing {cfg.label_smoothing}:
{result["train_seconds"] / 60:.1f} minutes on {result["torch_threads"]} CPU thread(s), plus
{result["data_seconds"]:.0f} s to render or read the glyphs (the renders are cached after the first run).

Train one: `glyphgen eval train-recognizer --out runs/recognizer` (the defaults are the shipped configuration)."""
