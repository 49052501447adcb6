"""The one trainer: any `Method` on any `GlyphSet`, through Lightning. The only module that imports Lightning.

Lightning brings devices, DDP, precision and atomic checkpoint files; the rest is kept small and explicit here:
- The glyphs sit in memory as a uint8 tensor (moved to the device once); each step draws a random batch with a
  generator seeded from (seed, step, rank). The DataLoader only yields step numbers, so there is no per-step
  iterator rebuild and no worker process, and a resumed run sees exactly the batches of an uninterrupted one.
- Manual optimisation: one Adam per parameter group of the method; each step, every group whose loss the method
  returned is stepped. The loop never branches on the family.
- EMA of the whole method (torch's AveragedModel) is what samples and exports use.
- `GlyphModule` is the Lightning adapter (batches, optimiser steps, EMA); `RunFolder`, a Lightning callback, does the
  run folder: config.yaml beside metrics.jsonl, samples/, checkpoints/last.ckpt and model/ (the EMA export).
  Checkpoints are written every `checkpoint_every` steps and when Ctrl-C or SIGTERM arrives (after the step in flight).
"""

from __future__ import annotations

import io
import json
import logging
import signal
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from glyphgen.data.augment import AugmentConfig, augment
from glyphgen.data.glyphset import GlyphSet
from glyphgen.errors import GlyphgenError
from glyphgen.methods.base import Method


class _Steps(torch.utils.data.IterableDataset):
    """Yields step numbers forever; the batches themselves are drawn inside the module (see module docstring)."""

    def __iter__(self):
        n = 0
        while True:
            yield n
            n += 1


PREVIOUS = "previous.ckpt"  # the checkpoint before last.ckpt, kept beside it


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, made crash-safe on any $TMPDIR: the file is written under a unique name in
    its own folder, fsynced and renamed over last.ckpt (Lightning's own writer goes through a temporary file in
    $TMPDIR, whose "move" across filesystems is a copy that a kill -9 leaves at 0 bytes). The checkpoint it replaces
    is kept as previous.ckpt (a hard link made first), so at every moment both names hold a complete file."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        import os

        from glyphgen.atomic import atomic_path

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Serialised in memory first: torch.save on a full disk fails with a bare RuntimeError from its zip writer,
        # a plain write with the OSError (ENOSPC, EROFS, ...) that atomic_path turns into a one-line error.
        data = io.BytesIO()
        torch.save(checkpoint, data)
        with atomic_path(path) as tmp:
            tmp.write_bytes(data.getbuffer())
            if path.exists():
                link = path.with_name(f".{PREVIOUS}.{os.getpid()}.link.tmp")  # named like atomic_path's
                link.unlink(missing_ok=True)
                try:
                    os.link(path, link)
                except OSError:  # a filesystem without hard links: a copy does the same, slower
                    import shutil

                    shutil.copyfile(path, link)
                os.replace(link, path.with_name(PREVIOUS))


