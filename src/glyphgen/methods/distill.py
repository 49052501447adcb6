"""Distill: a few-step student of a diffusion teacher, sampled by DDIM in 1, 2 or 4 steps.

The student is a copy of the teacher (same family, network and noise process) trained so that ONE deterministic DDIM
step of its own covers what `teacher_steps / student_steps` DDIM steps of the teacher cover. This is progressive
distillation (Salimans & Ho 2022, "Progressive Distillation for Fast Sampling of Diffusion Models") with the halving
rounds collapsed into one: like TRACT (Berthelot et al. 2023) the teacher runs several steps per student step, so one
run (resumable like any other) gives the student. Per training glyph x0, for a student of n = `student_steps`:

    i ~ U{0 .. n-1}              the student step; t = grid[i], s = grid[i+1] on the "trailing" DDIM grid the
                                 sampler uses (t = 999, 499 for 2 steps; s = clean after the last one)
    x_t = alpha_t x0 + sigma_t eps                    (forward process, as in training the teacher)
    x_s* = teacher's K = teacher_steps / n DPM-Solver++(2M) steps from x_t to s  (its own sampler's steps)
    x0*  = (x_s* - (sigma_s / sigma_t) x_t) / (alpha_s - (sigma_s / sigma_t) alpha_t)
           the clean glyph whose single DDIM step t -> s lands on x_s* (Salimans & Ho, eq. 8)
    loss = max(SNR_t, 1) |x0_student(x_t, t) - x0*|^2   ("truncated SNR" weighting, Salimans & Ho, sec. 4)

The teacher must predict v (kanji-ddpm, kanji-ddpm-cond do), so the student's x0 = alpha_t x_t - sigma_t v stays well
conditioned at t = T-1, where an eps-predicting student cannot produce x0 (Salimans & Ho, sec. 4).

Guidance is folded in (Meng et al. 2023, "On Distillation of Guided Diffusion Models"): for a class-conditional
teacher the target is the teacher's guided prediction at `guidance` w, so one student evaluation per step does what
2 teacher evaluations did; labels are dropped with the teacher's `cond_drop`, whose targets are then unconditional,
so the student still samples without labels. Its export is a model of the teacher's family whose "sampling" section
says DDIM, n steps, guidance 1; `glyphgen sample` and the app use it like any other.

Written here by hand: diffusers' schedulers step one timestep for the whole batch, while a distillation batch mixes
student steps (each row its own t and s); the solver's update itself is a few lines.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch

from glyphgen.errors import GlyphgenError
from glyphgen.methods.base import Capabilities, Method, MethodConfig
from glyphgen.methods.ddpm import DDPM, drop_labels, guided_prediction, trailing_grid
from glyphgen.methods.options import DDPMOptions
from glyphgen.models.unet import DiffusersUNet

STUDENT_STEPS = (1, 2, 4, 8)


@dataclass
class DistillConfig(MethodConfig):
    """A few-step student of a DDPM teacher (progressive distillation with its rounds collapsed into one)."""

    teacher: str = "kanji-ddpm"  # the teacher: a shipped model's name, an export folder or a run folder
    student_steps: int = 2  # the student's DDIM steps (1, 2, 4 or 8)
    teacher_steps: int | None = None  # teacher DPM-Solver++ steps, a multiple of student_steps (None: see below)
    guidance: float | None = None  # guidance folded into a conditional student; None: the teacher's own default
    lr: float = 1e-4  # Adam learning rate (the student starts from the teacher's weights)

    def __post_init__(self):
        if self.student_steps not in STUDENT_STEPS:
            raise GlyphgenError(
                f"student_steps = {self.student_steps}: a student takes {', '.join(map(str, STUDENT_STEPS))} steps"
            )
        n = self.student_steps
        if self.teacher_steps is None:
            # The student can be no better than its target: the teacher's path with its solver restarted (first
            # order) at every student step. kanji-ddpm, 1,000 samples (FGD; its own 10 DPM-Solver++ steps: 12.9):
            # 2 x 5 steps 13.9, 4 x 3 15.3, 4 x 6 13.4. Hence 10 for 1 and 2 steps, 6 per step beyond.
            self.teacher_steps = 10 if n <= 2 else 6 * n
        if self.teacher_steps < n or self.teacher_steps % n or self.teacher_steps > 1000:
            raise GlyphgenError(
                f"teacher_steps = {self.teacher_steps} must be a multiple of student_steps = {n}, at most 1000"
            )
        if self.guidance is not None and not 0 <= self.guidance <= 100:
            raise GlyphgenError(f"guidance = {self.guidance} is out of range; use 0 to 100 (1 = conditional)")


def alpha_sigma(alphas_cumprod: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t), (B, 1, 1, 1), with t = -1 the clean glyph (1, 0)."""
    ab = torch.where(t >= 0, alphas_cumprod.to(t.device)[t.clamp(min=0)], torch.ones((), device=t.device))
    ab = ab.view(-1, 1, 1, 1)
    return ab.sqrt(), (1 - ab).sqrt()


