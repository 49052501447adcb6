"""The web app and HTTP API over exported models (Gradio): generate, write text, write in your style, watch a dream.

`handlers` holds the actions as plain Python; `ui` lays them out with Gradio. Importing this package switches Gradio
and the Hugging Face hub offline, so the app never calls home and loads nothing from outside localhost.
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"

QUEUE_SIZE = 100  # requests waiting beyond this are turned away with "queue full"


def launch(
    models=None,
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    limits=None,
    concurrency: int = 1,
    quiet: bool = False,
):
    """Serve the app on http://host:port; returns the Gradio Blocks (at once when block=False, as tests do).

    models: folders to scan for exported models (default: the package's shipped weights and ./runs).
    concurrency: model requests run at once; up to QUEUE_SIZE more wait in the queue and are answered in order.
    """
    import importlib.util

    from glyphgen.errors import GlyphgenError

    if importlib.util.find_spec("gradio") is None:
        raise GlyphgenError("the web app needs Gradio, an optional part of glyphgen: pip install 'glyphgen[app]'")
    from glyphgen.app.handlers import Handlers, Limits
    from glyphgen.app.library import Library, default_folders
    from glyphgen.app.ui import build

    limits = limits or Limits()
    handlers = Handlers(Library(models or default_folders()), limits)
    demo = build(handlers)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=concurrency)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            max_file_size=limits.upload,
            show_error=True,  # a user error's message reaches the page and API clients (never a traceback)
            prevent_thread_lock=not block,
            quiet=quiet,
            ssr_mode=False,  # no Node server: the page is Gradio's prebuilt front end, served by this process
            footer_links=["api"],
        )
    except OSError as e:
        raise GlyphgenError(f"cannot serve on {host}:{port} ({e}); pick another --port") from e
    return demo
