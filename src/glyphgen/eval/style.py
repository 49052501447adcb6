"""Few-shot style evaluation the way the few-shot font papers measure it (zi2zi, DG-Font, CF-Font, FontDiffuser):
generated glyphs of faces the model never saw, against those faces' real glyphs, by number of references.

For each held-out face f of the model's face set (data/faces.py) and each k in `ks`:
    references  the first k of a fixed draw (seeded) of f's *seen* characters
    targets     up to `per_face` seen characters and `per_face` held-out characters of f, never a reference
    generated   `model.write(references, targets, seeds)`
Each target is scored against f's real glyph of it:
    l1          mean |generated - real| per pixel, glyphs in [0, 1] (lower is better)
    ssim        structural similarity (torchmetrics; Gaussian 11 x 11 window; higher is better)
    perceptual  distance of the unit-normalised embeddings of the shipped recogniser (an LPIPS-like distance in a
                glyph network's feature space; lower is better)
    top1        content accuracy: the recogniser reads the asked-for character (the real glyphs' own top-1 beside it)
    fgd         Fréchet distance of the generated set to the real set, every face pooled (when the set is large
                enough for the recogniser's feature covariance)
    style_top1  style accuracy by retrieval: the generated glyph's face embedding is nearest to its own face's
                centroid among all held-out faces (centroids of each face's real glyphs that are not targets). The
                face embedding (`FaceEmbedding`) is a linear discriminant analysis of the channel means and standard
                deviations of the recogniser's conv stages at the glyph's own resolution (the style statistics of
                AdaIN, Huang & Belongie 2017), fitted on the training faces only; the real glyphs' own retrieval
                accuracy is reported beside it (0.92 on the kanji held-out faces, 0.71 Latin, with half the
                characters as centroids).
Two baselines are scored the same way in the same run: `content` (the content face's glyph of the character: no
style at all) and `nearest` (the character in the training face whose glyphs of the reference characters are nearest
in L1 to the references: the best a font picker could do). Seen and unseen characters are reported apart.
"""

from __future__ import annotations

import numpy as np
import torch

from glyphgen.errors import GlyphgenError

KS = (1, 4, 8, 16)
METRICS = ("l1", "ssim", "perceptual", "top1", "style_top1")
TRAIN_GLYPHS_PER_FACE = 150  # training glyphs per face that fit the face embedding
CONDITIONS = ("seen", "unseen")


def _ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    return ssim(a, b, data_range=1.0, reduction="none")


def _top1(features, feats: torch.Tensor, target: np.ndarray) -> np.ndarray:
    """Per glyph: 1 if the recogniser reads its asked-for character (`target`, -1 where it does not know it: NaN)."""
    pred = features.logits(feats).argmax(1).numpy()
    return np.where(target >= 0, pred == target, np.nan)


def _scores(features, embedding, face: int, gen, real, real_feats: torch.Tensor, target: np.ndarray) -> dict:
    """Per-glyph scores of uint8 (N, 1, H, W) `gen` against `real` (same characters; their recogniser features
    `real_feats` and recogniser classes `target`) of held-out face number `face`."""
    g, r = torch.from_numpy(gen).float() / 255, torch.from_numpy(real).float() / 255
    fg = features(gen)
    perceptual = (torch.nn.functional.normalize(fg, dim=1) - torch.nn.functional.normalize(real_feats, dim=1)).norm(
        dim=1
    )
    return {
        "l1": (g - r).abs().mean(dim=(1, 2, 3)).numpy(),
        "ssim": _ssim(g, r).numpy(),
        "perceptual": perceptual.numpy(),
        "top1": _top1(features, fg, target),
        "style_top1": (embedding.retrieve(gen) == face).astype(np.float64),
        "features": fg,
    }