class GlyphModule(L.LightningModule):
    """Adapter: a `Method` + in-memory glyphs + EMA, trained with manual optimisation."""

    def __init__(
        self,
        method: Method,
        glyphs: GlyphSet,
        train_cfg,
        run_dir: Path | None,
        use_labels: bool,
        meta: dict | None = None,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.method = method
        self.cfg = train_cfg
        self.run_dir = run_dir
        self.use_labels = use_labels
        self.classes = list(glyphs.classes)
        self.meta = meta or {}  # provenance written into every export (data and training configs)
        self.ema = AveragedModel(method, multi_avg_fn=_warmup_ema(train_cfg.ema_decay), use_buffers=True)
        # The EMA copy is updated by hand, never by gradients; parameters that require grad but get none would stop
        # DDP ("parameters that were not used in producing the loss").
        self.ema.requires_grad_(False)
        self.ranks_agree: bool | None = None  # multi-process runs: every rank ended with the same weights
        self.stopped_by: int | None = None  # the signal that stopped the run early (after a checkpoint)
        self.register_buffer("images", torch.from_numpy(glyphs.images), persistent=False)  # (N, C, H, W) uint8
        self.register_buffer("labels", torch.from_numpy(glyphs.labels), persistent=False)  # (N,) int64
        if method.uses_styles:
            if glyphs.styles is None:
                raise GlyphgenError(
                    f"{method.family} models learn from glyphs grouped by face; this data has none (use source faces)"
                )
            self.register_buffer("styles", torch.from_numpy(glyphs.styles), persistent=False)  # (N,) int64
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))  # optimiser steps done (checkpointed)
        # wall-clock seconds spent training, summed over resumes (checkpointed; model cards report it)
        self.register_buffer("train_seconds", torch.zeros((), dtype=torch.float64))
        self.augment_cfg = AugmentConfig(
            rotate=train_cfg.augment_rotate,
            translate=train_cfg.augment_translate,
            scale=train_cfg.augment_scale,
            shear=train_cfg.augment_shear,
            weight=train_cfg.augment_weight,
            hflip=train_cfg.hflip,
        )
        self.batch_gen = torch.Generator()
        self._restored_rng = None
        self.last_logs: dict = {}

    # ---- optimisation ----------------------------------------------------------------------------------------

    def configure_optimizers(self):
        groups = self.method.param_groups()
        self.group_names = list(groups)
        if self.cfg.accumulate > 1 and len(groups) > 1:
            raise GlyphgenError(
                f"accumulate applies to families with one optimiser; {self.method.family} steps {len(groups)} in turn"
            )
        optimizers = [
            torch.optim.Adam(params, **self.method.optimizer_options(name)) for name, params in groups.items()
        ]
        if not self.cfg.lr_warmup and self.cfg.lr_schedule == "constant":
            return optimizers  # no scheduler at all: checkpoints of such runs stay as they were
        schedule = _lr_factor(self.cfg.lr_warmup, self.cfg.lr_schedule, self.cfg.steps)
        return optimizers, [torch.optim.lr_scheduler.LambdaLR(opt, schedule) for opt in optimizers]

    def _step(self, opt) -> None:
        if self.cfg.grad_clip:
            self.clip_gradients(opt, gradient_clip_val=self.cfg.grad_clip, gradient_clip_algorithm="norm")
        opt.step()

    def _batch(self, part: int = 0):
        # Reseeded from (seed, step, rank) every step: each rank draws different batches, and a resumed run draws
        # exactly the batches the uninterrupted run would have, with no generator state to carry. Accumulated
        # batches after the first add their number to the seed.
        entropy = [self.cfg.seed, int(self.step), self.global_rank] + ([part] if part else [])
        step_seed = np.random.SeedSequence(entropy).generate_state(1)[0]
        self.batch_gen.manual_seed(int(step_seed))
        index = torch.randint(len(self.images), (self.cfg.batch_size,), generator=self.batch_gen).to(self.images.device)
        x = self.images[index].float().div_(255.0)  # (B, C, H, W) in [0, 1], ink high
        x = augment(x, self.augment_cfg, self.batch_gen)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        extra = {"styles": self.styles[index]} if self.method.uses_styles else {}
        return x, (self.labels[index] if self.use_labels else None), extra

    def training_step(self, _step_number, *_):
        step = int(self.step)
        optimizers = _as_list(self.optimizers())
        k = self.cfg.accumulate
        if k > 1:  # one optimiser (checked in configure_optimizers): the gradients of k batches, summed
            opt, name = optimizers[0], self.group_names[0]
            opt.zero_grad(set_to_none=True)
            for part in range(k):
                x, y, extra = self._batch(part)
                losses, logs = self.method.loss(x, y, step, **extra)
                if name in losses:
                    self.manual_backward(losses[name] / k)
            self._step(opt)
        else:
            x, y, extra = self._batch()
            losses, logs = self.method.loss(x, y, step, **extra)
            for name, opt in zip(self.group_names, optimizers, strict=True):
                if name not in losses:
                    continue
                opt.zero_grad(set_to_none=True)
                self.manual_backward(losses[name])
                self._step(opt)
        schedulers = _as_list(self.lr_schedulers())
        for scheduler in schedulers:
            scheduler.step()
        if schedulers:
            logs = {**logs, "lr": optimizers[0].param_groups[0]["lr"]}
        self.ema.update_parameters(self.method)
        self.step += 1
        logs = {k: float(v) for k, v in logs.items()}
        logs.update({f"loss_{k}" if k != "model" else "loss": float(v.detach()) for k, v in losses.items()})
        self.last_logs = logs  # RunFolder logs them, with everything else a run folder gets

    def on_train_start(self):
        if self._restored_rng is not None:
            _set_rng_state(self._restored_rng)
            self._apply_new_lr()

    def _apply_new_lr(self) -> None:
        """A resumed run asked for another learning rate (`--resume RUN --lr X`): the restored optimisers (and their
        schedules' base rates) take the config's, keeping Adam's moments."""
        optimizers, schedulers = _as_list(self.optimizers()), _as_list(self.lr_schedulers())
        for name, opt in zip(self.group_names, optimizers, strict=True):
            lr = self.method.optimizer_options(name)["lr"]
            for group in opt.param_groups:
                factor = group["lr"] / group["initial_lr"] if group.get("initial_lr") else 1.0  # a schedule's factor
                group["lr"] = lr * factor
                if "initial_lr" in group:
                    group["initial_lr"] = lr
        for scheduler in schedulers:
            scheduler.base_lrs = [group["initial_lr"] for group in scheduler.optimizer.param_groups]

    # ---- exact resume: RNG and batch-order state ride along in the checkpoint ------------------------------

    def on_save_checkpoint(self, checkpoint):
        checkpoint["glyphgen"] = {"rng": _get_rng_state(), "step": int(self.step)}

    def on_load_checkpoint(self, checkpoint):
        self._restored_rng = checkpoint["glyphgen"]["rng"]

    def train_dataloader(self):
        return torch.utils.data.DataLoader(_Steps(), batch_size=None)


