"""The few-step student: its grid is the sampler's, its target is the teacher's DDIM path, and a distillation run is a
resumable run whose export is a DDPM that samples in the student's steps."""

import json

import pytest
import torch

from glyphgen import cards, checkpoint, runs
from glyphgen.errors import GlyphgenError
from glyphgen.methods.base import generators
from glyphgen.methods.ddpm import DDPM, DDPMConfig, noise_scheduler, sample_loop, sampler_scheduler, trailing_grid
from glyphgen.methods.distill import Distill, DistillConfig

DATA = {"source": "kanjivg", "charset": "永字八法和平山川日月", "size": 16}


def _teacher(tmp_path, prediction="v", num_classes=0, name="teacher"):
    """A small random DDPM exported with the data it claims to be trained on (what distill_config reads); its output
    layer is scaled down so that its x0 stays in [-1, 1] (a trained one's does; a random one's is clipped)."""
    torch.manual_seed(0)
    config = DDPMConfig(prediction=prediction, widths=(8, 16), attention=(), blocks=1, sample_steps=4)
    teacher = DDPM(config, (1, 16, 16), num_classes)
    with torch.no_grad():
        for name_, p in teacher.named_parameters():
            if "conv_out" in name_:
                p.mul_(0.1)
    classes = list(DATA["charset"]) if num_classes else None
    extra = {"data": DATA, "train": {"steps": 1}, "step": 1}
    return checkpoint.export(teacher, tmp_path / name, classes, extra=extra)


@pytest.mark.parametrize("steps", [1, 2, 4, 8])
def test_the_grid_is_the_ddim_samplers(steps):
    scheduler = sampler_scheduler("ddim", noise_scheduler(DDPMConfig()))
    scheduler.set_timesteps(steps)
    grid = trailing_grid(1000, steps)
    assert grid[:-1].tolist() == scheduler.timesteps.tolist() and grid[-1] == -1


def test_the_teachers_path_is_its_dpm_solver_samplers(tmp_path):
    """One student step over the whole trajectory: the target is what the teacher's own dpm++ sampler (diffusers')
    draws in teacher_steps steps from the same start, so the row-by-row solver is that sampler."""
    method = Distill(DistillConfig(teacher=str(_teacher(tmp_path)), student_steps=1, teacher_steps=10), (1, 16, 16))
    teacher = method.teacher
    x_T = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    t, s = torch.full((3,), 999), torch.full((3,), -1)
    ours = method.teacher_target(x_T, t, s, None)
    scheduler = sampler_scheduler("dpm++", teacher.noise)
    scheduler.set_timesteps(10)
    theirs = sample_loop(teacher.denoise, scheduler, x_T, generators([0, 1, 2]), None, 1.0, 0)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_a_one_step_teacher_is_its_own_target(tmp_path):
    """With as many teacher steps as student steps, the target of the teacher's copy is its own prediction (loss 0 up
    to rounding); more teacher steps give a real target."""
    folder = _teacher(tmp_path)
    same = Distill(DistillConfig(teacher=str(folder), student_steps=1, teacher_steps=1), (1, 16, 16))
    x = torch.rand(8, 1, 16, 16)
    torch.manual_seed(1)
    assert same.loss(x, None, 0)[0]["model"].item() < 1e-9
    longer = Distill(DistillConfig(teacher=str(folder), student_steps=1, teacher_steps=4), (1, 16, 16))
    torch.manual_seed(1)
    assert longer.loss(x, None, 0)[0]["model"].item() > 1e-4


def test_training_lowers_the_distillation_loss(tmp_path):
    method = Distill(DistillConfig(teacher=str(_teacher(tmp_path)), student_steps=2, teacher_steps=4), (1, 16, 16))
    opt = torch.optim.Adam(method.param_groups()["model"], lr=3e-3)
    x = torch.rand(8, 1, 16, 16)

    def loss():
        torch.manual_seed(2)  # the same noise and timesteps each time
        return method.loss(x, None, 0)[0]["model"]

    first = loss().item()
    for _ in range(30):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.5 * first
    assert all(p.grad is None for p in method.teacher.parameters())  # the teacher never learns


