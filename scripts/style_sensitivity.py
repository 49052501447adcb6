"""How much a style model's output depends on its references: the same characters and seeds written with 8
references of each held-out face, then the mean L1 between the outputs of every two faces (0 = the references are
ignored; for scale, two real faces' glyphs of one kanji differ by ~0.15). A quick check while a run trains.

    .venv/bin/python scripts/style_sensitivity.py runs/hand-style

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from glyphgen.checkpoint import load
from glyphgen.config import DataConfig
from glyphgen.data.dataset import load as load_data
from glyphgen.generate import resolve_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a style model: run folder, export or shipped name")
    ap.add_argument("--chars", type=int, default=8, help="characters written per face")
    ap.add_argument("--steps", type=int, default=10, help="sampling steps")
    args = ap.parse_args()
    method, meta = load(resolve_model(args.model))
    data = meta["data"]
    held = load_data(DataConfig(source="faces", faces=data["faces"], split="heldout", size=meta["image_shape"][-1]))
    rng = np.random.default_rng(0)
    labels = torch.tensor(rng.choice(len(held.classes), args.chars, replace=False))
    outs = []
    for f in range(len(held.style_names)):
        idx = rng.choice(np.flatnonzero(held.styles == f), 8, replace=False)
        refs = torch.from_numpy(held.images[idx]).float() / 255
        outs.append(method.write(refs, labels, seeds=list(range(args.chars)), steps=args.steps))
    outs = torch.stack(outs)
    n = len(outs)
    between = (outs[:, None] - outs[None]).abs().mean(dim=(2, 3, 4, 5)).sum().item() / (n * (n - 1))
    print(
        json.dumps(
            {"model": args.model, "step": meta.get("step"), "faces": n, "mean_l1_between_faces": round(between, 4)}
        )
    )


if __name__ == "__main__":
    main()
