"""The Gradio layout: five tabs (Generate, Write, Your style, Dream, Font) over `Handlers`, each event a named API
route.

Only layout lives here: every button calls one `Handlers` method, a `GlyphgenError` becomes a message (`gr.Error`)
and notes become warnings. All model work shares one queue slot (`concurrency_id="model"`): on a small CPU one
request at a time finishes soonest, and the queue answers the rest in order. (Being inside `glyphgen.app`, this
module is imported after the package has switched Gradio and the hub offline.)
"""

from __future__ import annotations

import dataclasses
import functools

import gradio as gr

from glyphgen.app.handlers import MAX_SEED, FontFile, Handlers, Pictures
from glyphgen.errors import GlyphgenError

CANVAS = 256  # sketchpad side in pixels
BRUSH = 18  # default stroke width on the canvas (the dashboard's 20 on its slightly larger canvas)
IMAGE_BUTTONS = ["download", "fullscreen"]  # no "share": the app never talks to outside services
IMAGE_HEIGHT = 260  # pixels of each picture output (pictures are scaled to fit)
FILES_HEIGHT = 120  # pixels of each download list
CANVASES = 5  # drawing canvases on the style tab (the handwriting dashboard had five)
COMPUTE = "model"  # concurrency id shared by every event that runs a model

INTRO = """# glyphgen
Generate characters with exported models. Every button is also an HTTP API route: see *Use via API* below."""


def _messages(fn):
    """Run a handler; a user error (GlyphgenError) becomes a Gradio error message, never a traceback."""

    @functools.wraps(fn)
    def run(*args):
        try:
            out = fn(*args)
        except GlyphgenError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return out

    return run


def _warn(pictures: Pictures) -> str:
    for note in pictures.notes:
        gr.Warning(note)
    return pictures.message


def _warn_font(font: FontFile) -> str:
    for note in font.warnings:
        gr.Warning(note)
    return font.message


def _choices(handlers: Handlers, names: list[str]):
    return [(handlers.library.entries[n].label, n) for n in names]


def _model_picker(handlers: Handlers, names: list[str], label: str, key: str):
    """A model dropdown (first model preselected); `key` names its element and its undocumented API routes."""
    return gr.Dropdown(
        _choices(handlers, names),
        value=names[0] if names else None,
        label=label,
        info=None if names else "no model of this kind was found (start the app with --models DIR)",
        elem_id=f"{key}-model",
    )


def _card(handlers: Handlers, dropdown, key: str) -> gr.Markdown:
    """The model card of the dropdown's model, kept in step with it."""
    card = gr.Markdown(handlers.card(dropdown.value) if dropdown.value else "", latex_delimiters=[])
    dropdown.change(
        _messages(lambda name: handlers.card(name) if name else ""),
        dropdown,
        card,
        api_name=f"card_{key}",
        api_visibility="undocumented",
        queue=False,
    )
    return card


def _control_values(handlers: Handlers, name) -> tuple[dict, dict, dict]:
    """Visibility, label, value and help text of the sampler, steps and guidance controls for model `name`.

    Sampler and steps start empty (steps: 0), which means "the model's default", in the page and over the API alike;
    guidance starts at the model's default (0 is a real choice there: the unconditional model).
    """
    c = handlers.controls(name)
    return (
        {
            "visible": c["sampler"] is not None,
            "value": None,
            "choices": c["samplers"],
            "info": f"empty: the model's default, {c['sampler']}",
        },
        {
            "visible": c["steps"] is not None,
            "value": 0,
            "label": c["steps_label"] or "steps",
            "info": f"0: the model's default, {c['steps']} (at most {c['steps_max']})",
        },
        {"visible": c["guidance"] is not None, "value": 1.0 if c["guidance"] is None else c["guidance"]},
    )


def _sampling_controls(handlers: Handlers, dropdown, key: str, with_sampler: bool = True):
    """Sampler, steps and guidance controls, shown only for the models they apply to (with_sampler=False: steps and
    guidance only, the sampler being the model's default)."""
    s, st, g = _control_values(handlers, dropdown.value)
    if not with_sampler:
        s["visible"] = False
    sampler = gr.Dropdown(label="sampler", **s)  # choices: the picked model's samplers (its capabilities)
    steps = gr.Number(precision=0, minimum=0, **st)
    guidance = gr.Slider(
        0,
        handlers.limits.guidance,
        step=0.5,
        label="guidance",
        info="0 = unconditional, 1 = conditional, > 1 = guided (classifier-free)",
        **g,
    )

    def update(name):
        s, st, g = _control_values(handlers, name)
        if not with_sampler:
            s["visible"] = False
        return gr.update(**s), gr.update(**st), gr.update(**g)

    dropdown.change(
        _messages(update),
        dropdown,
        [sampler, steps, guidance],
        api_name=f"controls_{key}",
        api_visibility="undocumented",
        queue=False,
    )
    return sampler, steps, guidance


