"""The web app and HTTP API over exported models (Gradio): generate, write text, write in your style, watch a dream.

`handlers` holds the actions as plain Python; `ui` lays them out with Gradio. Importing this package switches Gradio
and the Hugging Face hub offline, so the app never calls home and loads nothing from outside localhost.
"""

from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"

QUEUE_SIZE = 100  # requests waiting beyond this are turned away with "queue full"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def exposure(host: str) -> str | None:
    """A warning when `host` makes the app reachable from other machines (None for a loopback address)."""
    import ipaddress

    try:
        loopback = host in LOOPBACK or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost: whatever it resolves to, say so
        loopback = False
    if loopback:
        return None
    return (
        f"glyphgen app: listening on {host}, reachable from other machines: anyone who can reach this port can run "
        "the models (there is no login); use --host 127.0.0.1 to serve this machine only"
    )


def launch(
    models=None,
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    limits=None,
    concurrency: int = 1,
    quiet: bool = False,
):
    """Serve the app on http://host:port; returns the Gradio Blocks (at once when block=False, as tests do), with
    its `Handlers` as `.handlers`.

    models: folders to scan for exported models (default: the package's shipped weights and ./runs).
    concurrency: model requests run at once; up to QUEUE_SIZE more wait in the queue and are answered in order.
    """
    import importlib.util
    import sys
    import warnings

    from glyphgen.errors import GlyphgenError

    if importlib.util.find_spec("gradio") is None:
        raise GlyphgenError("the web app needs Gradio, an optional part of glyphgen: pip install 'glyphgen[app]'")
    from PIL import Image
    from starlette.middleware import Middleware

    from glyphgen.app.guard import BodyLimit
    from glyphgen.app.handlers import Handlers, Limits
    from glyphgen.app.library import Library, default_folders
    from glyphgen.app.ui import build
    from glyphgen.images import MAX_PIXELS

    limits = limits or Limits()
    # Gradio decodes a drawing's picture before any glyphgen code sees it: Pillow's own bomb check (an error past
    # twice MAX_IMAGE_PIXELS) must refuse what glyphgen refuses, not the 179 Mpx Pillow allows.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS // 2
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)  # under the error: allowed here
    handlers = Handlers(Library(models or default_folders()), limits)
    demo = build(handlers)
    demo.handlers = handlers
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=concurrency)
    guard = Middleware(BodyLimit, body_bytes=limits.bytes("body"), upload_bytes=limits.bytes("uploads_total"))
    warning = exposure(host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
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
            app_kwargs={"middleware": [guard]},  # FastAPI(middleware=...): in front of every route, before any parse
        )
    except OSError as e:
        handlers.close()
        raise GlyphgenError(f"cannot serve on {host}:{port} ({e}); pick another --port") from e
    if block:  # launch() returned: the server has stopped (Ctrl-C); at once when block=False, closed by the caller
        handlers.close()
    return demo
