"""Time to quality: FGD against wall-clock training minutes for glyphgen's default DDPM and two peer recipes.

    .venv/bin/python benchmarks/bench_time_to_quality.py [--minutes 30] [--eval-every 10] [--out benchmarks/ttq]

Same data (KanjiVG, 64 px, all 6,703 glyphs), same batch (32), same wall-clock training budget per contender on this
machine, trained one after the other (in one process, or in separate sittings: see below):

    glyphgen    glyphgen's kanji-ddpm recipe (the ddpm section of configs/kanji-ddpm.yaml: widths 32-64-128,
                v-prediction, Min-SNR 5, Adam 5e-4), its trainer's warm-up EMA (0.999)
    glyphgen-half  the same recipe at half the resolution (kanji-ddpm's own lever: it works at 32 px), its samples
                upsampled back to the race's size to be scored
    glyphgen-patch the same recipe at the race's size with its U-Net on 2x2 pixel patches (ddpm.patch: 2)
    lucidrains  denoising-diffusion-pytorch: Unet(dim=64, dim_mults=(1, 2, 4, 8)) + GaussianDiffusion (its defaults:
                v-prediction, sigmoid schedule), Adam 8e-5 and EMA(0.995, every 10 steps) as its README trains
    diffusers   diffusers' unconditional training recipe (examples/unconditional_image_generation): its UNet2DModel
                (block_out_channels 128-128-256-256-512-512, attention at one level), DDPMScheduler(1000, linear),
                AdamW 1e-4 (betas 0.95/0.999, wd 1e-6), cosine schedule with 500 warm-up steps, EMAModel(0.9999,
                power 3/4)

Every `--eval-every` minutes of training (the clock stops while evaluating) each contender's EMA weights draw
`--n-eval` samples with `--sample-steps` (20) sampler steps (DPM-Solver++ for glyphgen and diffusers, DDIM for
lucidrains, its fast sampler), scored by FGD (glyphgen's recogniser features) against half of the real glyphs; the
real-data band is the FGD of the other half's first `--n-eval` glyphs. The goal this project set itself: glyphgen
reaches the band within 30 minutes on a 2-core CPU, at least 3x faster than both peers. Each contender's curve goes to
<out>/<contender>.json as soon as it finishes (with its thread count and the machine's load average, since a shared
machine slows everyone), so the three can be raced in separate sittings into one --out; the combined JSON (printed,
and <out>/time_to_quality.json) and <out>/time_to_quality.png take every contender found there under the same
settings.

Evaluations cost far more than the training clock shows: the peers' U-Nets are large (lucidrains' default ~35M
parameters, the diffusers recipe's ~114M), so sampling 300 images at 64 px and 20 steps took 30 and 63 minutes per
evaluation at one thread here (glyphgen's 2 to 6).
Score them less often than glyphgen, in sittings of their own, e.g.:

    bench_time_to_quality.py --contenders glyphgen-half,glyphgen --eval-every 5
    bench_time_to_quality.py --contenders lucidrains --eval-every 15
    bench_time_to_quality.py --contenders diffusers --eval-every 30
    bench_time_to_quality.py --contenders glyphgen-patch --recipe lr=0.001 --eval-every 5   # a changed recipe
    bench_time_to_quality.py --replot       # redo the combined JSON and plot from the files in --out

The peers are installed by the `bench` extra plus, without its dependencies, denoising-diffusion-pytorch itself:

    .venv/bin/python -m pip install torch==2.13.0 -e ".[bench]"   # (name the torch you have, or pip swaps it)
    .venv/bin/python -m pip install --no-deps denoising-diffusion-pytorch

(--no-deps because it requires torchvision, whose PyPI wheel does not match the project's local CPU torch and, once
installed, breaks the imports of torchmetrics and diffusers; it uses torchvision only in its Trainer, which this
script does not use, so a stand-in module is put in its place while it is imported.)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import json
import os
import platform
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from glyphgen.config import DataConfig  # noqa: E402
from glyphgen.data.dataset import load  # noqa: E402
from glyphgen.eval import metrics as M  # noqa: E402
from glyphgen.eval.evaluate import split_halves  # noqa: E402
from glyphgen.eval.features import as_float, load_features  # noqa: E402
from glyphgen.eval.recognizer import heldout_top1  # noqa: E402
from glyphgen.images import save_grid  # noqa: E402

BATCH = 32
# What must match for two contenders' curves to share a plot. How often each was scored may differ (scoring the big
# peers costs tens of minutes at 64 px on 2 cores); threads and load are recorded, not enforced.
SETTINGS = ("data", "minutes_per_contender", "n_eval", "sample_steps")


# ------------------------------------------------------------------------------------------------------ contenders


class Contender:
    """train_step(x) on a batch in [0, 1]; sample(n, seed) -> (n, 1, H, W) in [0, 1] from the EMA weights."""

    name: str

    def parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())


class Glyphgen(Contender):
    name = "glyphgen"

    recipe = Path(__file__).resolve().parent.parent / "configs" / "kanji-ddpm.yaml"

    overrides: dict = {}  # changes to the recipe's ddpm section

    def __init__(self, size: int, sample_steps: int, recipe: dict | None = None):
        from torch.optim.swa_utils import AveragedModel

        from glyphgen.config import from_dict, load_yaml
        from glyphgen.methods import get_family
        from glyphgen.train import _warmup_ema

        cls = get_family("ddpm")
        # The recipe a user trains kanji-ddpm with (widths, v-prediction, Min-SNR, learning rate), at the race's size.
        config = from_dict(cls.config_class, {**load_yaml(self.recipe).get("ddpm"), **self.overrides, **(recipe or {})})
        self.method = cls(config, (1, size, size), 0).to(memory_format=torch.channels_last)
        self.net = self.method
        self.opts = {
            g: torch.optim.Adam(p, **self.method.optimizer_options(g)) for g, p in self.method.param_groups().items()
        }
        self.ema = AveragedModel(self.method, multi_avg_fn=_warmup_ema(0.999), use_buffers=True)
        self.step, self.sample_steps = 0, sample_steps

    def train_step(self, x):
        losses, _ = self.method.loss(x.contiguous(memory_format=torch.channels_last), None, self.step)
        for group, loss in losses.items():
            self.opts[group].zero_grad(set_to_none=True)
            loss.backward()
            self.opts[group].step()
        self.ema.update_parameters(self.method)
        self.step += 1

    def sample(self, n, seed):
        model = self.ema.module.eval()
        out = [
            model.sample(list(range(seed + k, seed + min(n, k + 50))), None, sampler="dpm++", steps=self.sample_steps)
            for k in range(0, n, 50)
        ]
        return torch.cat(out)


class GlyphgenHalf(Glyphgen):
    """The same recipe at half the race's resolution, the lever kanji-ddpm itself uses (it works at 32 px): trains on
    the batch area-downsampled 2x and scores its samples upsampled bilinearly back to the race's size. Its floor is not
    the band but the FGD of real glyphs sent down and back up (`band_fgd_half_resolution` in the result)."""

    name = "glyphgen-half"

    def __init__(self, size: int, sample_steps: int, recipe: dict | None = None):
        super().__init__(size // 2, sample_steps, recipe)
        self.size = size

    def train_step(self, x):
        super().train_step(F.avg_pool2d(x, 2))

    def sample(self, n, seed):
        return up(super().sample(n, seed), self.size)


class GlyphgenPatch(Glyphgen):
    """The same recipe at the race's resolution with the U-Net on 2x2 pixel patches (`ddpm.patch: 2`): a step costs
    about what glyphgen-half's does, while the noise, the loss and the samples stay at full resolution."""

    name = "glyphgen-patch"
    overrides = {"patch": 2}


