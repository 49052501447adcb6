"""The one trainer on real glyphs with tiny models: run folder, exact resume, export round trip, signals, DDP."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from glyphgen import checkpoint, runs
from glyphgen.errors import GlyphgenError

TINY = {
    "dream": ["--base-features", "2", "--levels", "2", "--kT-steps", "3", "--num-cycles", "1"],
    "ddpm": ["--widths", "8,16", "--attention", "", "--sample-steps", "3"],
    "vae": ["--latent", "8", "--base-width", "4", "--depth", "2"],
    "cvae": ["--latent", "4", "--width", "4", "--hidden", "8"],
    "gan": ["--latent", "8", "--base-width", "4", "--d-steps", "1"],
}
DATA = {"source": "kanjivg", "charset": "永字八法和平山川日月", "size": 16}


def _run(tmp_path, name, steps, family="vae", resume=False, **train):
    """Train a tiny `family` model on 10 real KanjiVG glyphs for `steps` steps (or resume the run `name`)."""
    train = {
        "steps": steps,
        "batch_size": 4,
        "out": str(tmp_path),
        "name": name,
        "checkpoint_every": 2,
        "sample_every": 0,
        "log_every": 1,
        **train,
    }
    run_dir = tmp_path / name
    if resume:
        cfg = runs.resolve(None, str(run_dir / "config.yaml"), {}, {"steps": steps}, [])
    else:
        cfg = runs.resolve(family, None, DATA, train, TINY[family])
        run_dir = runs.make_run_dir(cfg)
    module = runs.train(cfg, run_dir, resume=resume)
    return module, run_dir


def _state(module):
    """Everything a resumed run must reproduce (wall-clock seconds differ by nature)."""
    return {k: v.clone() for k, v in module.state_dict().items() if k != "train_seconds"}


def test_run_folder_and_metrics(tmp_path):
    module, run_dir = _run(tmp_path, "a", 3, snapshot_every=2)
    assert int(module.step) == 3
    snapshots = sorted(p.name for p in (run_dir / "snapshots").iterdir())
    assert snapshots == ["step0000002"]  # the export of step 2 kept; step 3 is only in model/
    assert json.loads((run_dir / "snapshots" / "step0000002" / "config.json").read_text())["step"] == 2
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "checkpoints/last.ckpt",
        "model/model.safetensors",
        "model/config.json",
    ):
        assert (run_dir / name).is_file(), name
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3] and all("loss" in r for r in lines)
    elapsed = [r["elapsed_s"] for r in lines]
    assert elapsed == sorted(elapsed)  # cumulative training time, exported for the model card
    assert json.loads((run_dir / "model" / "config.json").read_text())["train_seconds"] >= elapsed[-1]
    assert list((run_dir / "samples").glob("*.png"))  # the end-of-run grid


def test_resume_equals_uninterrupted_run(tmp_path):
    straight, _ = _run(tmp_path, "straight", 4)
    _run(tmp_path, "split", 2)
    resumed, _ = _run(tmp_path, "split", 4, resume=True)
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    assert 0 < float(resumed.train_seconds) and "train_seconds" in straight.state_dict()  # summed over both parts
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    sa = straight.optimizers().optimizer.state_dict() if hasattr(straight.optimizers(), "optimizer") else None
    assert sa is None or sa["state"]


@pytest.mark.parametrize("family", list(TINY))
def test_every_family_trains_exports_and_loads_identically(tmp_path, family):
    conditional = family in ("ddpm", "gan")
    module, run_dir = _run(tmp_path, family, 3, family=family, conditional=conditional)
    method, meta = checkpoint.load(run_dir / "model")
    assert meta["family"] == family and meta["step"] == 3 and meta["data"]["charset"] == DATA["charset"]
    assert meta["classes"] == (list(DATA["charset"]) if family in ("ddpm", "gan", "cvae") else [])
    labels = torch.tensor([0, 4, 9]) if meta["num_classes"] else None
    ema = module.ema.module.eval()
    samples = method.sample([1, 2, 3], labels)
    assert samples.shape == (3, 1, 16, 16) and 0 <= samples.min() and samples.max() <= 1
    torch.testing.assert_close(samples, ema.sample([1, 2, 3], labels), rtol=0, atol=0)
    assert (run_dir / "samples" / "strip.png").is_file() == (family in ("dream", "ddpm"))


def test_bad_checkpoints_are_one_line_errors(tmp_path):
    _, run_dir = _run(tmp_path, "bad", 2)
    model = run_dir / "model"
    weights = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(GlyphgenError, match="corrupt or truncated"):
        checkpoint.load(model)
    (model / "model.safetensors").write_bytes(weights)
    config = json.loads((model / "config.json").read_text())
    config["config"]["latent"] = 16  # another shape than the weights
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(GlyphgenError, match="does not fit"):
        checkpoint.load(model)
    with pytest.raises(GlyphgenError, match="not gan"):
        checkpoint.load(model, expect_family="gan")
    with pytest.raises(GlyphgenError, match="not an exported model"):
        checkpoint.load(tmp_path)


def test_existing_run_is_not_overwritten(tmp_path):
    _run(tmp_path, "keep", 2)
    with pytest.raises(GlyphgenError, match="--resume"):
        _run(tmp_path, "keep", 2)


def test_method_options_are_typed_and_checked():
    from glyphgen.methods import get_family

    cfg = runs.parse_method_args(get_family("vae").config_class, "vae", ["--latent", "12", "--beta=0.5"])
    assert cfg == {"latent": 12, "beta": 0.5}
    dream = get_family("dream").config_class
    for args, expect in (
        (["--faithful", "false", "--levels", "3"], {"faithful": False, "levels": 3}),
        (["--faithful=no"], {"faithful": False}),
        (["--no-faithful"], {"faithful": False}),
        (["--faithful", "--levels", "3"], {"faithful": True, "levels": 3}),
        (["--faithful"], {"faithful": True}),
    ):
        assert runs.parse_method_args(dream, "dream", args) == expect, args
    with pytest.raises(GlyphgenError, match="does not apply to the vae family"):
        runs.parse_method_args(get_family("vae").config_class, "vae", ["--prediction", "v"])
    with pytest.raises(GlyphgenError, match="cannot read"):
        runs.parse_method_args(get_family("vae").config_class, "vae", ["--latent", "many"])
    with pytest.raises(GlyphgenError, match="unknown model family"):
        runs.resolve("flow", None, {}, {}, [])


def _cli(*args, env=None, **kw):
    cmd = [sys.executable, "-m", "glyphgen.cli", *args]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, **kw
    )


def _train_args(tmp_path, name: str, steps: int, *extra: str) -> list[str]:
    """`glyphgen train` arguments for a tiny vae on the test glyphs, run folder tmp_path/name."""
    fixed = f"train --model vae --size 16 --batch-size 4 --sample-every 0 --steps {steps} --name {name}".split()
    return [*fixed, "--charset", DATA["charset"], "--out", str(tmp_path), *extra, *TINY["vae"]]


def test_sigterm_checkpoints_then_resume_finishes(tmp_path):
    args = _train_args(tmp_path, "sig", 100000, "--checkpoint-every", "100000", "--log-every", "1")
    proc = _cli(*args)
    metrics = tmp_path / "sig" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]  # told apart from a finished run
    assert "stopped by SIGTERM at step" in out and "--resume" in out
    ckpt = tmp_path / "sig" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and (tmp_path / "sig" / "model" / "config.json").is_file()
    step = json.loads((tmp_path / "sig" / "model" / "config.json").read_text())["step"]
    assert 2 <= step < 100000
    with open(metrics, "a") as f:  # what a run killed after its checkpoint had logged beyond it
        f.write(json.dumps({"step": step + 1, "loss": 9.0}) + "\n" + '{"step": ')
    resumed = _cli("train", "--resume", str(tmp_path / "sig"), "--steps", str(step + 2))
    out, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err[-2000:]
    assert f"to step {step + 2}" in out
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == step + 2  # each step once
    assert 9.0 not in [json.loads(line)["loss"] for line in metrics.read_text().splitlines()]


@pytest.mark.parametrize("family", ["vae", "gan"])
def test_two_process_ddp_on_cpu_with_the_default_strategy(tmp_path, family):
    """Two processes, Lightning's default strategy: the ranks end with identical weights, one of them reports,
    and the run resumes under DDP (gan: two parameter groups stepped in turn, so some get no gradient)."""
    fixed = f"train --model {family} --size 16 --batch-size 4 --sample-every 0 --name ddp --log-every 1".split()
    args = [*fixed, "--charset", DATA["charset"], "--out", str(tmp_path), "--devices", "2", "--accelerator", "cpu"]
    args += TINY[family]
    port = {"vae": "29517", "gan": "29519"}[family]
    proc = _cli(*args, "--steps", "2", env={"MASTER_PORT": port})
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert out.count("trained ") == 1 and "to step 2" in out and "2 processes, identical weights" in out
    assert (tmp_path / "ddp" / "model" / "model.safetensors").is_file()
    again = _cli("train", "--resume", str(tmp_path / "ddp"), "--steps", "2")
    _, err = again.communicate(timeout=120)
    assert again.returncode != 0 and "has trained 2 steps already and 2 are asked for" in err
    resumed = _cli("train", "--resume", str(tmp_path / "ddp"), "--steps", "3", env={"MASTER_PORT": port})
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert "to step 3" in out and "identical weights" in out
    assert "Traceback" not in err and "grad strides" not in err


def test_learning_rate_warm_up_and_cosine_decay_resume_exactly(tmp_path):
    sched = {"lr_warmup": 2, "lr_schedule": "cosine"}
    straight, run_dir = _run(tmp_path, "straight", 4, **sched)
    lrs = [json.loads(line)["lr"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    base = 1e-3  # the vae's default lr; logged after each step: the rate of the next one
    assert lrs == pytest.approx([base, base, base / 2, 0.0], abs=1e-12)
    _run(tmp_path, "split", 2, **sched)
    resumed, _ = _run(tmp_path, "split", 4, resume=True)
    a, b = _state(straight), _state(resumed)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_gradient_clipping_reaches_the_optimiser_and_accumulation_sums_batches(tmp_path):
    free, _ = _run(tmp_path, "free", 1)
    clipped, _ = _run(tmp_path, "clipped", 1, grad_clip=1e-12)
    start = {k: v for k, v in _run(tmp_path, "start", 1, lr_warmup=10**6)[0].method.state_dict().items()}
    moved = {k: (free.method.state_dict()[k] - v).abs().max() for k, v in start.items() if v.is_floating_point()}
    barely = {k: (clipped.method.state_dict()[k] - v).abs().max() for k, v in start.items() if v.is_floating_point()}
    assert max(moved.values()) > 1e-4 and max(barely.values()) < 1e-6  # Adam's eps swamps a gradient clipped to 1e-12
    module, run_dir = _run(tmp_path, "acc", 2, accumulate=3)
    assert int(module.step) == 2
    with pytest.raises(GlyphgenError, match="accumulate applies to families with one optimiser"):
        _run(tmp_path, "gan-acc", 1, family="gan", accumulate=2)


def test_the_previous_checkpoint_is_kept_and_a_damaged_last_one_falls_back_to_it(tmp_path):
    _, run_dir = _run(tmp_path, "keep2", 4)  # checkpoints at steps 2 and 4
    ckpts = run_dir / "checkpoints"
    steps = {n: torch.load(ckpts / n, weights_only=True)["glyphgen"]["step"] for n in ("last.ckpt", "previous.ckpt")}
    assert steps == {"last.ckpt": 4, "previous.ckpt": 2}
    assert sorted(p.name for p in ckpts.iterdir()) == ["last.ckpt", "previous.ckpt"]  # no temporaries
    data = (ckpts / "last.ckpt").read_bytes()
    (ckpts / "last.ckpt").write_bytes(data[: len(data) // 3])  # what a kill -9 mid-copy once left
    with pytest.warns(UserWarning, match="resuming from previous.ckpt \\(step 2\\)"):
        module, _ = _run(tmp_path, "keep2", 5, resume=True)
    assert int(module.step) == 5
    for name in ("last.ckpt", "previous.ckpt"):
        (ckpts / name).write_bytes(b"")
    with pytest.raises(GlyphgenError, match="no readable checkpoint in"):
        _run(tmp_path, "keep2", 6, resume=True)


def test_a_checkpoint_of_another_model_is_a_one_line_error(tmp_path):
    import shutil

    _, a = _run(tmp_path, "a", 2)
    _, b = _run(tmp_path, "b", 2, family="ddpm")
    shutil.copy(b / "checkpoints" / "last.ckpt", a / "checkpoints" / "last.ckpt")
    with pytest.raises(GlyphgenError, match="does not fit this model"):
        _run(tmp_path, "a", 3, resume=True)


def test_a_resumed_run_takes_a_new_learning_rate(tmp_path):
    args = _train_args(tmp_path, "lr", 2, "--checkpoint-every", "2", "--log-every", "1", "--lr-warmup", "1")
    first = _cli(*args)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-2000:]
    resumed = _cli("train", "--resume", str(tmp_path / "lr"), "--steps", "3", "--lr", "0.0123")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err[-2000:]
    assert "0.0123" in (tmp_path / "lr" / "config.yaml").read_text()
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "lr" / "metrics.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([1e-3, 1e-3, 0.0123])  # the optimiser itself took it (warm-up over after step 1)
    refused = _cli("train", "--resume", str(tmp_path / "lr"), "--steps", "4", "--latent", "16")
    _, err = refused.communicate(timeout=120)
    assert refused.returncode != 0 and "only training options and --lr may change" in err


def test_csv_and_tensorboard_loggers_get_every_record_one_version_per_start(tmp_path):
    import csv

    _, run_dir = _run(tmp_path, "logs", 3, loggers="csv,tensorboard")
    _run(tmp_path, "logs", 5, resume=True)
    first, second = run_dir / "logs" / "version_0", run_dir / "logs" / "version_1"
    rows = list(csv.DictReader((first / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3] and all(float(r["loss"]) > 0 for r in rows)
    assert [int(r["step"]) for r in csv.DictReader((second / "metrics.csv").open())] == [4, 5]
    assert list(first.glob("events.out.tfevents.*"))  # TensorBoard's event file beside the CSV

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(first))
    events.Reload()
    assert [e.step for e in events.Scalars("loss")] == [1, 2, 3]
    with pytest.raises(GlyphgenError, match="loggers 'csv,wandb'"):
        _run(tmp_path, "bad", 1, loggers="csv,wandb")