def _has_option(handlers: Handlers, model: str, option: str) -> bool:
    """Whether the model's family has a sampling option (its `SampleOptions`), e.g. a latent model's temperature."""
    if not model:
        return False
    return option in {f.name for f in dataclasses.fields(handlers.library.entry(model).options)}


def _seed():
    return gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED - 1024, label="seed")


def _picture(label: str, height: int = IMAGE_HEIGHT) -> gr.Image:
    """A result picture: served as a file, downloadable, never editable."""
    return gr.Image(label=label, type="filepath", interactive=False, height=height, buttons=IMAGE_BUTTONS)


def _downloads(label: str) -> gr.File:
    return gr.File(label=f"downloads: {label}", file_count="multiple", height=FILES_HEIGHT)


def build(handlers: Handlers) -> gr.Blocks:
    """The app: Generate, Write, Your style, Dream and Font tabs, each model picker with its model card beside it."""
    from glyphgen.fontbuild import MAX_FAMILY_NAME

    lib, limits, api = handlers.library, handlers.limits, Routes(handlers)
    run = {"concurrency_id": COMPUTE}
    with gr.Blocks(title="glyphgen", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO, latex_delimiters=[])
        if not lib.entries:
            gr.Markdown(
                "**No models found.** Start the app with `glyphgen app --models DIR`, DIR holding exported models "
                "(`glyphgen export RUN DIR`) or run folders.",
                latex_delimiters=[],
            )
        with gr.Tabs():
            with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
                with gr.Row():
                    with gr.Column(scale=2):
                        model = _model_picker(handlers, lib.names(), "model", "generate")
                        n = gr.Slider(1, limits.images, 16, step=1, label="images")
                        seed = _seed()
                        sampler, steps, guidance = _sampling_controls(handlers, model, "generate")
                        button = gr.Button("Generate", variant="primary", elem_id="generate-button")
                    with gr.Column(scale=3):
                        image = _picture("samples")
                        files = _downloads("grid PNG, zip of single glyphs")
                    with gr.Column(scale=2):
                        _card(handlers, model, "generate")
                button.click(
                    _messages(api.generate),
                    [model, n, seed, sampler, steps, guidance],
                    [image, files],
                    api_name="generate",
                    **run,
                )

            with gr.Tab("Write", id="write", elem_id="tab-write"):
                with gr.Row():
                    with gr.Column(scale=2):
                        wmodel = _model_picker(handlers, lib.names(conditional=True), "conditional model", "write")
                        text = gr.Textbox(
                            label="text", placeholder="永字八法, or Hello 123", lines=2, max_length=limits.text
                        )
                        wseed = _seed()
                        wsampler, wsteps, wguidance = _sampling_controls(handlers, wmodel, "write")
                        wbutton = gr.Button("Write", variant="primary", elem_id="write-button")
                    with gr.Column(scale=3):
                        wimage = _picture("written")
                        wstatus = gr.Markdown(latex_delimiters=[], label="notes")
                        wfiles = _downloads("text PNG, zip of single glyphs")
                    with gr.Column(scale=2):
                        _card(handlers, wmodel, "write")
                wbutton.click(
                    _messages(api.write),
                    [wmodel, text, wseed, wsampler, wsteps, wguidance],
                    [wimage, wfiles, wstatus],
                    api_name="write",
                    **run,
                )

            with gr.Tab("Your style", id="style", elem_id="tab-style"):
                smodel = _model_picker(handlers, lib.names(can="writes_in_style"), "style model", "style")
                gr.Markdown(
                    "Pick the **brush** and draw a character on one or more canvases, or upload images of single "
                    "glyphs (scans, photos; 8 of one style is plenty); each is read (the guess appears below a "
                    "drawing), then your text is written in that style.",
                    latex_delimiters=[],
                )
                sketches, guesses = [], []
                with gr.Row():
                    for k in range(CANVASES):
                        with gr.Column(min_width=140):
                            sketches.append(_sketchpad(k))
                            guesses.append(gr.Label(num_top_classes=3, label="recognised as", elem_id=f"guess-{k}"))
                with gr.Row():
                    with gr.Column(scale=2):
                        stext = gr.Textbox(
                            label="text (empty: every character the model knows)", lines=2, max_length=limits.text
                        )
                        uploads = gr.File(
                            label="glyph images (optional)",
                            file_count="multiple",
                            file_types=["image"],
                            type="filepath",
                            elem_id="style-uploads",
                        )
                        randomness = gr.Slider(
                            0,
                            limits.randomness,
                            0,
                            step=0.1,
                            label="randomness (style variance)",
                            visible=_has_option(handlers, smodel.value, "temperature"),
                        )
                        average = gr.Checkbox(True, label="average the styles (else: one drawing per character)")
                        _, ssteps, sguidance = _sampling_controls(handlers, smodel, "style", with_sampler=False)
                        smodel.change(
                            lambda name: gr.update(visible=_has_option(handlers, name, "temperature")),
                            smodel,
                            randomness,
                            api_visibility="undocumented",
                            queue=False,
                        )
                        sseed = _seed()
                        sbutton = gr.Button("Write in my style", variant="primary", elem_id="style-button")
                    with gr.Column(scale=3):
                        framed = _picture("what the model sees", IMAGE_HEIGHT // 2)
                        simage = _picture("in your style")
                        sstatus = gr.Markdown(latex_delimiters=[], label="notes")
                        sfiles = _downloads("text PNG, zip of single glyphs")
                    with gr.Column(scale=2):
                        _card(handlers, smodel, "style")

                sbutton.click(
                    _messages(api.write_in_style),
                    [smodel, *sketches, stext, randomness, average, sseed, ssteps, sguidance, uploads],
                    [*guesses, framed, simage, sfiles, sstatus],
                    api_name="write_in_style",
                    **run,
                )

            with gr.Tab("Dream", id="dream", elem_id="tab-dream"):
                with gr.Row():
                    with gr.Column(scale=2):
                        dmodel = _model_picker(handlers, lib.names(can="trajectory"), "dream or ddpm model", "dream")
                        dseed = _seed()
                        dsampler, dsteps, dguidance = _sampling_controls(handlers, dmodel, "dream")
                        dchar = gr.Textbox(label="character", max_length=1, visible=_takes_char(handlers, dmodel.value))
                        frames = gr.Slider(2, limits.frames, 16, step=1, label="frames shown")
                        dbutton = gr.Button("Dream", variant="primary", elem_id="dream-button")
                    with gr.Column(scale=3):
                        animation = _picture("animation")
                        strip = _picture("strip: noise to glyph", IMAGE_HEIGHT // 2)
                        dfiles = _downloads("GIF and strip")
                    with gr.Column(scale=2):
                        _card(handlers, dmodel, "dream")
                dmodel.change(
                    lambda name: gr.update(visible=_takes_char(handlers, name)),
                    dmodel,
                    dchar,
                    api_name="controls_dream_char",
                    api_visibility="undocumented",
                    queue=False,
                )
                dbutton.click(
                    _messages(api.dream),
                    [dmodel, dseed, dsampler, dsteps, dguidance, dchar, frames],
                    [animation, strip, dfiles],
                    api_name="dream",
                    **run,
                )

            with gr.Tab("Font", id="font", elem_id="tab-font"):
                with gr.Row():
                    with gr.Column(scale=2):
                        fmodel = _model_picker(handlers, handlers.font_models(), "conditional model", "font")
                        ftext = gr.Textbox(
                            label=f"characters (empty: the model's own, at most {limits.font_glyphs})",
                            placeholder="永字八法, or ABC 123",
                            lines=2,
                            max_length=limits.text,
                            elem_id="font-text",
                        )
                        family = gr.Textbox(
                            label="family name",
                            placeholder="empty: glyphgen <model>",
                            max_length=MAX_FAMILY_NAME,
                            elem_id="font-family",
                        )
                        fseed = _seed()
                        _, fsteps, fguidance = _sampling_controls(handlers, fmodel, "font", with_sampler=False)
                        fbutton = gr.Button("Build the font", variant="primary", elem_id="font-button")
                    with gr.Column(scale=3):
                        ffile = gr.File(label="download: the font (.otf)", height=FILES_HEIGHT, elem_id="font-file")
                        fpreview = gr.HTML(elem_id="font-preview", js_on_load=None, min_height=120)
                        fstatus = gr.Markdown(latex_delimiters=[], label="notes")
                    with gr.Column(scale=2):
                        _card(handlers, fmodel, "font")
                fbutton.click(
                    _messages(api.font),
                    [fmodel, ftext, family, fseed, fsteps, fguidance],
                    [ffile, fpreview, fstatus],
                    api_name="font",
                    **run,
                )

        gr.api(_messages(api.models), api_name="models")
        gr.api(_messages(api.model_card), api_name="model_card")
    return demo


def _sketchpad(k: int) -> gr.Sketchpad:
    """One drawing canvas: black brush only, one layer, no upload or crop tools."""
    return gr.Sketchpad(
        label=f"drawing {k + 1}",
        type="numpy",
        image_mode="RGBA",
        canvas_size=(CANVAS, CANVAS),
        fixed_canvas=True,
        brush=gr.Brush(default_size=BRUSH, colors=["#000000"], color_mode="fixed"),
        layers=False,
        transforms=(),
        elem_id=f"sketch-{k}",
    )


def _takes_char(handlers: Handlers, name) -> bool:
    entry = handlers.library.entries.get(name) if name else None
    return bool(entry and entry.capabilities.takes_labels and entry.capabilities.trajectory)


class Routes:
    """The API routes: each button's handler with named parameters (the names the API documentation shows) and
    outputs in the order of its UI components."""

    def __init__(self, handlers: Handlers):
        self.h = handlers

    def generate(self, model: str, n: int, seed: int, sampler: str, steps: int, guidance: float):
        """n images from any model -> (grid PNG, [grid PNG, zip of single glyphs])."""
        return _shown(self.h.generate(model, n, seed, sampler, steps, guidance))[:2]

    def write(self, model: str, text: str, seed: int, sampler: str, steps: int, guidance: float):
        """Text written by a conditional model -> (picture, [picture, zip], notes on unknown characters)."""
        return _shown(self.h.write(model, text, seed, sampler, steps, guidance))

    def write_in_style(
        self,
        model: str,
        drawing_1: dict,
        drawing_2: dict,
        drawing_3: dict,
        drawing_4: dict,
        drawing_5: dict,
        text: str,
        randomness: float,
        average: bool,
        seed: int,
        steps: int | None = None,
        guidance: float | None = None,
        uploads: list[str] | None = None,
    ):
        """Five drawings (sketchpad values; empty ones skipped), uploaded glyph images and a text -> (top-3 guess
        per drawing x 5, the glyphs as the model sees them, the text in their style, [picture, zip], notes).
        randomness: a latent model's style variance; steps, guidance: a diffusion model's sampling."""
        drawings = [drawing_1, drawing_2, drawing_3, drawing_4, drawing_5]
        p = self.h.write_in_style(model, drawings, text, randomness, average, seed, steps, guidance, uploads)
        return (*p.recognised[: len(drawings)], str(p.framed), *_shown(p))

    def dream(self, model: str, seed: int, sampler: str, steps: int, guidance: float, char: str, frames: int):
        """One glyph from noise -> (GIF animation, strip PNG, [GIF, strip])."""
        p = self.h.dream(model, seed, steps, frames, sampler, guidance, char)
        gr.Info(p.message)  # how many steps there were: news, not a warning
        return str(p.animation), str(p.shown), [str(f) for f in p.files]

    def font(self, model: str, text: str, family: str, seed: int, steps: int, guidance: float):
        """A font of the typed characters (empty: the model's) -> (the .otf file, an HTML preview, notes)."""
        f = self.h.font(model, text, family, seed, steps, guidance)
        return str(f.path), f.preview, _warn_font(f)

    def models(self) -> list[dict]:
        """Every model the app serves: name, family, image_shape, conditional, characters, training step."""
        return self.h.models()

    def model_card(self, model: str) -> str:
        """The model card (markdown) of one model, by name."""
        return self.h.card(model)


def _shown(p: Pictures):
    """(picture, download paths, status line) of an action's result; its notes also pop up as warnings."""
    return str(p.shown), [str(f) for f in p.files], _warn(p)