def up(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


@contextlib.contextmanager
def _without_torchvision():
    """denoising-diffusion-pytorch imports torchvision at the top for its Trainer and datasets only; where torchvision
    is absent (or cannot load beside this torch), a stand-in lets the Unet and GaussianDiffusion import."""
    if importlib.util.find_spec("torchvision") is not None:
        yield
        return
    fake = types.ModuleType("torchvision")
    fake.transforms, fake.utils = types.ModuleType("torchvision.transforms"), types.ModuleType("torchvision.utils")
    saved = {k: sys.modules.get(k) for k in ("torchvision", "torchvision.transforms", "torchvision.utils")}
    sys.modules.update(
        {"torchvision": fake, "torchvision.transforms": fake.transforms, "torchvision.utils": fake.utils}
    )
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class Lucidrains(Contender):
    name = "lucidrains"

    def __init__(self, size: int, sample_steps: int):
        with _without_torchvision():
            from denoising_diffusion_pytorch.denoising_diffusion_pytorch import GaussianDiffusion, Unet
        from ema_pytorch import EMA

        unet = Unet(dim=64, dim_mults=(1, 2, 4, 8), channels=1, flash_attn=False)
        self.net = GaussianDiffusion(unet, image_size=size, timesteps=1000, sampling_timesteps=sample_steps)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=8e-5, betas=(0.9, 0.99))
        self.ema = EMA(self.net, beta=0.995, update_every=10)

    def train_step(self, x):
        loss = self.net(x)  # auto_normalize: it maps [0, 1] to [-1, 1] itself
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.ema.update()

    def sample(self, n, seed):
        torch.manual_seed(seed)
        model = self.ema.ema_model.eval()
        with torch.no_grad():
            return torch.cat([model.sample(batch_size=min(50, n - k)) for k in range(0, n, 50)]).clamp(0, 1)