def test_teachers_it_cannot_distil(tmp_path):
    with pytest.raises(GlyphgenError, match="needs a v-predicting teacher"):
        Distill(DistillConfig(teacher=str(_teacher(tmp_path, prediction="eps"))), (1, 16, 16))
    with pytest.raises(GlyphgenError, match="distil on the teacher's own data"):
        Distill(DistillConfig(teacher=str(_teacher(tmp_path, name="t2"))), (1, 32, 32))
    with pytest.raises(GlyphgenError, match="multiple of student_steps"):
        DistillConfig(student_steps=4, teacher_steps=6)
    with pytest.raises(GlyphgenError, match="a student takes 1, 2, 4, 8 steps"):
        DistillConfig(student_steps=3)
    assert [DistillConfig(student_steps=n).teacher_steps for n in (1, 2, 4, 8)] == [10, 10, 24, 48]


def test_a_distillation_run_exports_a_ddpm_that_samples_in_its_steps(tmp_path):
    teacher = _teacher(tmp_path, num_classes=10)
    train = {"steps": 3, "batch_size": 4, "checkpoint_every": 2, "log_every": 1, "sample_every": 0}
    cfg = runs.distill_config(str(teacher), tmp_path / "student", 2, 4, 2.0, None, train)
    assert cfg.model == "distill" and cfg.train.conditional and cfg.data.charset == DATA["charset"]
    run_dir = runs.make_run_dir(cfg)
    runs.train(cfg, run_dir)
    student, meta = checkpoint.load(run_dir / "model")
    assert meta["family"] == "ddpm" and meta["classes"] == list(DATA["charset"])
    assert meta["sampling"] == {"sampler": "ddim", "steps": 2, "guidance": 1.0}
    assert meta["distilled"]["guidance"] == 2.0 and meta["distilled"]["teacher_steps"] == 4
    assert meta["config"]["unet"] == "lean"  # carried over from the teacher's diffusers U-Net: no diffusers import
    card = cards.render(run_dir / "model")
    assert "- **sampling**: sampler ddim, steps 2, guidance 1.0" in card
    assert f"- **distilled** from `{teacher}` (its step 1): each of its 2 DDIM steps covers 2 of the teacher's" in card
    options = student.sample_options()
    assert (options.sampler, options.steps, options.guidance) == ("ddim", 2, 1.0)
    images = student.sample([0, 1, 2], torch.tensor([0, 5, 9]))
    assert images.shape == (3, 1, 16, 16) and 0 <= images.min() and images.max() <= 1
    calls = []
    student.sample([0], torch.tensor([1]), callback=lambda k, x: calls.append(k))
    assert calls == [0, 1]  # two network evaluations: guidance is folded in
    # resumable like any run: `glyphgen train --resume` reads the distill family's config.yaml
    resumed = runs.resolve(None, str(run_dir / "config.yaml"), {}, {"steps": 5}, [])
    module = runs.train(resumed, run_dir, resume=True)
    assert int(module.step) == 5
    assert json.loads((run_dir / "model" / "config.json").read_text())["step"] == 5


def test_a_wrong_teacher_is_one_line_and_makes_no_run_folder(tmp_path):
    out = tmp_path / "student"
    for teacher, match in [
        ("kanji-vae", "is a vae model; distillation takes DDPM teachers"),
        (str(_teacher(tmp_path, prediction="eps")), "needs a v-predicting teacher"),
        (str(tmp_path / "nothing"), "model not found"),
    ]:
        with pytest.raises(GlyphgenError, match=match):
            runs.distill_config(teacher, out, 2, 10, None, None, {})
    assert not out.exists()
