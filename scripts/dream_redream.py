"""Does a level-denoiser dream model draw readable glyphs? Real glyphs corrupted to a temperature and dreamt back down.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/dream_redream.py hanzi-dream --n 200

Prints JSON: the recogniser's legibility (share read with p > 0.5) of n random real glyphs of the model's data, of the
same glyphs noised to kT (0.3, 0.6, 1.5) and walked down one annealed descent from there, and of n dreams from pure
noise. Readable re-dreams beside unreadable dreams mean the model draws glyphs well but invents characters.
"""

from __future__ import annotations

import argparse
import json

import torch

from glyphgen.checkpoint import load
from glyphgen.config import DataConfig, from_dict
from glyphgen.data.dataset import load as load_data
from glyphgen.eval import metrics as M
from glyphgen.eval.features import load_features
from glyphgen.generate import resolve_model
from glyphgen.methods.base import generators, randn_per_image
from glyphgen.methods.dream import annealed_dream


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a level-denoiser dream model: run folder, export or shipped name")
    ap.add_argument("--n", type=int, default=200, help="real glyphs and dreams")
    args = ap.parse_args()
    torch.set_num_threads(1)
    method, meta = load(resolve_model(args.model))
    if meta["family"] != "dream" or method.config.denoiser != "level":
        raise SystemExit(f"error: {args.model} is not a level-denoiser dream model")
    features, _ = load_features()
    glyphs = load_data(from_dict(DataConfig, meta["data"]))
    pick = torch.randperm(len(glyphs.images), generator=torch.Generator().manual_seed(0))[: args.n].numpy()
    real = torch.from_numpy(glyphs.images[pick]).float() / 255
    seeds = list(range(args.n))
    report = {"model": args.model, "n": args.n, "real": round(M.legibility(features, real), 4)}
    for kT in (0.3, 0.6, 1.5):
        levels = method.later_schedule(kT)
        x = method._to_model(real) + randn_per_image(generators(seeds), method.image_shape) * kT
        y = annealed_dream(method.denoise, x, levels, levels, 1, None)
        report[f"real, re-dreamt from kT {kT}"] = round(M.legibility(features, method._from_model(y).clamp(0, 1)), 4)
    report["dreamt from noise"] = round(M.legibility(features, method.sample(seeds)), 4)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
