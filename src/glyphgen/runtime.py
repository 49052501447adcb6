"""Where models run outside training: the device and CPU threads that `--device` and `--threads` choose.

Commands that run a network (sample, write, style, font, eval, compare, app) call `configure` once; every model
loaded afterwards (`checkpoint.load`) goes to that device. Training has its own Lightning options (`--accelerator`,
`--devices`). Samplers draw their noise on the CPU from one generator per image and move it to the model's device,
so a seed gives the same noise on any device.
"""

from __future__ import annotations

import torch

from glyphgen.errors import GlyphgenError

DEVICES = ("auto", "cpu", "cuda", "mps")
_device: torch.device | None = None


def resolve(name: str) -> torch.device:
    """ "auto" (CUDA, else Apple's MPS, else CPU), "cpu", "cuda", "cuda:1" or "mps" -> a device that is there."""
    base = name.split(":")[0]
    if base not in DEVICES:
        raise GlyphgenError(f"unknown device {name!r}; use one of {', '.join(DEVICES)} (or cuda:N)")
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if base == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if mps else "cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise GlyphgenError("--device cuda: this torch build sees no CUDA GPU here; use --device cpu (or auto)")
    if base == "mps" and not mps:
        raise GlyphgenError("--device mps: Apple's MPS backend is not available here; use --device cpu (or auto)")
    return torch.device(name)


def configure(device: str = "auto", threads: int = 0) -> torch.device:
    """Pick the device for models loaded from now on, and torch's CPU threads (0 = torch's default)."""
    global _device
    if threads < 0:
        raise GlyphgenError(f"--threads {threads}: use 0 (torch's default) or more")
    if threads:
        torch.set_num_threads(threads)
    _device = resolve(device)
    return _device


def device() -> torch.device:
    """The device models load onto: the configured one, else the CPU."""
    return _device if _device is not None else torch.device("cpu")