class Diffusers(Contender):
    name = "diffusers"

    def __init__(self, size: int, sample_steps: int, steps_hint: int = 10_000):
        from diffusers import DDPMScheduler, UNet2DModel
        from diffusers.optimization import get_cosine_schedule_with_warmup
        from diffusers.training_utils import EMAModel

        self.net = UNet2DModel(
            sample_size=size,
            in_channels=1,
            out_channels=1,
            layers_per_block=2,
            block_out_channels=(128, 128, 256, 256, 512, 512),
            down_block_types=("DownBlock2D",) * 4 + ("AttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "AttnUpBlock2D") + ("UpBlock2D",) * 4,
        )
        self.noise = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-6, eps=1e-8)
        self.sched = get_cosine_schedule_with_warmup(self.opt, 500, steps_hint)
        self.ema = EMAModel(self.net.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0, power=3 / 4)
        self.sample_steps = sample_steps

    def train_step(self, x):
        x0 = x * 2 - 1
        eps = torch.randn_like(x0)
        t = torch.randint(0, self.noise.config.num_train_timesteps, (x0.shape[0],))
        loss = F.mse_loss(self.net(self.noise.add_noise(x0, eps, t), t).sample, eps)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.ema.step(self.net.parameters())

    def sample(self, n, seed):
        from diffusers import DPMSolverMultistepScheduler

        model = copy.deepcopy(self.net).eval()
        self.ema.copy_to(model.parameters())
        sched = DPMSolverMultistepScheduler.from_config(self.noise.config, algorithm_type="dpmsolver++")
        out = []
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for k in range(0, n, 50):
                x = torch.randn(min(50, n - k), 1, model.config.sample_size, model.config.sample_size, generator=g)
                sched.set_timesteps(self.sample_steps)
                for t in sched.timesteps:
                    x = sched.step(model(x, t).sample, t, x).prev_sample
                out.append((x.clamp(-1, 1) + 1) / 2)
        return torch.cat(out)


CONTENDERS = {
    "glyphgen": Glyphgen,
    "glyphgen-half": GlyphgenHalf,
    "glyphgen-patch": GlyphgenPatch,
    "lucidrains": Lucidrains,
    "diffusers": Diffusers,
}


# ------------------------------------------------------------------------------------------------------- the race


