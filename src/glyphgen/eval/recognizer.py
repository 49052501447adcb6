"""The glyph recogniser: its training data, training loop, held-out accuracy, and the shipped weights.

Classes are KanjiVG's CJK characters (6,422) followed by Latin letters and digits (62). Training glyphs: KanjiVG
renders (clean + `kanjivg_copies` stroke-jittered copies), every `train_fonts` face for the CJK set, the
`latin_fonts` faces (centred and em-placed) for the Latin set, and most of scikit-learn's handwritten digits; each
batch is warped (random affine) and its strokes thickened or thinned. The held-out sets are glyphs the network never
sees: KanjiVG with stroke jitter drawn from another seed, whole fonts (`heldout_fonts`), and the last digits.

Weights are saved as fp16 safetensors beside a config.json (classes, architecture, held-out accuracy) and a README
card; `load()` never unpickles. `train()` checkpoints every `checkpoint_every` steps and resumes from the checkpoint.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from glyphgen.config import DataConfig, from_dict
from glyphgen.data.augment import AugmentConfig, augment
from glyphgen.data.glyphset import GlyphSet
from glyphgen.errors import GlyphgenError
from glyphgen.eval.config import LATIN, RecognizerConfig
from glyphgen.models.recognizer import Recognizer

FORMAT_VERSION = 1
WEIGHTS, CONFIG, CARD, CHECKPOINT = "model.safetensors", "config.json", "README.md", "last.pt"


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


def morph(x: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Thicken (3x3 dilation) or thin (3x3 erosion) the strokes of a random `fraction` of the glyphs, half each:
    pens, fonts and generated glyphs differ most in stroke weight."""
    if fraction <= 0:
        return x
    u = torch.rand(x.shape[0], 1, 1, 1, generator=generator)
    thick = F.max_pool2d(x, 3, 1, 1)
    thin = -F.max_pool2d(-x, 3, 1, 1)
    return torch.where(u < fraction / 2, thick, torch.where(u < fraction, thin, x))


# ------------------------------------------------------------------------------------------------ save and load


def build_network(meta: dict) -> Recognizer:
    c = meta["config"]
    return Recognizer(len(meta["classes"]), c["size"], tuple(c["widths"]), c["embed"])


