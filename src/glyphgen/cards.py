"""Model cards: the README.md written beside an export's weights.

Everything on a card comes from the export itself: `config.json` (family, network and training configuration, data,
steps, wall-clock training time) and the weights file (parameter count, size). When the folder holds an `eval.json`
(copied on export from what `glyphgen eval` wrote: `<model>/eval/metrics.json`), its metrics and the real-data band
are added, so a card never states a number nobody measured.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open

from glyphgen.checkpoint import CONFIG, WEIGHTS, eval_reports, read_config
from glyphgen.methods import generates

CARD = "README.md"


def parameter_count(weights: Path) -> int:
    """Number of values in a safetensors file, read from its header only."""
    total = 0
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():
            n = 1
            for d in f.get_slice(key).get_shape():
                n *= d
            total += n
    return total


def _data_line(data: dict) -> str:
    source = data.get("source", "?")
    if source == "mix":
        return f"a mix at {data.get('size', '?')} px of " + "; ".join(f"`{p}`" for p in data.get("parts", []))
    parts = [f"source `{source}`"]
    if data.get("charset"):
        parts.append(f"charset `{data['charset']}`")
    if data.get("fonts"):
        parts.append("fonts " + ", ".join(f"`{f}`" for f in data["fonts"]))
    if data.get("path"):
        parts.append(f"path `{data['path']}`")
    parts.append(f"{data.get('size', '?')} px")
    return ", ".join(parts)


# The licence notices of the data sources glyphgen reads; a model, and a font made from a model's glyphs, carry them.
_SOURCE_LICENCES = {
    "kanjivg": "KanjiVG (c) Ulrich Apel, CC BY-SA 3.0",
    "digits": "scikit-learn's handwritten digits (UCI ML repository), CC BY 4.0",
}
# The licences of the font families glyphgen's configurations render (as Debian packages them), by name prefix.
_FONT_LICENCES = {
    "Noto": "SIL OFL 1.1",
    "DejaVu": "the Bitstream Vera / DejaVu free licence",
    "IPA": "IPA Font License",
    "WenQuanYi": "GPL with font exception",
}


def _font_licences(fonts: list[str]) -> str:
    """The licences of the known families among `fonts`, as " (Noto: SIL OFL 1.1; ...)"; "" when none is known."""
    known = {p: lic for f in fonts for p, lic in _FONT_LICENCES.items() if str(f).startswith(p)}
    return f" ({'; '.join(f'{p}: {lic}' for p, lic in known.items())})" if known else ""


def _data_parts(data: dict | None) -> list[dict]:
    """A model's training data (its config.json's data section) as its sources: the parts of a mix, else itself."""
    import yaml

    data = data or {}
    if data.get("source") == "mix":
        return [yaml.safe_load(p) or {} for p in data.get("parts", [])]
    return [data]


def data_licence(data: dict | None) -> str:
    """The licence notice of a model's training data (its config.json's data section), one line."""
    notices = []
    for part in _data_parts(data):
        source = part.get("source", "kanjivg")
        if source in _SOURCE_LICENCES:
            notices.append(_SOURCE_LICENCES[source])
        elif source == "font":
            fonts = part.get("fonts") or ["the installed CJK fonts"]
            notices.append(
                f"glyphs rendered from {', '.join(map(str, fonts))}, under those fonts' own licences"
                + _font_licences(fonts)
            )
        elif source == "faces":
            notices.append(
                f"glyphs rendered from the `{part.get('faces')}` faces of glyphgen's style split (Debian font "
                "packages: SIL OFL, IPA, Arphic, GPL-with-font-exception and other free licences, each its own)"
            )
        else:
            notices.append(f"the user's own {source} data, under its own licence")
    return "Trained on " + "; ".join(dict.fromkeys(notices)) + "." if notices else "Training data not recorded."


def hub_metadata(meta: dict) -> str:
    """The card's Hugging Face metadata block (YAML front matter, via huggingface_hub's ModelCardData): licence
    from the training data, library, tags."""
    from huggingface_hub import ModelCardData

    sources = {p.get("source", "kanjivg") for p in _data_parts(meta.get("data"))}
    licence = "cc-by-sa-3.0" if "kanjivg" in sources else "cc-by-4.0" if sources == {"digits"} else "other"
    from glyphgen.errors import GlyphgenError
    from glyphgen.generate import capabilities

    try:
        caps = capabilities(meta)
    except GlyphgenError:  # a family this glyphgen does not know still gets a card
        caps = None
    reads = not generates(meta.get("family"))  # a classifier (the recogniser): it reads glyphs
    tags = ["glyphgen", "glyph-recognition" if reads else "glyph-generation", meta.get("family", "")]
    tags += ["few-shot-font-generation"] if caps and caps.writes_in_style else []
    if reads:
        pipeline = "image-classification"
    else:
        pipeline = "unconditional-image-generation" if not meta.get("num_classes") else "text-to-image"
    card = ModelCardData(license=licence, library_name="glyphgen", tags=[t for t in tags if t], pipeline_tag=pipeline)
    return f"---\n{card.to_yaml()}\n---\n"


def _minutes(seconds: float | None) -> str:
    return "not recorded" if not seconds else f"{seconds / 60:.1f} min ({seconds:,.0f} s)"


def render(folder: str | Path, name: str | None = None) -> str:
    """The card's markdown for the export in `folder`."""
    folder = Path(folder)
    meta = read_config(folder)
    about = meta.get("about", "")
    c, h, w = meta["image_shape"]
    params = parameter_count(folder / WEIGHTS)
    size_mb = (folder / WEIGHTS).stat().st_size / 1e6
    train = meta.get("train", {})
    classes = meta.get("classes") or []
    use_name = name or str(folder)  # a shipped model by its name; anything else by its path, which sample finds
    name = name or folder.name
    lines = [hub_metadata(meta) + f"# {name}", ""]
    if about:
        lines += [about, ""]
    draws = generates(meta["family"])
    kind = f"class-conditional on {len(classes):,} characters" if meta.get("num_classes") else "unconditional"
    if not draws:
        kind = f"reads {len(classes):,} characters (a classifier: it draws none)"
    lines += [
        f"- **family**: `{meta['family']}`, {kind}",
        f"- **images**: {c} channel{'s' if c > 1 else ''}, {h}x{w}",
        f"- **parameters**: {params:,} ({size_mb:.1f} MB of safetensors)",
        f"- **data**: {_data_line(meta.get('data', {}))}" if meta.get("data") else "- **data**: not recorded",
        f"- **data licence**: {data_licence(meta.get('data'))}",
        f"- **training**: {meta.get('step', 0):,} steps at batch {train.get('batch_size', '?')}, "
        f"EMA {train.get('ema_decay', '?')}; wall-clock {_minutes(meta.get('train_seconds'))}",
        *_sampling_lines(meta),
        "",
        "## Use",
        "",
        "```",
        *_use(use_name if draws else str(folder), meta, classes, draws),  # a recogniser is passed by its folder
        "```",
        "",
        "## Evaluation",
        "",
    ]
    report = evaluation(folder, meta)
    if report:
        lines += _eval_table(report)
    else:
        lines += [f"Not evaluated yet: run `glyphgen eval {name}` and re-export to add the metrics here."]
    lines += [
        "",
        "## Configuration",
        "",
        f"The network and method configuration (`{CONFIG}` holds it with the data and training configuration):",
        "",
        "```json",
        json.dumps(meta["config"], indent=1, ensure_ascii=False),
        "```",
        "",
    ]
    return "\n".join(lines)