class RunFolder(L.Callback):
    """Everything a run does besides optimising, as a Lightning callback: the progress bar, metrics.jsonl, sample
    grids every `sample_every` steps, checkpoints (last.ckpt) and the EMA export (model/) every `checkpoint_every`
    steps and at the end, the noising/denoising strip, and a clean stop on Ctrl-C or SIGTERM (after the step in
    flight, with a checkpoint). Files are written by rank 0; the checkpoint by every rank, as Lightning wants."""

    def __init__(self, run_dir: Path | None, train_cfg, evaluate=None, evaluate_every: int = 0):
        self.run_dir = run_dir
        self.cfg = train_cfg
        self.evaluate, self.evaluate_every = evaluate, evaluate_every  # see fit()
        self.stop_signal = None
        self._metrics = None
        self._bar = None
        self._previous_handlers: dict = {}

    def on_train_start(self, trainer, module):
        self._t_last = self._t_step = time.perf_counter()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread (e.g. some launchers): keep the default behaviour
                pass
        if trainer.is_global_zero:
            if self.run_dir:
                _drop_records_after(self.run_dir / "metrics.jsonl", int(module.step))
                _remove_temporaries(self.run_dir)
            self._metrics = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") if self.run_dir else None
            self._bar = tqdm(
                total=self.cfg.steps,
                initial=int(module.step),
                desc=f"train {module.method.family}",
                unit="step",
                dynamic_ncols=True,
            )
        if int(module.step) >= self.cfg.steps:
            # A run killed after its last checkpoint but before that step's export: the export is made now, so
            # model/ always holds the weights of the last checkpoint once the run is done.
            self.export(trainer, module, int(module.step), self.run_dir / "model" if self.run_dir else None)
            trainer.should_stop = True

    def _on_signal(self, signum, frame):
        self.stop_signal = signum

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        step, logs = int(module.step), module.last_logs
        now = time.perf_counter()
        module.train_seconds += now - self._t_step
        self._t_step = now
        done = step >= self.cfg.steps
        stop = self.stop_signal is not None
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in list(logs.items())[:3]})
        if trainer.is_global_zero and (step % self.cfg.log_every == 0 or done):
            steps_since = step % self.cfg.log_every or self.cfg.log_every
            record = {
                "step": step,
                **logs,
                # every rank trains its own batch each step: the run's throughput counts them all
                "images_per_s": round(steps_since * self.cfg.batch_size * trainer.world_size / (now - self._t_last), 2),
                "elapsed_s": round(float(module.train_seconds), 1),
            }
            self._t_last = now
            if self._metrics:
                self._metrics.write(json.dumps(record) + "\n")
                self._metrics.flush()
            for logger in trainer.loggers:  # CSV / TensorBoard: the same record, written out at once
                logger.log_metrics({k: v for k, v in record.items() if k != "step"}, step=step)
                logger.save()
        if self.evaluate and trainer.is_global_zero and (step % self.evaluate_every == 0 or done):
            self.write_scores(module, step)
        if self.cfg.sample_every and step % self.cfg.sample_every == 0 and not done:
            self.write_samples(trainer, module, step)
        if step % self.cfg.checkpoint_every == 0 or done or stop:
            self.save(trainer, module, step)
        if self.cfg.snapshot_every and step % self.cfg.snapshot_every == 0:
            self.snapshot(trainer, module, step)
        if done or stop:
            trainer.should_stop = True

    def save(self, trainer, module, step: int):
        if self.run_dir is None:
            return
        # weights_only=False here means "the full training state" (optimisers, RNG), not unpickling.
        trainer.save_checkpoint(self.run_dir / "checkpoints" / "last.ckpt", weights_only=False)
        self.export(trainer, module, step, self.run_dir / "model")

    def export(self, trainer, module, step: int, folder: Path | None):
        """The EMA weights as a model folder (safetensors + config.json), written by rank 0."""
        if folder is not None and trainer.is_global_zero:
            from glyphgen.checkpoint import export

            export(
                module.ema.module,
                folder,
                module.classes if module.method.num_classes else None,
                extra={
                    **module.meta,
                    "step": step,
                    "run": self.run_dir.name,
                    "train_seconds": round(float(module.train_seconds), 1),
                },
            )

    def snapshot(self, trainer, module, step: int):
        """A kept export of this step in snapshots/stepNNNNNNN: written whole in a hidden folder, then renamed, so a
        snapshot folder is never half written."""
        if self.run_dir is None or not trainer.is_global_zero:
            return
        import shutil

        final = self.run_dir / "snapshots" / f"step{step:07d}"
        tmp = final.with_name(f".{final.name}{SNAPSHOT_TEMP}")
        shutil.rmtree(tmp, ignore_errors=True)
        self.export(trainer, module, step, tmp)
        shutil.rmtree(final, ignore_errors=True)  # the same step's snapshot, from a run killed after writing it
        tmp.rename(final)

    @torch.no_grad()
    def write_scores(self, module, step: int):
        """The caller's evaluation of the EMA model (a held-out accuracy, say): a record of metrics.jsonl and a line
        under the progress bar. The time it takes is not counted as training time."""
        t0 = time.perf_counter()
        model = module.ema.module
        was_training = model.training
        model.eval()
        scores = {k: float(v) for k, v in self.evaluate(model).items()}
        model.train(was_training)
        if self._metrics:
            self._metrics.write(json.dumps({"step": step, **scores}) + "\n")
            self._metrics.flush()
        if self._bar is not None:
            self._bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()))
        spent = time.perf_counter() - t0
        self._t_step += spent
        self._t_last += spent

    def write_samples(self, trainer, module, step: int):
        if self.run_dir is None or not trainer.is_global_zero or not module.method.capabilities().generates:
            return  # a classifier (the recogniser) draws nothing
        from glyphgen.images import save_grid

        seeds = list(range(self.cfg.n_samples))
        labels = None
        if module.method.capabilities().takes_labels:
            labels = torch.arange(self.cfg.n_samples) % max(1, module.method.num_classes)
        model = module.ema.module
        was_training = model.training
        model.eval()
        samples = model.sample(seeds, labels)
        model.train(was_training)
        save_grid(samples, self.run_dir / "samples" / f"step{step:07d}.png")

    def write_strip(self, trainer, module):
        """The forward-noising / reverse-denoising figure (dream and ddpm), from the first glyph of the set."""
        from glyphgen.figures import denoising_strip, has_strip

        model = module.ema.module
        if self.run_dir is None or not trainer.is_global_zero or not has_strip(model):
            return
        x0 = module.images[0].float().div(255.0)
        label = int(module.labels[0]) if module.method.num_classes else None
        model.eval()
        denoising_strip(model, x0, self.run_dir / "samples" / "strip.png", label=label)

    def _close(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers = {}
        if self._bar is not None:
            self._bar.close()  # ends the bar's line, so an error message starts a line of its own
            self._bar = None
        if self._metrics:
            self._metrics.close()
            self._metrics = None

    def on_exception(self, trainer, module, exception):
        self._close()

    def on_train_end(self, trainer, module):
        self._close()
        module.stopped_by = self.stop_signal
        if trainer.world_size > 1:
            module.ranks_agree = _ranks_agree(trainer, module)
        if self.stop_signal is None:
            self.write_samples(trainer, module, int(module.step))
            self.write_strip(trainer, module)


def _loggers(which: str, run_dir: Path | None) -> list:
    """Lightning's CSV and TensorBoard loggers under run_dir/logs (see TrainConfig.loggers)."""
    if run_dir is None or which == "none":
        return []
    chosen = {part.strip() for part in which.split(",")}
    tensorboard = "tensorboard" in chosen
    if chosen == {"auto"}:
        import importlib.util

        chosen = {"csv"}
        tensorboard = any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX"))
    # one version folder per start of the run, shared by both loggers
    version = len(list((run_dir / "logs").glob("version_*")))
    loggers = []
    if "csv" in chosen:
        from lightning.pytorch.loggers import CSVLogger

        loggers.append(CSVLogger(run_dir, name="logs", version=version))
    if tensorboard:
        try:
            from lightning.pytorch.loggers import TensorBoardLogger

            loggers.append(TensorBoardLogger(run_dir, name="logs", version=version, default_hp_metric=False))
        except ModuleNotFoundError as e:
            raise GlyphgenError(f"--loggers tensorboard needs TensorBoard: pip install tensorboard ({e})") from None
    return loggers


def _as_list(x) -> list:
    """Lightning's optimizers() / lr_schedulers(): one object, a list, or None (no schedulers) -> a list."""
    return [] if x is None else x if isinstance(x, list) else [x]


SNAPSHOT_TEMP = ".tmp"  # suffix of a snapshot folder being written


def _remove_temporaries(run_dir: Path) -> None:
    """What writers killed mid-write left in a run folder (hidden temporaries; a half-written snapshot folder).
    Called as training starts, when this process is the run folder's only writer."""
    import shutil

    from glyphgen.atomic import remove_temporaries

    for folder in (run_dir, run_dir / "checkpoints", run_dir / "model", run_dir / "samples"):
        remove_temporaries(folder)
    for tmp in (run_dir / "snapshots").glob(f".step*{SNAPSHOT_TEMP}"):
        shutil.rmtree(tmp, ignore_errors=True)


def _drop_records_after(path: Path, step: int) -> None:
    """A resumed run starts from its checkpoint's step: the records a killed run logged after that checkpoint
    are dropped, so metrics.jsonl holds each step once (rewritten atomically)."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a kill
        if isinstance(record, dict) and record.get("step", 0) <= step:
            kept.append(line)
    if len(kept) != len(lines):
        from glyphgen.atomic import write_text

        write_text(path, "".join(line + "\n" for line in kept))


def _lr_factor(warmup: int, schedule: str, steps: int):
    """The learning rate's factor at optimiser step n: linear warm-up over `warmup` steps, then constant or a cosine
    decay reaching 0 at `steps` (computed from the run's current --steps, so extending a run stretches the decay)."""
    import math

    def factor(n: int) -> float:
        if warmup and n < warmup:
            return (n + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (n - warmup) / max(1, steps - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _device_count(devices, accelerator: str) -> int:
    """How many processes Lightning will start on this node for `devices` (a count, "auto", or a list "0,1")."""
    if isinstance(devices, int):
        return devices
    if devices == "auto":
        gpu = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
        return max(1, torch.cuda.device_count()) if gpu else 1
    return len([d for d in str(devices).split(",") if d.strip()])


def _ranks_agree(trainer, module) -> bool:
    """Whether every process holds the same weights (DDP all-reduces gradients, so they must): a checksum of the
    parameters per rank, gathered. A mismatch is an error, since the export comes from rank 0 alone."""
    with torch.no_grad():
        mine = torch.stack([torch.cat([p.detach().double().flatten() for p in module.method.parameters()]).sum()])
    sums = trainer.strategy.all_gather(mine.to(module.device)).flatten().cpu()
    if not torch.allclose(sums, sums[0].expand_as(sums), rtol=1e-9, atol=1e-9):
        raise GlyphgenError(f"the {trainer.world_size} processes ended with different weights: {sums.tolist()}")
    return True


def _warmup_ema(decay: float):
    """EMA with the decay warming up as min(decay, (1 + n) / (10 + n)) over the n-th update (TensorFlow's
    ExponentialMovingAverage with num_updates): a fixed 0.999 would keep 74% of the random initial weights after
    300 steps, so the samples of short runs would show nothing the model learned."""

    def update(ema_params, params, num_averaged):
        n = float(num_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        for e, p in zip(ema_params, params, strict=True):
            if e.is_floating_point():
                e.lerp_(p, weight)
            else:  # integer buffers (BatchNorm's num_batches_tracked) are counts, not weights
                e.copy_(p)

    return update


def _get_rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _quiet_lightning():
    # Lightning's start-up banners (GPU/TPU availability, tips) and a deprecation warning from its own pytree
    # helper say nothing about the run; our progress bar and metrics.jsonl do.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # a distillation's teacher stays in eval mode on purpose
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")


def fit(
    method: Method,
    glyphs: GlyphSet,
    train_cfg,
    run_dir: Path | None,
    *,
    resume: Path | None = None,
    use_labels: bool = False,
    meta: dict | None = None,
    evaluate: Callable[[Method], dict[str, float]] | None = None,
    evaluate_every: int = 0,
) -> GlyphModule:
    """Train `method` on `glyphs` for `train_cfg.steps` steps (continuing from `resume`, a last.ckpt).

    evaluate: scores of the EMA method (e.g. a classifier's held-out accuracy), logged every `evaluate_every` steps
    and at the end."""
    _quiet_lightning()
    if train_cfg.threads:
        torch.set_num_threads(train_cfg.threads)
    torch.manual_seed(train_cfg.seed)
    if train_cfg.channels_last:
        method = method.to(memory_format=torch.channels_last)
    # Before the EMA copy is made; a resumed run recomputes the same buffers, then loads them from the checkpoint.
    method.prepare(
        torch.from_numpy(glyphs.images),
        torch.from_numpy(glyphs.labels),
        styles=None if glyphs.styles is None else torch.from_numpy(glyphs.styles),
        content=None if glyphs.content is None else torch.from_numpy(glyphs.content),
    )
    module = GlyphModule(method, glyphs, train_cfg, run_dir, use_labels, meta)
    strategy = train_cfg.strategy
    devices = train_cfg.devices
    devices = int(devices) if devices.isdigit() else devices
    several = _device_count(devices, train_cfg.accelerator) > 1 or train_cfg.num_nodes > 1
    if strategy == "ddp" or (strategy == "auto" and several):
        # Families with several parameter groups (gan) step one group at a time, so some parameters get no gradient
        # in a step; plain DDP would stop with an error, so DDP for them tolerates unused parameters.
        strategy = "ddp_find_unused_parameters_true" if len(method.param_groups()) > 1 else "ddp"
    trainer = L.Trainer(
        max_epochs=-1,
        max_steps=-1,
        accelerator=train_cfg.accelerator,
        devices=devices,
        num_nodes=train_cfg.num_nodes,
        strategy=strategy,
        precision=train_cfg.precision,
        logger=_loggers(train_cfg.loggers, run_dir) or False,
        enable_checkpointing=False,  # checkpoints follow the method's own step count (see GlyphModule.save)
        enable_progress_bar=False,  # our bar knows the total number of steps and the ETA
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=str(run_dir) if run_dir else None,
        callbacks=[RunFolder(run_dir, train_cfg, evaluate, evaluate_every)],
        plugins=[AtomicCheckpointIO()],
    )
    try:
        trainer.fit(module, ckpt_path=str(resume) if resume else None, weights_only=True)  # never runs code on load
    except RuntimeError as e:
        if "state_dict" not in str(e):
            raise
        first = next((line.strip() for line in str(e).splitlines()[1:] if line.strip()), str(e))
        raise GlyphgenError(f"checkpoint {resume} does not fit this model ({first[:200]})") from None
    return module


def resume_checkpoint(folder: Path) -> Path:
    """The checkpoint to resume from in a run's checkpoints/ folder: last.ckpt when it reads, else previous.ckpt
    (with a warning naming what was wrong); neither readable is a one-line error."""
    problems = []
    for name in ("last.ckpt", PREVIOUS):
        path = folder / name
        if not path.is_file():
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            step = int(state["glyphgen"]["step"])
        except Exception as e:  # noqa: BLE001 - any failure to read means: not this file
            problems.append(f"{path.name}: {str(e).splitlines()[0][:120] if str(e) else type(e).__name__}")
            continue
        if problems:
            warnings.warn(f"{problems[0]}; resuming from {path.name} (step {step}) instead", stacklevel=2)
        return path
    raise GlyphgenError(f"no readable checkpoint in {folder} ({'; '.join(problems) or 'none there'})")