def race(
    contender: Contender, data: torch.Tensor, minutes: float, eval_every: float, score, seed: int, grid: Path
) -> dict:
    """Train for `minutes` of wall-clock training time, scoring every `eval_every` minutes and at the end; the last
    evaluation's first 64 samples go to `grid` (a PNG), so each FGD can be read against what it scored."""
    gen = torch.Generator().manual_seed(seed)
    curve, steps, trained = [], 0, 0.0
    next_eval = eval_every * 60
    budget = minutes * 60
    while trained < budget:
        t0 = time.perf_counter()
        x = data[torch.randint(len(data), (BATCH,), generator=gen)]
        contender.train_step(x)
        trained += time.perf_counter() - t0
        steps += 1
        if trained >= next_eval or trained >= budget:
            t1 = time.perf_counter()
            samples = contender.sample(score.n, seed)
            fgd = score(samples)
            save_grid(samples[:64], grid, nrow=8)
            curve.append(
                {
                    "minutes": round(trained / 60, 2),
                    "steps": steps,
                    "fgd": round(fgd, 3),
                    "eval_seconds": round(time.perf_counter() - t1, 1),
                }
            )
            print(f"[{contender.name}] {trained / 60:.1f} min, step {steps}: FGD {fgd:.2f}", file=sys.stderr)
            next_eval += eval_every * 60
    return {"parameters": contender.parameters(), "steps": steps, "curve": curve}


class Scorer:
    """FGD of samples against half A of the real glyphs; `band` is half B's (same count) FGD."""

    def __init__(self, images: np.ndarray, n: int, seed: int):
        self.features, meta = load_features()
        a, b = split_halves(len(images), seed)
        self.n = min(n, len(b))
        self.real = self.features(images[a])
        held = as_float(images[b[: self.n]])
        self.band = M.fgd(self.features, self.real, self.features(held))
        self.band_half = M.fgd(self.features, self.real, self.features(up(F.avg_pool2d(held, 2), held.shape[-1])))
        self.recognizer_top1 = heldout_top1(meta)

    def __call__(self, samples) -> float:
        return M.fgd(self.features, self.real, self.features(samples))


def first_in_band(curve: list[dict], band: float) -> float | None:
    return next((p["minutes"] for p in curve if p["fgd"] <= band), None)


