"""Request-size guard for the app's HTTP server: bodies over a cap are refused before anything reads them.

Gradio caps each uploaded file (max_file_size) but not an upload request's total, and parses an API call's JSON
whatever its size. `BodyLimit` sits in front of every route (a plain ASGI middleware, handed to Gradio's FastAPI app
at launch): a declared Content-Length over the cap is answered 413 without reading a byte of the body, and a body
sent without one (chunked) is counted as it streams in and cut off at the cap. Uploads (`.../upload`) get their own,
larger cap; every other body (the JSON of an API call) the small one.
"""

from __future__ import annotations

import json

UPLOAD_SUFFIX = "/upload"  # Gradio's upload route (/gradio_api/upload)


class _TooLarge(Exception):
    """Raised inside the app's `receive` once a streamed body passes the cap (caught by BodyLimit itself)."""


class BodyLimit:
    """ASGI middleware: refuse HTTP request bodies over `body_bytes` (over `upload_bytes` on the upload route)."""

    def __init__(self, app, body_bytes: int, upload_bytes: int):
        self.app = app
        self.body_bytes = body_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = scope["path"].rstrip("/").endswith(UPLOAD_SUFFIX)
        cap = self.upload_bytes if upload else self.body_bytes
        what = "an upload request (all its files together)" if upload else "a request body"
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return await _refuse(send, 400, "Content-Length must be a whole number of bytes")
            if int(declared) > cap:
                return await _refuse(send, 413, f"{what} of {int(declared):,d} bytes {_over(cap)}")
        seen = 0
        over = False  # the body passed the cap: the app's own answer is dropped, ours goes out instead
        answered = False  # our 413 went out, or the app had begun its answer already (nothing more can go out)

        async def limited_receive():
            nonlocal seen, over
            if over:  # the app read on after the first _TooLarge (caught it): it gets nothing more
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    over = True
                    raise _TooLarge
            return message

        async def guarded_send(message):
            nonlocal answered
            if over:
                if not answered:
                    answered = True
                    await _refuse(send, 413, f"{what} {_over(cap)}")
                return
            if message["type"] == "http.response.start":
                answered = True  # the app answers before reading all of the body: a later overflow cannot
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _TooLarge:
            pass
        if over and not answered:
            await _refuse(send, 413, f"{what} {_over(cap)}")


def _over(cap: int) -> str:
    return f"is over this app's limit of {cap:,d} bytes ({cap / 2**20:g} MB)"


async def _refuse(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