class Distill(Method):
    """A few-step student of a DDPM teacher; trains the student, exports it as a model of the teacher's family."""

    family = "distill"
    config_class = DistillConfig
    options_class = DDPMOptions

    def __init__(self, config: DistillConfig, image_shape: tuple[int, int, int], num_classes: int = 0):
        super().__init__(config, image_shape, num_classes)
        # The teacher is read from disk here (an upward import, kept lazy): a run's config names it, so a resumed
        # run rebuilds the same pair. Its weights also ride in the checkpoints, which then restore them.
        from glyphgen.checkpoint import load
        from glyphgen.generate import resolve_model

        teacher, meta = load(resolve_model(config.teacher))
        if not isinstance(teacher, DDPM):
            raise GlyphgenError(f"{config.teacher} is a {teacher.family} model; distillation takes DDPM teachers")
        if teacher.config.prediction != "v":
            raise GlyphgenError(
                f"{config.teacher} predicts {teacher.config.prediction}; a few-step student needs a v-predicting "
                "teacher (an eps student cannot draw x0 from pure noise)"
            )
        if tuple(teacher.image_shape) != self.image_shape or teacher.num_classes != num_classes:
            raise GlyphgenError(
                f"the teacher draws {teacher.num_classes} classes of {teacher.image_shape} glyphs, the data gives "
                f"{num_classes} of {self.image_shape}; distil on the teacher's own data"
            )
        teacher = teacher.to(torch.device("cpu"), memory_format=torch.contiguous_format)
        self.student = copy.deepcopy(teacher).train().requires_grad_(True)
        self.teacher = teacher.eval().requires_grad_(False)
        self.student.sampling_defaults = {"sampler": "ddim", "steps": config.student_steps, "guidance": 1.0}
        self.guidance = float(teacher.sample_options().guidance if config.guidance is None else config.guidance)
        self.teacher_step = meta.get("step")
        self.register_buffer("grid", trailing_grid(teacher.config.timesteps, config.student_steps), persistent=False)

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # the teacher only ever predicts
        return self

    def param_groups(self):
        return {"model": list(self.student.parameters())}

    @torch.no_grad()
    def teacher_target(self, x_t: torch.Tensor, t: torch.Tensor, s: torch.Tensor, y) -> torch.Tensor:
        """x_s*: the teacher's K = teacher_steps / student_steps DPM-Solver++(2M) steps from x_t at t to s, row by row
        (s = -1: the clean glyph), as the teacher's own "dpm++" sampler steps: in log-SNR lambda = log(alpha/sigma),
        with h = lambda' - lambda and D the x0 extrapolated from this step's and the previous step's predictions,

            x' = (sigma'/sigma) x - alpha' (exp(-h) - 1) D,   D = (1 + 1/2r) x0 - (1/2r) x0_prev,  r = h_prev / h

        (Lu et al. 2022, DPM-Solver++(2M); first order on the first step and, as diffusers' lower_order_final, on a
        last step to the clean glyph). DDIM steps instead (first order) made a 16-step teacher draw FGD 24.6 where
        its 10-step DPM-Solver++ draws 12.9, and the student learns the teacher's path, errors included."""
        teacher, k = self.teacher, self.config.teacher_steps // self.config.student_steps
        ab = teacher.alphas_cumprod
        x, x0_prev, h_prev = x_t, None, None
        for j in range(k):
            u = (t + (s - t) * j / k).round().long()
            u_next = (t + (s - t) * (j + 1) / k).round().long()
            a, sig = alpha_sigma(ab, u)
            a_next, sig_next = alpha_sigma(ab, u_next)
            v = guided_prediction(teacher.denoise, x, u, y, self.guidance, teacher.num_classes).float()
            x0 = a * x - sig * v
            clean = sig_next == 0  # (B, 1, 1, 1): this row's last step lands on the clean glyph
            h = torch.log(a_next / sig_next.clamp(min=1e-12)) - torch.log(a / sig)
            if x0_prev is None:
                d = x0
            else:
                r = h_prev / h
                d = (1 + 0.5 / r) * x0 - (0.5 / r) * x0_prev
            step = (sig_next / sig) * x - a_next * torch.expm1(-h) * d
            x = torch.where(clean, x0, step)
            x0_prev, h_prev = x0, h
        return x

    def loss(self, x: torch.Tensor, y: torch.Tensor | None, step: int) -> tuple[dict[str, torch.Tensor], dict]:
        student = self.student
        x0 = x * 2 - 1
        b = x0.shape[0]
        i = torch.randint(0, self.config.student_steps, (b,), device=x0.device)
        t, s = self.grid[i], self.grid[i + 1]
        ab = student.alphas_cumprod
        a_t, sig_t = alpha_sigma(ab, t)
        a_s, sig_s = alpha_sigma(ab, s)
        x_t = a_t * x0 + sig_t * torch.randn_like(x0)
        labels = None
        if self.num_classes and y is not None:
            labels = drop_labels(y, student.config.cond_drop, self.num_classes)
        target_s = self.teacher_target(x_t, t, s, labels)
        ratio = sig_s / sig_t
        x0_target = (target_s - ratio * x_t) / (a_s - ratio * a_t)
        v = student.denoise(x_t, t, labels).float()
        x0_pred = a_t * x_t - sig_t * v
        weight = (a_t**2 / sig_t**2).clamp(min=1.0).flatten()  # max(SNR, 1)
        per_image = (x0_pred - x0_target).pow(2).mean(dim=(1, 2, 3)) * weight
        loss = per_image.mean()
        return {"model": loss}, {"loss": loss.item()}

    @classmethod
    def capabilities_for(cls, num_classes: int) -> Capabilities:
        return DDPM.capabilities_for(num_classes)

    @classmethod
    def options_for(cls, config: DistillConfig) -> DDPMOptions:
        return DDPMOptions(sampler="ddim", steps=config.student_steps, guidance=1.0)

    @classmethod
    def option_limits(cls, config: DistillConfig) -> dict[str, int]:
        return {"steps": 1000}

    @torch.no_grad()
    def sample(
        self,
        seeds: list[int],
        labels: torch.Tensor | None = None,
        return_trajectory: bool = False,
        callback: Callable[[int, torch.Tensor], None] | None = None,
        **options,
    ):
        """The student's samples: DDIM at the student's steps, guidance folded in (options as for a DDPM)."""
        return self.student.sample(seeds, labels, return_trajectory, callback, **options)

    def noising(self, x0: torch.Tensor, seed: int, n: int) -> list[torch.Tensor]:
        return self.student.noising(x0, seed, n)

    def for_export(self) -> tuple[Method, dict]:
        """The student, as a model of the teacher's family, with its sampling section and where it came from. A
        diffusers U-Net is carried over to the lean one (same network, outputs equal to rounding), so that sampling a
        student imports no diffusers at all: its DDIM steps need none, and the import would cost more than they do."""
        cfg = self.config
        student = self.student
        if isinstance(student.net, DiffusersUNet):
            lean = type(student)(dataclasses.replace(student.config, unet="lean"), self.image_shape, self.num_classes)
            state = {k: v for k, v in student.state_dict().items() if not k.startswith("net.")}
            state |= {f"net.{k}": v for k, v in student.net.to_lean().state_dict().items()}
            lean.load_state_dict(state)
            lean.sampling_defaults = dict(student.sampling_defaults)
            student = lean
        return student, {
            "sampling": dict(self.student.sampling_defaults),
            "distilled": {
                "teacher": cfg.teacher,
                "teacher_step": self.teacher_step,
                "teacher_steps": cfg.teacher_steps,
                "student_steps": cfg.student_steps,
                "guidance": self.guidance if self.num_classes else None,
                "method": "progressive distillation, rounds collapsed (Salimans & Ho 2022; TRACT)",
            },
        }
