"""What a dream model does with real glyphs: each row noised at one temperature and denoised by one pass of G.

    .venv/bin/python scripts/dream_denoise.py hanzi-dream --out docs/hanzi-dream-denoise.png

Prints JSON: the recogniser's legibility (share of glyphs read with p > 0.5) of the clean glyphs and of one denoising
pass at each temperature, over --n glyphs of the model's own training data; the figure shows the first 8 of them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from glyphgen.checkpoint import load
from glyphgen.config import DataConfig
from glyphgen.data.dataset import load as load_glyphs
from glyphgen.eval import metrics as M
from glyphgen.eval.features import load_features
from glyphgen.generate import resolve_model
from glyphgen.images import save_grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a dream model: shipped name, exported folder or run folder")
    ap.add_argument("--temperatures", default="0.3,0.6,1.0,1.5", help="comma-separated noise standard deviations")
    ap.add_argument("--n", type=int, default=400, help="glyphs to score (spread over the training data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("dream-denoise.png"))
    args = ap.parse_args()

    method, meta = load(resolve_model(args.model), expect_family="dream")
    glyphs = load_glyphs(DataConfig(**meta["data"]))
    pick = torch.linspace(0, len(glyphs) - 1, min(args.n, len(glyphs))).long()
    x = glyphs.to_float()[pick]
    gen = torch.Generator().manual_seed(args.seed)
    features, _ = load_features()
    rows, result = [x], {"model": str(args.model), "n": len(x), "clean": M.legibility(features, x)}
    method.net.eval()
    with torch.no_grad():
        for kT in (float(t) for t in args.temperatures.split(",")):
            noisy = method._to_model(x) + torch.randn(x.shape, generator=gen) * kT
            out = method._from_model(method.net(noisy))
            result[f"kT={kT:g}"] = M.legibility(features, out)
            rows.append(out)
    save_grid(torch.cat([r[:8] for r in rows]), args.out, nrow=8)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