class FaceEmbedding:
    """Glyph -> face embedding (see the module docstring); `fit` on training faces, then `centroids` of the faces
    to retrieve among and `retrieve` the nearest one."""

    def __init__(self, recognizer, size: int):
        self.net, self.size = recognizer.eval(), size

    @torch.no_grad()
    def statistics(self, images: np.ndarray) -> np.ndarray:
        from glyphgen.models.recognizer import resize

        x = torch.from_numpy(images).float() / 255
        out = []
        for k in range(0, len(x), 256):
            h, stats, relus = resize(x[k : k + 256], self.size) * 2 - 1, [], 0
            for layer in self.net.body:
                h = layer(h)
                if isinstance(layer, torch.nn.ReLU):
                    relus += 1
                    if relus % 2 == 0:  # the end of each stage
                        stats.append(torch.cat([h.mean(dim=(2, 3)), h.std(dim=(2, 3))], dim=1))
            out.append(torch.cat(stats, dim=1))
        return torch.cat(out).numpy()

    def fit(self, images: np.ndarray, faces: np.ndarray) -> FaceEmbedding:
        try:
            from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
        except ImportError:
            raise GlyphgenError(
                "the style evaluation's face retrieval uses scikit-learn, an optional part of glyphgen: "
                "pip install 'glyphgen[digits]'"
            ) from None

        self.lda = LinearDiscriminantAnalysis().fit(self.statistics(images), faces)
        return self

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.lda.transform(self.statistics(images))

    def centroids(self, per_face: list[np.ndarray]) -> None:
        self.centres = np.stack([self(images).mean(axis=0) for images in per_face])

    def retrieve(self, images: np.ndarray) -> np.ndarray:
        e = self(images)
        return ((e[:, None] - self.centres[None]) ** 2).sum(-1).argmin(axis=1)


def _summary(rows: list[dict], features, real_feats) -> dict:
    from glyphgen.eval import metrics as M

    out = {k: float(np.nanmean(np.concatenate([r[k] for r in rows]))) for k in METRICS}
    fake_feats = torch.cat([r["features"] for r in rows])
    enough = len(fake_feats) >= M.min_samples(features.num_features)
    out["fgd"] = M.fgd(features, real_feats, fake_feats) if enough else None
    out["n"] = len(fake_feats)
    return out


