"""Render speed of the glyph sources: seconds for 10,000 glyphs at 64 px, one process, no cache.

    .venv/bin/python benchmarks/bench_render.py [--n 10000] [--size 64]

Prints JSON. The goal (foundation issue): 10,000 glyphs at 64 px in under 30 s on a 2-core CPU.
"""

import argparse
import json
import platform
import time

import torch

from glyphgen.data.charsets import get_charset
from glyphgen.data.fonts import discover_fonts, parse_font, render_font
from glyphgen.data.strokes import kanjivg_chars, render_chars


def timed(fn):
    """Wall seconds (and process CPU seconds, the fairer figure on a shared machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    timed.cpu = time.process_time() - c0
    return out, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    results = {
        "n": args.n,
        "size": args.size,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
    }

    base = kanjivg_chars()
    chars = (base * (args.n // len(base) + 1))[: args.n]
    (images, kept), s = timed(lambda: render_chars(chars, size=args.size))
    render_chars(base[:50], size=args.size)  # parse-cache warm-up is part of the first run; measure both
    results["kanjivg"] = {
        "glyphs": len(kept),
        "seconds": round(s, 2),
        "cpu_seconds": round(timed.cpu, 2),
        "glyphs_per_s": round(len(kept) / s),
    }
    (images, kept), s = timed(lambda: render_chars(chars, size=args.size, jitter=1.5, width_jitter=0.15, seed=1))
    results["kanjivg_jitter"] = {
        "glyphs": len(kept),
        "seconds": round(s, 2),
        "cpu_seconds": round(timed.cpu, 2),
        "glyphs_per_s": round(len(kept) / s),
    }

    fonts = discover_fonts("zh")
    if fonts:
        spec = parse_font("Noto Sans CJK SC") if any("Noto Sans CJK SC" in f.family for f in fonts) else fonts[0].spec
        seed_chars = get_charset("seed")[: args.n]
        for placement in ("center", "em"):
            r, s = timed(lambda p=placement: render_font(spec, seed_chars, args.size, placement=p))
            results[f"font_{placement}"] = {
                "font": spec.name,
                "requested": len(seed_chars),
                "glyphs": len(r.chars),
                "skipped": len(r.missing) + len(r.empty),
                "seconds": round(s, 2),
                "cpu_seconds": round(timed.cpu, 2),
                "glyphs_per_s": round(len(r.chars) / s),
            }
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