def speedup(mine: float | None, peer: dict, budget: float):
    """How many times sooner glyphgen reached the band than `peer`: a number, ">N" when the peer never got there
    within its budget (a lower bound), or None when glyphgen never did."""
    if mine is None:
        return None
    theirs = peer.get("minutes_to_band")
    return round(theirs / mine, 2) if theirs is not None else f">{budget / mine:.1f}"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for name, r in result["contenders"].items():
        if r.get("curve"):
            ax.plot([p["minutes"] for p in r["curve"]], [p["fgd"] for p in r["curve"]], "o-", label=name)
    ax.axhline(result["band_fgd"], color="k", ls="--", lw=1, label="real-data band")
    if "glyphgen-half" in result["contenders"]:
        ax.axhline(result["band_fgd_half_resolution"], color="k", ls=":", lw=1, label="real, down 2x and back up")
    ax.set_yscale("log")
    ax.set_xlabel("training wall-clock minutes")
    ax.set_ylabel(f"FGD ({result['n_eval']} samples, log scale)")
    threads = {r.get("threads", result["threads"]) for r in result["contenders"].values()} or {result["threads"]}
    n = "/".join(map(str, sorted(threads)))
    ax.set_title(f"KanjiVG {result['size']} px, batch {BATCH}, {n} CPU thread{'s' * (n != '1')}", fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the plot, clear of every curve
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="training wall-clock budget per contender")
    ap.add_argument("--eval-every", type=float, default=10.0, help="minutes of training between FGD evaluations")
    ap.add_argument("--contenders", default=",".join(CONTENDERS), help="comma-separated: " + ", ".join(CONTENDERS))
    ap.add_argument("--n-eval", type=int, default=300, help="samples per FGD evaluation (at least 257)")
    ap.add_argument("--sample-steps", type=int, default=20, help="sampler steps per evaluation image")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/ttq"))
    ap.add_argument(
        "--recipe",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change the glyphgen contenders' ddpm recipe, e.g. --recipe lr=0.001 (repeatable); the result is a "
        "contender of its own (glyphgen-patch+lr=0.001)",
    )
    ap.add_argument("--replot", action="store_true", help="only redo --out's combined JSON and plot from its files")
    args = ap.parse_args()
    if args.replot:
        combined = args.out / "time_to_quality.json"
        if not combined.is_file():
            sys.exit(f"--replot: {combined} not found; race a contender into {args.out} first")
        return finish(json.loads(combined.read_text(encoding="utf-8")), args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONTENDERS]
    if unknown:
        sys.exit(f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(CONTENDERS)}")

    recipe = {}
    for item in args.recipe:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            sys.exit(f"--recipe {item!r}: write KEY=VALUE, e.g. --recipe lr=1e-3")
        recipe[key.strip()] = yaml.safe_load(value)

    glyphs = load(DataConfig(source="kanjivg", size=args.size), progress=True)
    data = glyphs.to_float()
    score = Scorer(glyphs.images, args.n_eval, args.seed)
    result = {
        "data": f"KanjiVG {args.size} px, {len(glyphs)} glyphs",
        "size": args.size,
        "batch": BATCH,
        "minutes_per_contender": args.minutes,
        "n_eval": score.n,
        "sample_steps": args.sample_steps,
        "band_fgd": round(score.band, 3),
        "band_fgd_half_resolution": round(score.band_half, 3),
        "recognizer_heldout_top1": score.recognizer_top1,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "contenders": {},
    }
    settings = {k: result[k] for k in SETTINGS}
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        torch.manual_seed(args.seed)
        try:
            cls = CONTENDERS[name]
            changes = recipe if issubclass(cls, Glyphgen) else {}  # the peers have no glyphgen recipe to change
            contender = cls(args.size, args.sample_steps, **({"recipe": changes} if changes else {}))
        except ImportError as e:
            print(f"[{name}] skipped: not installed ({e}); see this script's docstring", file=sys.stderr)
            continue
        load_start = os.getloadavg()[0]
        label = name + "".join(f"+{k}={v}" for k, v in changes.items())
        r = race(contender, data, args.minutes, args.eval_every, score, args.seed, args.out / f"{label}.png")
        r["eval_every_minutes"], r["threads"] = args.eval_every, torch.get_num_threads()
        if changes:
            r["recipe_changes"] = changes
        r["load_avg_start_end"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
        r["minutes_to_band"] = first_in_band(r["curve"], score.band)
        r["settings"] = settings
        r["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
        # One file per contender, written as soon as it finishes: a run cut short keeps what it measured, and the
        # contenders can be raced in separate sittings (--contenders diffusers) into the same --out.
        # A changed recipe is a contender of its own: glyphgen-patch+lr=0.001.json beside glyphgen-patch.json.
        (args.out / f"{label}.json").write_text(json.dumps(r, indent=2), encoding="utf-8")
        del contender
    finish(result, args.out)


def finish(result: dict, out: Path) -> None:
    """Gather every contender raced into `out` under `result`'s settings, judge the goal, write the JSON and plot."""
    minutes = result["minutes_per_contender"]
    result["contenders"] = collect(out, {k: result[k] for k in SETTINGS})
    # glyphgen's time is its faster variant's (full or half working resolution).
    reached = [r["minutes_to_band"] for n, r in result["contenders"].items() if n.startswith("glyphgen")]
    mine = min((m for m in reached if m is not None), default=None)
    result["goal"] = {
        "glyphgen_in_band_within_30_min": mine is not None and mine <= 30,
        "speedup_vs_peers": {
            n: speedup(mine, r, minutes) for n, r in result["contenders"].items() if not n.startswith("glyphgen")
        },
    }
    (out / "time_to_quality.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    plot(result, out / "time_to_quality.png")
    print(json.dumps(result, indent=2, default=str))


def collect(out: Path, settings: dict) -> dict:
    """Every contender's result in `out` that was raced under the same settings, in CONTENDERS order, each followed
    by its changed recipes (`--recipe`)."""
    found = {}
    for name in CONTENDERS:
        for path in [out / f"{name}.json", *sorted(out.glob(f"{name}+*.json"))]:
            if not path.is_file():
                continue
            r = json.loads(path.read_text(encoding="utf-8"))
            if r.get("settings") == settings:
                found[path.stem] = r
            else:
                print(f"[{path.stem}] {path} was raced under other settings; left out", file=sys.stderr)
    return found


if __name__ == "__main__":
    main()