def evaluate_style(
    model,
    ks=KS,
    per_face: int = 40,
    seed: int = 0,
    recognizer=None,
    progress: bool = True,
    face_set: str | None = None,
    **options,
) -> dict:
    """Score a style model (export or run folder) on its face set's held-out faces; returns the result dict.

    face_set: score on this face set instead (any model that writes in a style, e.g. the handwriting cvae on the
    Latin held-out hands), over the characters both know, at the model's size and framing."""
    from glyphgen.checkpoint import load
    from glyphgen.config import DataConfig
    from glyphgen.data import faces
    from glyphgen.data.dataset import load as load_data
    from glyphgen.data.fonts import render_font
    from glyphgen.eval import metrics as M
    from glyphgen.eval.features import load_features
    from glyphgen.generate import resolve_model

    folder = resolve_model(model)
    method, meta = load(folder)
    data = meta.get("data") or {}
    if not method.capabilities().writes_in_style:
        raise GlyphgenError(f"style evaluation needs a model that writes in a style; this is a {meta['family']} model")
    face_set = face_set or (data.get("faces") if data.get("source") == "faces" else None)
    if not face_set:
        raise GlyphgenError("this model was not trained on a face set; name the held-out faces to score: --faces latin")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1 or ks[-1] > 64:
        raise GlyphgenError(f"reference counts {ks} are out of range; use 1 to 64")
    method.sample_options(**{k: v for k, v in options.items() if v is not None})
    from glyphgen.data.charsets import get_charset
    from glyphgen.sketch import border_for

    fs = faces.face_set(face_set)
    size = meta["image_shape"][-1]
    # the model's own framing: its face set's margin, or the paper its training data leaves (28 px: 4 px)
    margin = float(data["margin"]) if data.get("source") == "faces" else border_for(size, data) / size
    own = {c: i for i, c in enumerate(meta["classes"])}
    common = [c for c in get_charset(fs.charset) if c in own]
    if not common:
        raise GlyphgenError(f"the model knows none of the {fs.name} face set's characters")
    held_cfg = DataConfig(
        source="faces", faces=fs.name, split="heldout", size=size, margin=margin, charset="=" + "".join(common)
    )
    held = load_data(held_cfg)
    classes = held.classes  # the characters scored; the model's own labels of them:
    model_label = np.array([own[c] for c in classes])
    features, rec_meta = load_features(recognizer)
    rec_classes = rec_meta["classes"]
    unseen = set(fs.heldout_chars)
    rng = np.random.default_rng(seed)
    train_specs = faces.resolve(fs.train)

    plan = []  # per held-out face: its reference glyphs, its targets of both conditions, their real glyphs
    for f, face_id in enumerate(held.style_names):
        mine = np.flatnonzero(held.styles == f)
        chars = np.array([classes[i] for i in held.labels[mine]])
        seen_idx = mine[[c not in unseen for c in chars]]
        unseen_idx = mine[[c in unseen for c in chars]]
        seen_idx = rng.permutation(seen_idx)
        if len(seen_idx) < ks[-1] + 1:
            raise GlyphgenError(f"held-out face {face_id} has {len(seen_idx)} seen characters; need {ks[-1] + 1}")
        ref_idx, rest = seen_idx[: ks[-1]], seen_idx[ks[-1] :]
        targets = {"seen": rest[:per_face], "unseen": rng.permutation(unseen_idx)[:per_face]}
        plan.append((face_id, ref_idx, targets, mine))

    train = load_data(DataConfig(source="faces", faces=fs.name, size=size, margin=margin, charset=held_cfg.charset))
    fit_idx = np.concatenate(
        [rng.permutation(np.flatnonzero(train.styles == f))[:TRAIN_GLYPHS_PER_FACE] for f in range(len(fs.train))]
    )
    embedding = FaceEmbedding(features.net, size).fit(train.images[fit_idx], train.styles[fit_idx])
    embedding.centroids([held.images[np.setdiff1d(mine, np.concatenate(list(t.values())))] for *_, t, mine in plan])

    # The nearest-training-face baseline renders what it needs from the training faces (characters of references
    # and targets), which no training step saw for the held-out characters: it is a baseline, not training data.
    need = sorted({classes[held.labels[i]] for _, r, t, _ in plan for i in np.concatenate([r, *t.values()])})
    index = {c: k for k, c in enumerate(need)}
    train_glyphs = []  # per training face: (len(need), H, W) uint8, with a mask of the characters it has
    for spec in train_specs:
        rendered = render_font(spec, need, size, placement=fs.placement, margin=margin)
        arr, has = np.zeros((len(need), size, size), np.uint8), np.zeros(len(need), bool)
        for c, img in zip(rendered.chars, rendered.images, strict=True):
            arr[index[c]], has[index[c]] = img, True
        train_glyphs.append((arr, has))

    from tqdm import tqdm

    rows = {(m, k, cond): [] for m in ("model", "content", "nearest") for k in ks for cond in CONDITIONS}
    real_rows = {cond: [] for cond in CONDITIONS}
    by_face = {}
    total = len(plan) * len(ks)
    bar = tqdm(total=total, desc="style eval", unit="face x k", disable=not progress)
    recognised_as = M.class_map(classes, rec_classes)  # scored character -> recogniser class (-1: unknown)
    for f, (face_id, ref_idx, targets, _) in enumerate(plan):
        by_face[face_id] = {"kind": fs.kinds().get(face_id, "")}
        real, content = {}, {}  # per condition: the real glyphs' features (scored once), the content baseline
        for cond in CONDITIONS:
            idx = targets[cond]
            if len(idx):
                feats, target = features(held.images[idx]), recognised_as[held.labels[idx]]
                real[cond] = feats
                real_rows[cond].append(
                    {
                        "features": feats,
                        "top1": _top1(features, feats, target),
                        "style_top1": (embedding.retrieve(held.images[idx]) == f).astype(np.float64),
                    }
                )
                # the content glyph takes no references: scored once, the same row at every k
                labels = held.labels[idx]
                content[cond] = _scores(features, embedding, f, held.content[labels], held.images[idx], feats, target)
        for k in ks:
            refs = held.images[ref_idx[:k]]
            ref_chars = [classes[held.labels[i]] for i in ref_idx[:k]]
            nearest = _nearest_face(train_glyphs, refs, [index[c] for c in ref_chars])
            for cond in real:
                idx = targets[cond]
                labels, target = held.labels[idx], recognised_as[held.labels[idx]]
                gen = method.write(
                    torch.from_numpy(refs).float() / 255,
                    torch.from_numpy(model_label[labels]),
                    list(seed + np.arange(len(idx))),
                    **options,
                )
                gen = (gen.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()
                arr, has = train_glyphs[nearest]
                near = np.stack(
                    [arr[index[classes[y]]] if has[index[classes[y]]] else held.content[y, 0] for y in labels]
                )[:, None]
                scored = {
                    "model": _scores(features, embedding, f, gen, held.images[idx], real[cond], target),
                    "content": content[cond],
                    "nearest": _scores(features, embedding, f, near, held.images[idx], real[cond], target),
                }
                for name, r in scored.items():
                    rows[(name, k, cond)].append(r)
                    by_face[face_id][f"{name}/{cond}/k{k}"] = {m: float(np.nanmean(r[m])) for m in METRICS}
            bar.update()
    bar.close()

    real_feats = {cond: torch.cat([r["features"] for r in real_rows[cond]]) for cond in CONDITIONS if real_rows[cond]}
    table = {}
    for (name, k, cond), rs in rows.items():
        if rs:
            table[f"{name}/{cond}/k{k}"] = _summary(rs, features, real_feats[cond])
    real = {
        cond: {m: float(np.nanmean(np.concatenate([r[m] for r in real_rows[cond]]))) for m in ("top1", "style_top1")}
        for cond in real_feats
    }
    return {
        "model": str(folder),
        "face_set": fs.name,
        "heldout_faces": held.style_names,
        "ks": ks,
        "per_face": per_face,
        "seed": seed,
        "sample_options": {k: v for k, v in options.items() if v is not None},
        "real": real,
        "table": table,
        "faces": by_face,
    }


def _nearest_face(train_glyphs, refs: np.ndarray, ref_index: list[int]) -> int:
    """The training face whose glyphs of the reference characters are nearest (mean L1) to the references."""
    best, best_d = 0, np.inf
    r = refs[:, 0].astype(np.float32) / 255
    for f, (arr, has) in enumerate(train_glyphs):
        ok = has[ref_index]
        if not ok.any():
            continue
        d = np.abs(arr[ref_index][ok].astype(np.float32) / 255 - r[ok]).mean()
        if d < best_d:
            best, best_d = f, d
    return best


def is_style_model(meta: dict) -> bool:
    """A model of config.json `meta` that writes in a given style and was trained on a face set: the models this
    module scores."""
    from glyphgen.generate import capabilities

    return (meta.get("data") or {}).get("source") == "faces" and capabilities(meta).writes_in_style


def _cell(row: dict, *keys) -> str:
    return " / ".join("–" if row.get(k) is None else f"{row[k]:.3f}" for k in keys)


def report(result: dict) -> str:
    """The evaluation as markdown: L1 / SSIM by number of references, then every score at 8 references (or the
    nearest k), then each held-out face."""
    ks, table = result["ks"], result["table"]
    k_main = min(ks, key=lambda k: abs(k - 8))
    lines = [f"# Style evaluation of {result['model']}", ""]
    lines.append(
        f"Held-out faces of the `{result['face_set']}` set ({len(result['heldout_faces'])}), up to "
        f"{result['per_face']} seen and {result['per_face']} unseen characters each; seed {result['seed']}."
    )
    for cond in CONDITIONS:
        if f"model/{cond}/k{ks[0]}" not in table:
            continue
        lines += ["", f"## {cond} characters: L1 / SSIM by references", ""]
        lines.append("| | " + " | ".join(f"k = {k}" for k in ks) + " |")
        lines.append("|---" * (len(ks) + 1) + "|")
        for name in ("model", "nearest", "content"):
            lines.append(
                f"| {name} | " + " | ".join(_cell(table[f"{name}/{cond}/k{k}"], "l1", "ssim") for k in ks) + " |"
            )
        lines += ["", f"At k = {k_main}: L1, SSIM, perceptual, content top-1, style retrieval top-1, FGD", ""]
        lines += ["| | L1 | SSIM | perceptual | top-1 | style top-1 | FGD |", "|---|---|---|---|---|---|---|"]
        for name in ("model", "nearest", "content"):
            row = table[f"{name}/{cond}/k{k_main}"]
            cells = [_cell(row, m) for m in ("l1", "ssim", "perceptual", "top1", "style_top1", "fgd")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        real = result["real"][cond]
        lines.append(f"| real glyphs | | | | {real['top1']:.3f} | {real['style_top1']:.3f} | |")
    lines += ["", f"## Each held-out face, unseen characters, k = {k_main}: L1 / SSIM", ""]
    lines += ["| face | kind | model | nearest | content |", "|---|---|---|---|---|"]
    for face, rows in result["faces"].items():
        cells = [_cell(rows.get(f"{n}/unseen/k{k_main}", {}), "l1", "ssim") for n in ("model", "nearest", "content")]
        lines.append(f"| {face} | {rows['kind']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