def _sampling_lines(meta: dict) -> list[str]:
    """The export's own sampling defaults, and for a distilled student where it came from."""
    lines = []
    sampling = meta.get("sampling") or {}
    if sampling:
        lines.append("- **sampling**: " + ", ".join(f"{k} {v}" for k, v in sampling.items()) + " (config.json's own)")
    d = meta.get("distilled")
    if isinstance(d, dict):
        guided = f", guidance {d['guidance']:g} folded in" if d.get("guidance") is not None else ""
        per = (d.get("teacher_steps") or 0) // max(1, d.get("student_steps") or 1)
        lines.append(
            f"- **distilled** from `{d.get('teacher')}` (its step {d.get('teacher_step')}): each of its "
            f"{d.get('student_steps')} DDIM steps covers {per} of the teacher's DPM-Solver++ steps{guided} "
            f"(`glyphgen distill`: {d.get('method', 'progressive distillation')})"
        )
    return lines


def _use(name: str, meta: dict, classes: list[str], draws: bool) -> list[str]:
    if not draws:  # a recogniser: its features and guesses score other models
        return [f"glyphgen eval MODEL --recognizer {name}"]
    chars = f" --chars {''.join(classes[:4])}" if classes and meta.get("num_classes") else ""
    return [f"glyphgen sample {name} --n 16 --out samples.png{chars}", *_style_use(name, meta, classes)]


def _style_use(name: str, meta: dict, classes: list[str]) -> list[str]:
    if (meta.get("data") or {}).get("source") != "faces":
        return []
    return [f"glyphgen style MyFont.otf --ref-chars {''.join(classes[:8])} --chars {''.join(classes[8:12])} -m {name}"]


def evaluation(folder: Path, meta: dict) -> dict | None:
    """The evaluation kept with a model, as `glyphgen eval` writes it ({"metrics", "band", "n", ...}): the first
    readable report where `checkpoint.eval_reports` looks, or a plain {name: value} metrics.json beside the weights,
    or config.json's `metrics`; None when there is none."""
    for f in [*eval_reports(folder), folder / "metrics.json"]:
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
            return data
        if isinstance(data, dict):
            return {"metrics": {k: v for k, v in data.items() if isinstance(v, int | float | str)}}
    metrics = meta.get("metrics")
    return {"metrics": metrics} if isinstance(metrics, dict) else None


def _eval_table(report: dict) -> list[str]:
    """Rows for each metric of an eval.json: the model's value and the real-data band beside it."""
    metrics, band = _flat(report.get("metrics", {})), _flat(report.get("band", {}))
    if not band:  # nothing to compare with (a recogniser's held-out accuracy)
        rows = ["| metric | value |", "|---|---|", *(f"| {key} | {_fmt(value)} |" for key, value in metrics.items())]
    else:
        rows = ["| metric | this model | real data (band) |", "|---|---|---|"]
        for key, value in metrics.items():
            ref = band.get(key)
            rows.append(f"| {key} | {_fmt(value)} | {_fmt(ref) if ref is not None else ''} |")
    extra = [f"Samples: {report['n']:,}." if "n" in report else "", report.get("command", "")]
    return rows + [""] + [f"`{e}`" if e.startswith("glyphgen") else e for e in extra if e]


def _flat(metrics: dict) -> dict:
    """{"accuracy": {"top1": 0.9, "n": 600}} -> {"accuracy top1": 0.9}: one row per score, counts left out."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out.update({f"{key} {k}": v for k, v in value.items() if k not in ("n", "coverage") and v is not None})
        elif value is not None:
            out[key] = value
    return out


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write(folder: str | Path, name: str | None = None) -> Path:
    """(Re)write the folder's README.md card; run again after `glyphgen eval` adds eval.json."""
    path = Path(folder) / CARD
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(render(folder, name), encoding="utf-8")
    tmp.replace(path)
    return path
