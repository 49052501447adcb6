"""The `glyphgen` command. Each command parses options, builds a config and calls one library function.

User mistakes raise `GlyphgenError`; the command group turns them into a one-line `error: ...` and exit code 2.
`--debug` (or GLYPHGEN_DEBUG=1) shows the full traceback instead.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

# Rich's option tables cut long option names short ("--checkpoint-eve…") on terminals under ~100 columns; there
# click's plain layout, which wraps the help text instead, is used (TYPER_USE_RICH=1 keeps rich). Read by typer on
# import, so set before it.
if shutil.get_terminal_size((80, 24)).columns < 100:  # (80: what rich assumes when not on a terminal)
    os.environ.setdefault("TYPER_USE_RICH", "0")

import typer  # noqa: E402
from typer.core import TyperCommand, TyperGroup

from glyphgen.cli_options import dataclass_options, runtime_options, sampling_options
from glyphgen.config import DataConfig, TrainConfig
from glyphgen.errors import GlyphgenError
from glyphgen.eval.config import RecognizerConfig


class _Group(TyperGroup):
    """Prints GlyphgenError as one line (exit 2) unless debugging."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GlyphgenError as e:
            if _debug():
                raise
            typer.echo(f"error: {e}", err=True)
            ctx.exit(2)


def _debug() -> bool:
    return os.environ.get("GLYPHGEN_DEBUG", "") not in ("", "0")


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 120}
app = typer.Typer(
    cls=_Group,
    help="glyphgen: generate images of characters (kanji, hanzi, handwritten letters and digits).",
    context_settings=CONTEXT,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(
    cls=_Group,
    help="Glyph datasets: fonts, character sets, previews, cache.",
    context_settings=CONTEXT,
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors.")):
    if debug:
        os.environ["GLYPHGEN_DEBUG"] = "1"


@data_app.command("charsets")
def data_charsets():
    """List the named character sets and their sizes."""
    from glyphgen.data.charsets import NAMED, get_charset

    for name, (_, about) in NAMED.items():
        chars = get_charset(name)
        typer.echo(f"{name:10s} {len(chars):6,d}  {''.join(chars[:8])}…  {about}")


@data_app.command("fonts")
def data_fonts(lang: str = typer.Option("zh", help="Language the fonts must cover: zh, ja, or all.")):
    """List installed CJK fonts usable as glyph sources, with their coverage of common character sets."""
    from glyphgen.data.charsets import get_charset
    from glyphgen.data.fonts import discover_fonts, font_cmap

    if lang not in ("zh", "ja", "all"):
        raise GlyphgenError(f"unknown language {lang!r}; choose zh, ja or all")
    fonts = discover_fonts(None if lang == "all" else lang)
    if not fonts:
        raise GlyphgenError(
            "no CJK font is installed; install one (e.g. apt-get install fonts-noto-cjk) or pass a font file"
        )
    sets = {name: {ord(c) for c in get_charset(name)} for name in ("gb2312-1", "joyo")}
    typer.echo(f"{'font':44s} {'CJK':>7s} {'gb2312-1':>9s} {'joyo':>6s}  file")
    for f in fonts:
        cmap = font_cmap(f.spec)
        cover = {name: len(cps & cmap) for name, cps in sets.items()}
        where = f"{f.spec.path}" + (f"#{f.spec.index}" if f.spec.index else "")
        typer.echo(f"{f.spec.name[:44]:44s} {f.cjk_count:7,d} {cover['gb2312-1']:9,d} {cover['joyo']:6,d}  {where}")


@data_app.command("preview")
@dataclass_options(DataConfig, "data", panel="Data")
def data_preview(
    data: DataConfig,
    n: int = typer.Option(64, "--n", help="Number of glyphs in the grid."),
    out: Path = typer.Option(Path("preview.png"), "--out", "-o", help="Where to write the PNG grid."),
    seed: int = typer.Option(0, "--pick-seed", help="Seed for picking which glyphs to show (-1: the first n)."),
    scale: int = typer.Option(1, min=1, max=16, help="Enlarge the grid by this integer factor (1 to 16)."),
):
    """Render a grid of glyphs from a dataset (rendered and cached on first use)."""
    import numpy as np

    from glyphgen.data.dataset import load
    from glyphgen.images import save_grid

    if n < 1 or n > 4096:
        raise GlyphgenError(f"--n {n} is out of range; use 1 to 4096")
    glyphs = load(data, progress=True)
    pick = np.arange(min(n, len(glyphs))) if seed < 0 else np.random.default_rng(seed).permutation(len(glyphs))[:n]
    path = save_grid(glyphs.images[np.sort(pick)], out, scale=scale)
    typer.echo(f"wrote {path} ({len(pick)} of {len(glyphs):,d} glyphs, {len(glyphs.classes):,d} characters)")


@data_app.command("build")
@dataclass_options(DataConfig, "data", panel="Data")
def data_build(data: DataConfig, cache: bool = typer.Option(True, help="Read and write the render cache.")):
    """Render (or read) a dataset once and cache it, with a progress bar; prints its size and cache path."""
    from glyphgen.data.dataset import load

    t0 = time.perf_counter()
    glyphs = load(data, use_cache=cache, progress=True)
    seconds = time.perf_counter() - t0
    c, h, w = glyphs.shape
    state = "cache hit" if glyphs.info["cache"]["hit"] else f"built in {seconds:.1f} s"
    typer.echo(
        f"{len(glyphs):,d} glyphs of {len(glyphs.classes):,d} characters, {c}x{h}x{w}, "
        f"{len(glyphs.style_names)} styles ({state})"
    )
    for name, counts in glyphs.info.get("fonts", {}).items():
        typer.echo(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if glyphs.info.get("not_in_kanjivg"):
        typer.echo(f"  {glyphs.info['not_in_kanjivg']:,d} requested characters have no KanjiVG strokes (skipped)")
    if glyphs.info["cache"]["path"]:
        typer.echo(f"  cache: {glyphs.info['cache']['path']}")


class _TrainCommand(TyperCommand):
    """`glyphgen train -h` lists every family's options (computed only when help is shown)."""

    @property
    def epilog(self):
        from glyphgen.runs import family_help

        return "Model options (after the others, e.g. --prediction v):\n\n" + family_help()

    @epilog.setter
    def epilog(self, value):
        pass


@app.command(
    "train",
    cls=_TrainCommand,
    context_settings={**CONTEXT, "allow_extra_args": True, "ignore_unknown_options": True},
)
@dataclass_options(TrainConfig, "train", panel="Training", given_only=True)
@dataclass_options(DataConfig, "data", panel="Data", given_only=True, flags={"seed": "--data-seed"})
def train_cmd(
    ctx: typer.Context,
    data: dict,
    train: dict,
    model: str = typer.Option(None, "--model", "-m", help="Model family: dream, ddpm, vae, cvae, gan."),
    config: Path = typer.Option(None, "--config", "-c", help="YAML file with model/data/train/<family> sections."),
    resume: str = typer.Option(None, help="Continue a run: its folder, or 'latest' (newest under --out)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved configuration and exit."),
):
    """Train a model family on a glyph dataset. Model options go after the others: --prediction v --lr 2e-4."""
    from glyphgen import runs

    if resume:
        if data or config or model or (ctx.args and not _only_lr(ctx.args)):
            raise GlyphgenError(
                "a resumed run keeps its data and model options; only training options and --lr may change"
            )
        run_dir = runs.find_resume(resume, train.get("out", "runs"))
        cfg = runs.resolve(None, str(run_dir / "config.yaml"), data, train, ctx.args)
    else:
        cfg = runs.resolve(model, str(config) if config else None, data, train, ctx.args)
    if dry_run:
        from glyphgen.config import dump_yaml

        typer.echo(dump_yaml(cfg.to_dict()), nl=False)
        return
    run_dir = run_dir if resume else runs.make_run_dir(cfg)
    t0 = time.perf_counter()
    module = runs.train(cfg, run_dir, resume=bool(resume))
    if module.global_rank != 0:  # every process of a multi-process run gets here; one of them speaks
        return
    _exit_if_stopped(module, cfg, run_dir)
    agree = f"; {module.trainer.world_size} processes, identical weights" if module.ranks_agree else ""
    typer.echo(
        f"trained {cfg.model} to step {int(module.step)} in {time.perf_counter() - t0:.0f} s{agree}; "
        f"run folder: {run_dir}"
    )
    typer.echo(f"sample it: glyphgen sample {run_dir} --out samples.png")


@app.command("distill", context_settings=CONTEXT)
@dataclass_options(TrainConfig, "train", panel="Training", given_only=True, exclude=("out", "name", "conditional"))
def distill_cmd(
    ctx: typer.Context,
    train: dict,
    teacher: str = typer.Argument(..., help="The DDPM to distil: a shipped name, an export or a run folder."),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (default: runs/<teacher>-<N>step)."),
    student_steps: int = typer.Option(2, help="The student's DDIM steps: 1, 2, 4 or 8."),
    teacher_steps: int = typer.Option(
        None, help="Teacher DPM-Solver++ steps the student covers, a multiple (default 10; 6 a step above 2)."
    ),
    guidance: float = typer.Option(None, help="Guidance folded into a conditional student (default: the teacher's)."),
    lr: float = typer.Option(None, help="Adam learning rate (default 1e-4; the student starts as the teacher)."),
):
    """Distil a DDPM into a few-step student: the same trainer (resumable with `glyphgen train --resume RUN`); the
    run's model/ is a DDPM that samples with DDIM at --student-steps, guidance folded in. Defaults: 2,000 steps, a
    checkpoint every 100."""
    from glyphgen import runs

    cfg = runs.distill_config(teacher, out, student_steps, teacher_steps, guidance, lr, train)
    run_dir = runs.make_run_dir(cfg)
    t0 = time.perf_counter()
    module = runs.train(cfg, run_dir)
    if module.global_rank != 0:
        return
    _exit_if_stopped(module, cfg, run_dir)
    typer.echo(f"distilled {teacher} to step {int(module.step)} in {time.perf_counter() - t0:.0f} s; run: {run_dir}")
    typer.echo(f"sample it: glyphgen sample {run_dir} --out samples.png  (DDIM, {student_steps} steps)")


def _exit_if_stopped(module, cfg, run_dir: Path) -> None:
    """A run stopped by a signal says how to continue it and exits 128 + signal, as shells do, so a supervisor can
    tell a stopped run from a finished one."""
    if not module.stopped_by:
        return
    import signal

    name = signal.Signals(module.stopped_by).name
    typer.echo(
        f"stopped by {name} at step {int(module.step)} of {cfg.train.steps}; checkpoint saved. "
        f"Continue: glyphgen train --resume {run_dir}"
    )
    raise typer.Exit(128 + module.stopped_by)


def _only_lr(args: list[str]) -> bool:
    """The model options of a resumed run are `--lr X` (or `--lr=X`) and nothing else."""
    return (len(args) == 2 and args[0] == "--lr") or (len(args) == 1 and args[0].startswith("--lr="))


@app.command("sample")
@sampling_options
@runtime_options
def sample_cmd(
    model: str = typer.Argument(
        None,
        help="A run folder, an exported model folder, or a shipped model (see `glyphgen models`).",
        show_default="kanji-ddpm",
    ),
    n: int = typer.Option(16, "--n", help="Number of images (ignored with --chars: one per character)."),
    seed: int = typer.Option(0, help="Image k uses seed + k, whatever the batch size."),
    chars: str = typer.Option(None, help="Characters to write (conditional models), e.g. 永字八法."),
    sampling: dict = None,  # filled by @sampling_options
    out: Path = typer.Option(Path("samples.png"), "--out", "-o", help="Grid PNG; single images go to <out stem>/."),
    scale: int = typer.Option(2, min=1, max=16, help="Enlarge the grid by this integer factor (1 to 16)."),
):
    """Sample images from a trained or exported model into a grid and one PNG per image."""
    from glyphgen.generate import sample
    from glyphgen.images import check_glyph_folder, check_picture_path, glyph_file_name, save_each, save_grid

    check_picture_path(out)
    folder = check_glyph_folder(out.with_suffix(""))
    images, meta = sample(model, n=n, seed=seed, chars=chars, **sampling)
    save_grid(images, out, scale=scale)
    classes = meta.get("classes") or []
    if chars:
        drawn = [c for c in chars if not c.isspace()]
    else:  # a conditional model without --chars cycles through its characters
        drawn = [classes[k % len(classes)] for k in range(len(images))] if classes else [None] * len(images)
    save_each(images, folder, [glyph_file_name(k, seed + k, c) for k, c in enumerate(drawn)])
    from glyphgen.zoo import DEFAULT_MODEL

    name = model or DEFAULT_MODEL
    typer.echo(f"wrote {out.resolve()} and {len(images)} images in {folder}/ ({name}, a {meta['family']} model)")


@app.command("write")
@sampling_options
@runtime_options
def write_cmd(
    model: str = typer.Argument(..., help="A model that draws asked-for characters: shipped name, run or export."),
    text: str = typer.Argument(..., help="The text; each line of it is a line of glyphs (wrapped at 16)."),
    out: Path = typer.Option(Path("text.png"), "--out", "-o", help="The page as a PNG."),
    seed: int = typer.Option(0, help="Character k of the text is drawn from seed + k."),
    refs: list[str] = typer.Option(
        None, "--refs", help="Style references (repeatable): glyph images, a folder of them, or a font file."
    ),
    ref_chars: str = typer.Option(None, help="The characters of --refs: needed for a font, else taken from names."),
    scale: int = typer.Option(2, min=1, max=16, help="Enlarge the page by this integer factor (1 to 16)."),
    sampling: dict = None,  # filled by @sampling_options
):
    """Write a text in lines with a model that draws asked-for characters (spaces kept, unknown characters boxed)."""
    _write_page(model, text, out, seed, refs, ref_chars, scale, sampling)


def _write_page(model, text, out: Path, seed, refs, ref_chars, scale, sampling) -> None:
    from glyphgen.generate import write_text
    from glyphgen.images import check_picture_path, save_grid

    check_picture_path(out)
    cells, page, _ = write_text(model, text.replace("\\n", "\n"), seed=seed, refs=refs, ref_chars=ref_chars, **sampling)
    save_grid(cells, out, nrow=page.columns, scale=scale)
    typer.echo(f"wrote {out.resolve()}: {len(page.glyphs)} glyphs in {len(page.rows)} lines")
    for note in page.notes:
        typer.echo(f"note: {note}")


@app.command("style")
@sampling_options
@runtime_options
def style_cmd(
    refs: list[str] = typer.Argument(
        ..., help="A few glyphs of the style: image files or a folder of them (file name = character), or a font file."
    ),
    chars: str = typer.Option(..., "--chars", help="The text to write in that style; each line is a line of glyphs."),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help="A style model (shipped name, run or export).",
        show_default="kanji-style or hand-style by text",
    ),
    ref_chars: str = typer.Option(None, help="The characters of REFS: needed for a font, else taken from file names."),
    out: Path = typer.Option(Path("style.png"), "--out", "-o", help="The page as a PNG."),
    seed: int = typer.Option(0, help="Character k of the text is drawn from seed + k."),
    scale: int = typer.Option(2, min=1, max=16, help="Enlarge the page by this integer factor (1 to 16)."),
    sampling: dict = None,  # filled by @sampling_options
):
    """Write any text in the style of a few reference glyphs (8 is plenty): a font you own, scans, your handwriting.

    Each reference image is cropped to its ink and centred like the model's training glyphs. Example:
    `glyphgen style MyFont.otf --ref-chars 永東国書道風月花 --chars 春夏秋冬`.
    """
    from glyphgen.generate import default_style_model

    _write_page(model or default_style_model(chars), chars, out, seed, list(refs), ref_chars, scale, sampling)


@app.command("font")
@sampling_options
@runtime_options
def font_cmd(
    model: str = typer.Argument(..., help="A model that draws asked-for characters: shipped name, run or export."),
    out: Path = typer.Option(..., "--out", "-o", help="The font file: .otf (CFF outlines) or .ttf (TrueType)."),
    name: str = typer.Option(..., "--name", help="The font's family name, as font menus show it."),
    chars: str = typer.Option(
        "all", help="Characters: all (every one the model knows), joyo, latin, digits, ..., literal text, or @file."
    ),
    seed: int = typer.Option(0, help="Every character is drawn from this seed, so the font keeps one style."),
    svg: Path = typer.Option(None, "--svg", help="Also write one SVG per glyph into this folder."),
    refs: list[str] = typer.Option(
        None, "--refs", help="Style references (repeatable): glyph images, a folder of them, or a font file."
    ),
    ref_chars: str = typer.Option(None, help="The characters of --refs: needed for a font, else taken from names."),
    sampling: dict = None,  # filled by @sampling_options
):
    """Draw every character with a model, trace the glyphs and write an installable OpenType font.

    The font is checked before this returns: it re-reads with fontTools, passes the OpenType Sanitizer, and each
    glyph drawn back by FreeType is compared with the bitmap it came from (IoU). Install it with
    `cp Family.otf ~/.local/share/fonts/ && fc-cache`.
    """
    from glyphgen.font import make_font

    report = make_font(
        model, out, name, chars=chars, seed=seed, svg_dir=svg, refs=refs, ref_chars=ref_chars, progress=True, **sampling
    )
    info = report.as_dict()
    s, c = info["seconds"], info["check"]
    typer.echo(
        f'wrote {report.path.resolve()}: {info["glyphs"]} glyphs of "{report.family}" '
        f"in {info['bytes'] / 1024:,.0f} KB; "
        f"generate {s['generate']:.1f} s + vectorize {s['vectorize']:.1f} s + build {s['build']:.1f} s "
        f"(+ check {s['check']:.1f} s); round-trip IoU mean {c['iou_mean']}, min {c['iou_min']} "
        f"({c['iou_min_char']}); OpenType Sanitizer: passed"
    )
    if report.svgs:
        typer.echo(f"wrote {report.svgs} SVGs in {svg}/")
    if report.empty:
        typer.echo(f"warning: {len(report.empty)} glyphs traced to nothing (kept empty): {''.join(report.empty[:40])}")
    if report.low_iou:
        shown = ", ".join(f"{ch} {v}" for ch, v in report.low_iou[:20])
        typer.echo(f"warning: {len(report.low_iou)} glyphs match their bitmap below IoU 0.75: {shown}")


@app.command("plot")
def plot_cmd(
    run: Path = typer.Argument(..., help="A run folder (its metrics.jsonl)."),
    out: Path = typer.Option(None, "--out", "-o", help="The PNG (default: <run>/curves.png)."),
    keys: str = typer.Option("", help="Comma-separated numbers to plot (default: every one the run logs)."),
    smoothing: float = typer.Option(0.9, help="Exponential moving average weight drawn over the raw points (0-1)."),
):
    """Plot a run's training curves (loss, learning rate, ...) against steps; works while the run trains."""
    from glyphgen.images import check_picture_path
    from glyphgen.plot import plot

    out = check_picture_path(out or run / "curves.png")
    path = plot(run, out, [k.strip() for k in keys.split(",") if k.strip()] or None, smoothing)
    typer.echo(f"wrote {path}")


@app.command("models")
def models_cmd():
    """List the pretrained models shipped with glyphgen (sample one: glyphgen sample NAME)."""
    from glyphgen import zoo

    models = zoo.shipped()
    if not models:
        typer.echo(f"no shipped models in {zoo.WEIGHTS_DIR}")
    for m in models:
        typer.echo(m.describe() + ("  (default)" if m.name == zoo.DEFAULT_MODEL else ""))


@app.command("export")
@sampling_options
def export_cmd(
    run: Path = typer.Argument(..., help="A run folder (its EMA weights are exported)."),
    folder: Path = typer.Argument(..., help="Destination folder for model.safetensors + config.json."),
    diffusers: bool = typer.Option(False, help="ddpm only: also write a diffusers DDPMPipeline to <folder>/diffusers."),
    card: bool = typer.Option(True, help="Write a README.md model card (data, steps, training time, metrics)."),
    about: str = typer.Option("", help="A sentence for the card saying what the model is for."),
    half: bool = typer.Option(False, help="Store the weights as float16: half the size, samples indistinguishable."),
    sampling: dict = None,  # filled by @sampling_options
):
    """Export a run's EMA weights as safetensors + config.json (loading never unpickles), with a model card."""
    import torch

    from glyphgen import cards
    from glyphgen.checkpoint import copy_export, load
    from glyphgen.generate import resolve_model

    source = resolve_model(run)
    method, _ = load(source)  # refuse to copy something that does not load
    if diffusers and not hasattr(method, "diffusers_pipeline"):
        raise GlyphgenError(f"--diffusers applies to ddpm models; this is a {method.family} model")
    method.sample_options(**sampling)  # the export's new sampling defaults: options its family has, checked
    copy_export(source, folder, about=about or None, half=half, sampling=sampling)
    if card:
        cards.write(folder)
    if diffusers:
        from glyphgen.atomic import write_text

        method, _ = load(folder)  # with the export's own sampling defaults
        method = method.to(memory_format=torch.contiguous_format)
        method.diffusers_pipeline().save_pretrained(folder / "diffusers")
        write_text(folder / "diffusers" / "README.md", method.diffusers_readme())
    typer.echo(
        f"exported {source} -> {folder}" + (f" (diffusers pipeline in {folder / 'diffusers'})" if diffusers else "")
    )


class _EvalGroup(_Group):
    """`glyphgen eval MODEL ...` runs the `model` command; `glyphgen eval train-recognizer ...` its own."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in CONTEXT["help_option_names"]:
            args = ["model", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=_EvalGroup,
    help="Offline evaluation: `glyphgen eval MODEL --n 2000 --ref train` (FGD, KID, precision/recall, novelty).",
    context_settings=CONTEXT,
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")

_REF_HELP = "Reference glyphs: train (the model's own data), kanjivg, font, digits, or a YAML file of data options."


@eval_app.command("model")
@sampling_options
@runtime_options
def eval_model(
    model: Path = typer.Argument(..., help="A run folder or an exported model folder."),
    n: int = typer.Option(2000, "--n", help="Samples to draw (capped at half the reference set)."),
    ref: str = typer.Option("train", help=_REF_HELP),
    out: Path = typer.Option(None, "--out", "-o", help="Report folder (default: <model folder>/eval)."),
    seed: int = typer.Option(0, help="Sample k uses seed + k; also seeds the reference split."),
    sampling: dict = None,  # filled by @sampling_options
    recognizer: Path = typer.Option(None, help="Recogniser folder (default: the shipped one)."),
    ks: str = typer.Option("1,4,8,16", help="Style models: numbers of references to score, comma-separated."),
    per_face: int = typer.Option(40, min=1, max=1000, help="Style models: seen and unseen characters per face."),
    faces: str = typer.Option(
        None, "--faces", help="Score a model that writes in a style on this face set's held-out faces (kanji, latin)."
    ),
):
    """Sample a model and score it against real glyphs and the real-data band; writes JSON + a markdown report.

    A style model (trained on a face set) is scored the few-shot font papers' way instead: on held-out faces, with
    seen and unseen characters, by number of references, against two baselines (see glyphgen/eval/style.py)."""
    from glyphgen.checkpoint import read_config
    from glyphgen.eval.style import is_style_model
    from glyphgen.generate import resolve_model

    out = out or model / "eval"
    if faces or is_style_model(read_config(resolve_model(model))):
        _eval_style(model, out, ks, per_face, seed, recognizer, sampling, faces)
        return
    from glyphgen.eval.evaluate import evaluate

    r = evaluate(model, n, ref, out, seed, recognizer, **sampling)
    m, b = r["metrics"], r["band"]
    distance = (
        f"FGD {m['fgd']:.2f} (real band {b['fgd']:.2f}), KID {m['kid']:.4f} ({b['kid']:.4f})"
        if m["fgd"] is not None
        else f"FGD and KID left out: {r['n']} samples are fewer than the 257 their covariance needs"
    )
    typer.echo(
        f"{r['family']}: {distance}, "
        f"precision {m['precision']:.3f} ({b['precision']:.3f}), recall {m['recall']:.3f} ({b['recall']:.3f}), "
        f"novelty {m['novelty']:.3f} ({b['novelty']:.3f})"
        + (f", accuracy {m['accuracy']['top1']:.3f}" if m.get("accuracy", {}).get("top1") is not None else "")
    )
    typer.echo(f"report: {out / 'report.md'}")


def _eval_style(model, out: Path, ks: str, per_face: int, seed: int, recognizer, sampling: dict, faces=None) -> None:
    from glyphgen.atomic import write_text
    from glyphgen.eval.style import evaluate_style, report

    try:
        counts = [int(k) for k in ks.split(",") if k.strip()]
    except ValueError:
        raise GlyphgenError(f"--ks {ks!r} must be whole numbers separated by commas, e.g. 1,4,8,16") from None
    r = evaluate_style(model, counts, per_face, seed, recognizer, face_set=faces, **sampling)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "style.json", json.dumps(r, indent=1, ensure_ascii=False))
    write_text(out / "style.md", report(r))
    k = min(r["ks"], key=lambda k: abs(k - 8))
    for cond in ("seen", "unseen"):
        row = r["table"].get(f"model/{cond}/k{k}")
        if row:
            near = r["table"][f"nearest/{cond}/k{k}"]
            typer.echo(
                f"{cond} characters, k = {k}: L1 {row['l1']:.3f} (nearest face {near['l1']:.3f}), "
                f"SSIM {row['ssim']:.3f} ({near['ssim']:.3f}), "
                f"content top-1 {row['top1']:.3f} (real {r['real'][cond]['top1']:.3f})"
            )
    typer.echo(f"report: {out / 'style.md'}")


@eval_app.command("train-recognizer")
@dataclass_options(RecognizerConfig, "cfg", panel="Recogniser")
def eval_train_recognizer(
    cfg: RecognizerConfig,
    out: Path = typer.Option(
        Path("runs/recognizer"),
        "--out",
        "-o",
        help="Run folder: checkpoints/, metrics.jsonl, and model/ (the recogniser's weights, config.json and card).",
    ),
    resume: bool = typer.Option(
        False, help="Continue the run in --out from its checkpoint (its own options, with this --steps and --threads)."
    ),
):
    """Train the glyph recogniser with glyphgen's trainer and print its held-out accuracy (checkpointed; Ctrl-C or
    SIGTERM stops it after a checkpoint, --resume continues). --recognizer OUT/model scores models with it."""
    from glyphgen.eval.recognizer import train

    result = train(cfg, out, resume=resume)
    if "stopped_by" in result:  # 128 + signal, as `glyphgen train` and shells say it
        import signal

        name = signal.Signals(result["stopped_by"]).name
        typer.echo(
            f"stopped by {name} at step {result['step']} of {cfg.steps}; checkpoint saved. "
            f"Continue: glyphgen eval train-recognizer --out {out} --resume"
        )
        raise typer.Exit(128 + result["stopped_by"])
    s = result["metrics"]["heldout_top1"]
    typer.echo(
        f"held-out top-1 {s['all']:.3f} (CJK {s['cjk']:.3f}, Latin/digits {s['latin_digits']:.3f}) after "
        f"{result['train_seconds'] / 60:.1f} min; weights and card in {out / 'model'}"
    )


@app.command("compare")
@sampling_options
@runtime_options
def compare_cmd(
    models: list[Path] = typer.Argument(..., help="Run folders or exported model folders."),
    n: int = typer.Option(2000, "--n", help="Samples per model (capped at half its reference set)."),
    ref: str = typer.Option("train", help=_REF_HELP),
    out: Path = typer.Option(Path("report"), "--out", "-o", help="Report folder."),
    seed: int = typer.Option(0, help="Sample k uses seed + k, for every model."),
    sampling: dict = None,  # filled by @sampling_options
    recognizer: Path = typer.Option(None, help="Recogniser folder (default: the shipped one)."),
):
    """Evaluate several models alike and write one side-by-side report (markdown + HTML)."""
    from glyphgen.eval.compare import compare

    path = compare(models, n, ref, out, seed, recognizer, **sampling)  # each model takes the options it has
    typer.echo(f"report: {path} and {path.with_suffix('.html')}")


@app.command("app")
@runtime_options
def app_cmd(
    models: list[Path] = typer.Option(
        None, "--models", help="Folder of exported models or run folders (repeatable); default: shipped and ./runs."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 serves other machines too)."),
    port: int = typer.Option(7860, help="Port to listen on."),
    budget_s: float = typer.Option(
        30.0,
        "--budget-s",
        min=0.1,
        help="Most seconds of this CPU one request may take (estimated before it runs; over it: refused).",
    ),
):
    """Serve the web app and its HTTP API: generate, write text, write in your own style, watch a glyph dream."""
    from glyphgen.app import launch
    from glyphgen.app.handlers import Limits

    launch(models, host=host, port=port, limits=Limits(budget_s=budget_s))


def main() -> None:
    app(prog_name="glyphgen")


if __name__ == "__main__":
    sys.exit(main())
