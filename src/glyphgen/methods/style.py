"""Style: few-shot font and handwriting generation, any character in the style of k reference glyphs of one face.

The noise process, the loss and the samplers are the DDPM family's (`methods/ddpm.py`: diffusers' schedulers, v or eps
prediction, Min-SNR weighting, DPM-Solver++); what this family adds is what the denoiser is conditioned on:

    content  the asked-for character drawn in one neutral face (the face set's `content` face, data/faces.py),
             concatenated to x_t as an input channel: *which* character (FontDiffuser's content image, Yang et al.
             2024; zi2zi's source glyph). Stored with the weights for every character the model knows (uint8), so
             a shipped model needs no font to write.
    style    k reference glyphs of the target face (k = 1..max_refs in training, any 1..64 when writing), encoded
             one by one and averaged into a style code (models/style.py, DG-Font / FontDiffuser style encoders)
             that modulates every U-Net block through AdaGN scale and shift: *how* it is drawn.

Training (`loss`) takes a glyph of face f and character c; its references are k other characters of face f drawn
from the training set (never c itself, so copying a reference is no shortcut), with k drawn anew each step. The
training faces and characters come from the style split (data/faces.py): held-out faces and characters are never
seen. Classifier-free dropout (Ho & Salimans 2022): with probability `cond_drop` both conditions are dropped (the
unconditional model that guidance pushes away from), with probability `style_drop` only the style (so `sample()`
without references draws the character in an average style). Guidance w > 1 then samples

    pred = uncond + w * (cond - uncond)

At 64 px the U-Net works on 2x2 pixel blocks (`patch` 2, the lever of Hoogeboom et al. 2023), so a step costs about
what a 32 px step does while the 64 px glyph stays the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from glyphgen.errors import GlyphgenError
from glyphgen.methods.base import Capabilities, check_images, check_labels
from glyphgen.methods.ddpm import Diffusion, DiffusionConfig
from glyphgen.methods.options import SAMPLERS, DDPMOptions
from glyphgen.models.style import StyleEncoder

MAX_REFS = 64  # references a user may give to write(); more say nothing new about a style


@dataclass
class StyleConfig(DiffusionConfig):
    """Few-shot style diffusion: the DDPM noise process and samplers, conditioned on a content glyph and a style code
    read from k reference glyphs of one face."""

    lr: float = 5e-4  # Adam learning rate
    prediction: Literal["eps", "x0", "v"] = "v"  # what the network predicts: the noise, the clean glyph, or v
    min_snr_gamma: float = 5.0  # Min-SNR-gamma loss weighting (Hang et al. 2023); 0 = off
    widths: tuple[int, ...] = (32, 64, 128)  # U-Net channels per level (of the patch-folded glyph)
    blocks: int = 1  # residual blocks per U-Net level (1: 37% cheaper steps than 2 at these widths)
    attention: tuple[int, ...] = (8,)  # feature-map sizes (pixels of the folded glyph) with self-attention
    sample_steps: int = 10  # default DPM-Solver++ steps
    patch: int = 2  # U-Net on 2x2 pixel blocks: a 64 px step costs about a 32 px one
    max_refs: int = 16  # training draws k = 1..max_refs references per glyph, so any k up to this works
    encoder_width: int = 16  # style encoder channels at its first level (x2, x4 below)
    cond_drop: float = 0.1  # chance of dropping content and style together (the unconditional model of guidance)
    style_drop: float = 0.1  # chance of dropping the style only (the average style, for sampling without references)

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= self.max_refs <= MAX_REFS:
            raise GlyphgenError(f"max_refs = {self.max_refs} is out of range; use 1 to {MAX_REFS}")
        if self.encoder_width < 8 or self.encoder_width % 8:
            raise GlyphgenError(f"encoder_width = {self.encoder_width} must be a multiple of 8, at least 8")
        for name in ("cond_drop", "style_drop"):
            if not 0 <= getattr(self, name) < 0.5:
                raise GlyphgenError(f"{name} = {getattr(self, name)} is out of range; use 0 <= {name} < 0.5")


class _Bank:
    """The training glyphs the references are drawn from, grouped by face. Not a module buffer: it is data, not
    state, and the EMA copy of the method (a deepcopy) shares it instead of copying it."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, styles: torch.Tensor):
        order = torch.argsort(styles, stable=True)
        self.images, self.labels = images[order], labels[order]
        counts = torch.bincount(styles)
        self.counts = counts
        self.offsets = torch.cumsum(counts, 0) - counts

    def __deepcopy__(self, memo):
        return self

    def draw(self, styles: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
        """(B, k) indices into `images`: k random glyphs of each glyph's face, none of its own character."""
        count = self.counts[styles].unsqueeze(1)
        if (count < 2).any():
            raise GlyphgenError("every face needs at least 2 training glyphs to draw references from")
        offset = self.offsets[styles].unsqueeze(1)
        pick = (torch.rand(len(styles), k) * count).long().clamp(max=count - 1)
        same = self.labels[offset + pick] == labels.unsqueeze(1)
        pick = torch.where(same, (pick + 1) % count, pick)  # the next glyph of the face: another character
        return offset + pick


class Style(Diffusion):
    """Few-shot style diffusion (see the module docstring)."""

    family = "style"
    config_class = StyleConfig
    options_class = DDPMOptions
    conditioning = "always"
    uses_styles = True

    def __init__(self, config: StyleConfig, image_shape: tuple[int, int, int], num_classes: int = 0):
        if not num_classes:
            raise GlyphgenError("a style model writes asked-for characters; train it on labelled glyphs (source faces)")
        c, h, w = image_shape
        super().__init__(config, image_shape, num_classes, extra_inputs=c, cond_vector=True, scale_shift=True)
        dim = 4 * config.widths[0]  # the U-Net's timestep-embedding size, which the style code is added to
        self.encoder = StyleEncoder(c, h, config.encoder_width, dim, patch=config.patch)
        self.null_style = nn.Parameter(torch.zeros(dim))
        self.register_buffer("content", torch.zeros(num_classes, c, h, w, dtype=torch.uint8))
        self.bank: _Bank | None = None

    @torch.no_grad()
    def prepare(self, images, labels, *, styles=None, content=None) -> None:
        if content is None or styles is None:
            raise GlyphgenError("a style model trains on glyphs grouped by face with content glyphs (source faces)")
        if tuple(content.shape) != tuple(self.content.shape):
            shapes = f"{tuple(content.shape)} vs {tuple(self.content.shape)}"
            raise GlyphgenError(f"the content glyphs do not fit this model: {shapes}")
        self.content.copy_(content)
        self.bank = _Bank(images, labels.long(), styles.long())

    # ---- conditions --------------------------------------------------------------------------------------------

    def encode_style(self, refs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K, C, H, W) references in [0, 1], ink high -> (B, dim) style codes."""
        return self.encoder(refs * 2 - 1, mask)

    def content_of(self, labels: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) content glyphs in [-1, 1] of `labels`."""
        return self.content[labels].float() / 127.5 - 1

    def conditioned(self, content: torch.Tensor, code: torch.Tensor) -> Callable:
        """`net(x_t, t, rows)`: the denoiser with image k's conditions at row rows[k] of (content, code); a row of
        -1 is the unconditional model (no content, no style). Rows, not labels, are what the samplers pass around,
        so DDPM's guided sampling loop runs unchanged."""

        def net(x_t: torch.Tensor, t: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            null = rows < 0
            r = rows.clamp(min=0)
            c = torch.where(null[:, None, None, None], torch.zeros_like(content[r]), content[r])
            s = torch.where(null[:, None], self.null_style.expand(len(r), -1), code[r])
            return self.unet(torch.cat([x_t, c.to(x_t.dtype)], dim=1), t, s)

        return net

    # ---- training ----------------------------------------------------------------------------------------------

    def loss(self, x, y, step, styles=None):
        if y is None or styles is None or self.bank is None:
            raise GlyphgenError("a style model trains on labelled glyphs grouped by face (source faces)")
        cfg = self.config
        b = len(x)
        k = int(torch.randint(1, cfg.max_refs + 1, ()))
        index = self.bank.draw(styles.cpu(), y.cpu(), k)
        refs = self.bank.images[index].to(x.device).float().div_(255.0)  # (B, k, C, H, W)
        code = self.encode_style(refs)
        content = self.content_of(y)
        u = torch.rand(b, device=x.device)
        both = u < cfg.cond_drop
        style_only = (u >= cfg.cond_drop) & (u < cfg.cond_drop + cfg.style_drop)
        code = torch.where((both | style_only)[:, None], self.null_style.expand(b, -1), code)
        content = torch.where(both[:, None, None, None], torch.zeros_like(content), content)

        def denoise(x_t, t):
            return self.unet(torch.cat([x_t, content.to(x_t.dtype)], dim=1), t, code)

        losses, logs = self.diffusion_loss(x, denoise)
        logs["refs"] = k
        return losses, logs

    # ---- sampling ----------------------------------------------------------------------------------------------

    @classmethod
    def capabilities_for(cls, num_classes: int) -> Capabilities:
        return Capabilities(
            takes_labels=True,
            needs_labels=True,
            draws_chars=True,
            trajectory=True,
            samplers=SAMPLERS,
            writes_in_style=True,
        )

    @torch.no_grad()
    def sample(self, seeds, labels=None, return_trajectory=False, callback=None, **options):
        """Characters `labels` in the model's average style (no references): (N, C, H, W) in [0, 1]. Options
        (`DDPMOptions`): sampler, steps, guidance. `write` draws them in the style of given glyphs."""
        return self._draw(None, seeds, labels, return_trajectory, callback, options)

    @torch.no_grad()
    def write(
        self,
        style_images: torch.Tensor,
        labels,
        seeds=None,
        average: bool = True,
        return_trajectory=False,
        callback=None,
        **options,
    ):
        """Characters `labels` in the style of `style_images` ((S, C, H, W) or (C, H, W) glyphs in [0, 1], ink high,
        framed like the training data: S from 1 to 64 of one face): (N, C, H, W) in [0, 1]. seeds default to
        0..N-1; average=False styles output k by reference k mod S alone; options as for `sample`."""
        refs = check_images(torch.as_tensor(style_images), self.image_shape, "reference glyphs")
        if len(refs) > MAX_REFS:
            raise GlyphgenError(f"{len(refs)} reference glyphs given; give 1 to {MAX_REFS}")
        labels = torch.as_tensor(labels).flatten()
        seeds = list(range(len(labels))) if seeds is None else seeds
        return self._draw(refs, seeds, labels, return_trajectory, callback, options, average)

    def _draw(self, refs, seeds, labels, return_trajectory, callback, options, average=True):
        seeds = list(seeds)
        if not seeds:
            raise GlyphgenError("no seeds given; pass one seed per image")
        if labels is None:
            raise GlyphgenError("a style model draws asked-for characters; give one label per seed")
        device = self.content.device
        y = check_labels(labels, len(seeds), self.num_classes, device)
        n = len(y)
        was_training = self.training
        self.eval()
        try:
            if refs is None:
                code = self.null_style.expand(n, -1)
            elif average:
                code = self.encode_style(refs.to(device)[None]).expand(n, -1)
            else:  # one reference per output, in turn
                code = self.encode_style(refs.to(device)[:, None])[torch.arange(n, device=device) % len(refs)]
        finally:
            self.train(was_training)
        net = self.conditioned(self.content_of(y), code)
        rows = torch.arange(n, device=device)
        return self.run_sampler(net, seeds, rows, -1, return_trajectory, callback, options)