def save(model: Recognizer, folder: Path, cfg: RecognizerConfig, classes: list[str], extra: dict) -> Path:
    """fp16 safetensors + config.json (written to temporary names, then renamed)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(folder / (WEIGHTS + ".tmp")), metadata={"format_version": str(FORMAT_VERSION)})
    os.replace(folder / (WEIGHTS + ".tmp"), folder / WEIGHTS)
    meta = {"format_version": FORMAT_VERSION, "kind": "glyphgen-recognizer", "config": asdict(cfg), "classes": classes}
    meta.update(extra)
    (folder / (CONFIG + ".tmp")).write_text(json.dumps(meta, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(folder / (CONFIG + ".tmp"), folder / CONFIG)
    return folder


def load(folder: str | Path | None = None) -> tuple[Recognizer, dict]:
    """The recogniser in `folder` (default: the shipped one), in eval mode and fp32, with its config.json."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder) if folder else shipped_dir()
    path = folder / CONFIG
    if not path.is_file() or not (folder / WEIGHTS).is_file():
        hint = "train one with: glyphgen eval train-recognizer" if folder == shipped_dir() else "pass its folder"
        raise GlyphgenError(f"no recogniser in {folder} (needs {WEIGHTS} and {CONFIG}); {hint}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GlyphgenError(f"{path} is not valid JSON; re-train or re-copy the recogniser") from e
    if meta.get("kind") != "glyphgen-recognizer" or meta.get("format_version") != FORMAT_VERSION:
        raise GlyphgenError(f"{folder} does not hold a glyphgen recogniser of format {FORMAT_VERSION}")
    model = build_network(meta)
    try:
        state = load_file(str(folder / WEIGHTS))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except (SafetensorError, OSError, RuntimeError) as e:
        raise GlyphgenError(f"{folder / WEIGHTS} is corrupt or does not fit its config ({str(e)[:120]})") from e
    return model.eval(), meta


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


def train(cfg: RecognizerConfig, out: str | Path, resume: bool = False, progress: bool = True, classes=None) -> dict:
    """Train the recogniser into `out` (weights, config.json, card, checkpoint); returns the held-out accuracy.

    `classes` defaults to every KanjiVG CJK character plus Latin letters and digits; tests pass a few."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if resume:
        if not ckpt_path.is_file():
            raise GlyphgenError(f"no checkpoint {ckpt_path} to resume; drop --resume to start a new training run")
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        saved = from_dict(RecognizerConfig, json.loads(ckpt["config"]))
        cfg = RecognizerConfig(**{**asdict(saved), "steps": cfg.steps, "threads": cfg.threads})
        classes = json.loads(ckpt["classes"])
    elif ckpt_path.is_file():
        raise GlyphgenError(f"{out} already holds a recogniser training run; continue it with --resume or pick --out")
    classes = list(classes or all_classes())
    t_data = time.perf_counter()
    train_set, held = build_data(cfg, classes, progress=progress)
    t_data = time.perf_counter() - t_data

    torch.manual_seed(cfg.seed)
    model = Recognizer(len(classes), cfg.size, tuple(cfg.widths), cfg.embed).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    step, seconds = 0, 0.0
    if resume:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        gen.set_state(ckpt["gen"])
        step, seconds = int(ckpt["step"]), float(ckpt["seconds"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.15)
    if resume and saved.steps == cfg.steps:
        sched.load_state_dict(ckpt["sched"])
    elif resume:  # a new step count stretches the one-cycle schedule; pick it up where this step falls on it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "scheduler stepped before the optimizer"
            for _ in range(min(step, cfg.steps - 1)):
                sched.step()
    aug = AugmentConfig(rotate=cfg.rotate, translate=cfg.translate, scale=cfg.scale, shear=cfg.shear)
    images = torch.from_numpy(train_set.images)
    labels = torch.from_numpy(train_set.labels)

    def checkpoint():
        state = {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "gen": gen.get_state(),
            "step": step,
            "seconds": seconds,
            "config": json.dumps(asdict(cfg)),
            "classes": json.dumps(classes, ensure_ascii=False),
        }
        torch.save(state, out / (CHECKPOINT + ".tmp"))
        os.replace(out / (CHECKPOINT + ".tmp"), ckpt_path)

    model.train()
    bar = tqdm(total=cfg.steps, initial=step, desc="recogniser", unit="step", disable=not progress)
    t0 = time.perf_counter() - seconds
    while step < cfg.steps:
        idx = torch.randint(len(images), (cfg.batch_size,), generator=gen)
        x = images[idx].float().div_(255.0)
        x = morph(augment(x, aug, generator=gen), cfg.morph, gen).contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x), labels[idx], label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        seconds = time.perf_counter() - t0
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            acc = _summary(accuracy(model, held, limit=2000))
            bar.write(
                f"step {step}: held-out top-1 {acc['all']:.3f} (cjk {acc['cjk']:.3f}, latin {acc['latin_digits']:.3f})"
            )
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            checkpoint()
    bar.close()

    acc = accuracy(model, held)
    result = {
        "heldout": acc,
        "heldout_top1": _summary(acc),
        "train_seconds": round(seconds, 1),
        "data_seconds": round(t_data, 1),
        "train_images": len(images),
        "heldout_images": len(held.images),
        "parameters": sum(p.numel() for p in model.parameters()),
        "torch_threads": torch.get_num_threads(),
    }
    save(model.to(memory_format=torch.contiguous_format), out, cfg, classes, result)
    (out / CARD).write_text(card(cfg, classes, result), encoding="utf-8")
    return result


def card(cfg: RecognizerConfig, classes: list[str], result: dict) -> str:
    """The README card of a trained recogniser."""
    s = result["heldout_top1"]
    rows = "\n".join(f"| {name} | {v['n']:,d} | {v['top1']:.3f} |" for name, v in result["heldout"].items())
    n_cjk = sum(c not in LATIN for c in classes)
    return f"""# glyphgen glyph recogniser

A small CNN (`glyphgen.models.recognizer.Recognizer`: stages {cfg.widths}, {cfg.embed}-d embedding,
{result["parameters"]:,d} parameters, {cfg.size}x{cfg.size} input) that names a glyph among {len(classes):,d}
characters: {n_cjk:,d} KanjiVG CJK characters and {len(classes) - n_cjk} Latin letters and digits. glyphgen's
evaluation uses its {cfg.embed}-d embedding as the feature space of FGD, KID, precision/recall and novelty, and its
top-1 guess to judge conditional models. Weights are fp16 safetensors; `config.json` holds the classes and the
training configuration.

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
zoom {cfg.scale}, shear {cfg.shear}°) and {cfg.morph:.0%} of glyphs thicker or thinner strokes. AdamW (lr {cfg.lr},
one-cycle), batch {cfg.batch_size}, {cfg.steps:,d} steps, label smoothing {cfg.label_smoothing}:
{result["train_seconds"] / 60:.1f} minutes on {result["torch_threads"]} CPU thread(s) of a 2-core machine shared with
other jobs (so less on an idle one), plus {result["data_seconds"]:.0f} s to render or read the glyphs (the renders are
cached after the first run).

Reproduce: `glyphgen eval train-recognizer --out runs/recognizer` (the defaults are the shipped configuration).

Data licences: KanjiVG © Ulrich Apel, CC BY-SA 3.0; the fonts' own licences (Noto CJK and DejaVu: OFL/free; IPA:
IPA Font License; WenQuanYi: GPL with font exception); scikit-learn digits (UCI, CC BY 4.0).
"""
