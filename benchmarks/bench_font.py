"""Benchmark `glyphgen font` end to end: a model's characters -> a validated OpenType font, timed by stage.

Reports generation, vectorisation (tracing), font building and checking seconds, the tracing + building rate in
glyphs/s, the FreeType round-trip IoU (mean, median, min, glyphs below 0.75), the file size and glyphs per KB.
It also writes a paragraph typeset with the font by FreeType (`--paragraph PNG`), the picture the README shows.

    .venv/bin/python benchmarks/bench_font.py kanji-ddpm-cond --chars joyo --threads 2 --paragraph docs/font-kanji.png
    .venv/bin/python benchmarks/bench_font.py hand-cvae --chars latin --paragraph docs/font-hand.png

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may download

import torch  # noqa: E402

from glyphgen.font import make_font  # noqa: E402
from glyphgen.fontcheck import notdef_chars, typeset  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a model that draws asked-for characters (shipped name, run or export)")
    ap.add_argument("--chars", default="all", help="characters of the font (as `glyphgen font --chars`)")
    ap.add_argument("--format", default="otf", choices=["otf", "ttf"])
    ap.add_argument("--threads", type=int, default=2, help="torch threads for generation")
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (model default if omitted)")
    ap.add_argument("--out", default=None, help="keep the font here (default: a temporary folder)")
    ap.add_argument("--paragraph", default=None, help="write a paragraph typeset in the font to this PNG")
    ap.add_argument("--text", default=None, help="the paragraph's text (default: the font's first characters)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or Path(tmp) / f"Bench.{args.format}")
        report = make_font(args.model, out, "Glyphgen Bench", chars=args.chars, steps=args.steps, progress=True)
        result = report.as_dict()
        s = result["seconds"]
        result["trace_build_glyphs_per_s"] = round(result["glyphs"] / (s["vectorize"] + s["build"]), 1)
        result["generate_glyphs_per_s"] = round(result["glyphs"] / s["generate"], 2)
        result["low_iou_count"] = len(result.pop("low_iou"))
        from fontTools.ttLib import TTFont

        chars = [chr(c) for c in sorted(TTFont(out).getBestCmap()) if not chr(c).isspace()]
        text = args.text or "".join(chars[:160])
        result["notdef_in_paragraph"] = notdef_chars(out, text)
        if args.paragraph:
            Path(args.paragraph).parent.mkdir(parents=True, exist_ok=True)
            typeset(out, text, size=40, width=1000).save(args.paragraph, optimize=True)
            result["paragraph"] = args.paragraph
        result.update(model=args.model, chars=args.chars, threads=args.threads, steps=args.steps)
        result.pop("path")
    print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
