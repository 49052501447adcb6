"""The `glyphgen` command. Each command parses options, builds a config and calls one library function.

User mistakes raise `GlyphgenError`; the command group turns them into a one-line `error: ...` and exit code 2.
`--debug` (or GLYPHGEN_DEBUG=1) shows the full traceback instead.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
import typer
from typer.core import TyperGroup

from glyphgen.cli_options import dataclass_options
from glyphgen.config import DataConfig
from glyphgen.errors import GlyphgenError


class _Group(TyperGroup):
    """Prints GlyphgenError as one line (exit 2) unless debugging."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GlyphgenError as e:
            if _debug():
                raise
            click.echo(f"error: {e}", err=True)
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
data_app = typer.Typer(cls=_Group, help="Glyph datasets: fonts, character sets, previews, cache.", context_settings=CONTEXT, no_args_is_help=True)
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
        raise GlyphgenError("no CJK font is installed; install one (e.g. apt-get install fonts-noto-cjk) or pass a font file")
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
    scale: int = typer.Option(1, help="Enlarge the grid by this integer factor."),
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
    typer.echo(f"{len(glyphs):,d} glyphs of {len(glyphs.classes):,d} characters, {c}x{h}x{w}, {len(glyphs.style_names)} styles ({state})")
    for name, counts in glyphs.info.get("fonts", {}).items():
        typer.echo(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if glyphs.info.get("not_in_kanjivg"):
        typer.echo(f"  {glyphs.info['not_in_kanjivg']:,d} requested characters have no KanjiVG strokes (skipped)")
    if glyphs.info["cache"]["path"]:
        typer.echo(f"  cache: {glyphs.info['cache']['path']}")


def main() -> None:
    app(prog_name="glyphgen")


if __name__ == "__main__":
    sys.exit(main())
