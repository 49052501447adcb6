"""A live app (the `server` fixture) under hostile requests: over the caps, oversized bodies and uploads, image bombs,
malformed payloads, model names that point elsewhere, slow and abandoned clients. Each is refused quickly with a
message, nothing outside the model folders is touched, and the server keeps answering everyone else."""

import dataclasses
import io
import json
import shutil
import socket
import sys
import time
from urllib.parse import urlparse

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from glyphgen.app import exposure, launch
from glyphgen.app.handlers import Limits

from .conftest import free_port

EMPTY = {"background": None, "layers": [], "composite": None}
QUICK_S = 10.0  # a refusal's latest answer on a busy 2-core machine (they take well under a second when idle)
pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]


@pytest.fixture(scope="module")
def client(server):
    return Client(server, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Hostile files: a picture of 25 Mpx that compresses to 12 KB, and 1.9 MB files (each under the 2 MB cap)."""
    folder = tmp_path_factory.mktemp("hostile")
    Image.new("1", (5000, 5000), 1).save(folder / "bomb.png")
    for k in range(6):
        (folder / f"big{k}.png").write_bytes(b"\0" * 1_900_000)
    return folder


def _refused(call, match: str):
    start = time.perf_counter()
    with pytest.raises(AppError, match=match):
        call()
    elapsed = time.perf_counter() - start
    assert elapsed < QUICK_S, f"refused after {elapsed:.1f} s"


# ---- over the caps --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, api_name, match",
    [
        (("cvae", "字" * 10_000, 0, None, 0, 1.0), "/write", "at most 200"),  # text length
        (("cvae", 65, 0, None, 0, 1.0), "/generate", "maximum value 64"),  # image count
        (("ddpm", 2, 0, None, 10**6, 1.0), "/generate", "use 1 to 20"),  # steps
        (("dream", 0, None, 2, 1.0, "", 49), "/dream", "maximum value 48"),  # frames
        (("ddpm", 2, 2**40, None, 0, 1.0), "/generate", "maximum value|out of range"),  # seed
        (("ddpm", "".join(map(chr, range(0x4E00, 0x4E00 + 201))), "", 0, 0, 1.0), "/font", "at most 200"),
    ],
)
def test_requests_over_the_caps_are_refused_quickly(client, args, api_name, match):
    _refused(lambda: client.predict(*args, api_name=api_name), match)


def test_a_request_over_the_work_budget_is_refused_with_its_estimate(served, client):
    handlers = served.handlers
    client.predict("ddpm", 1, 0, None, 1, 1.0, api_name="/generate")  # the ddpm's cost measured
    budget = handlers.estimate("ddpm", 64, {"steps": 20, "guidance": 1.0}) / 2
    handlers.limits = dataclasses.replace(handlers.limits, budget_s=budget)
    try:
        folders = set(handlers.out.iterdir())
        _refused(lambda: client.predict("ddpm", 64, 0, None, 20, 1.0, api_name="/generate"), "would take about")
        assert set(handlers.out.iterdir()) == folders  # nothing ran: no output written
    finally:
        handlers.limits = Limits()


def test_oversized_bodies_are_refused_before_they_are_read(server):
    host, port = urlparse(server).hostname, urlparse(server).port
    # A declared 30 MB body is answered at once, with none of it sent: the server never waits to parse it.
    with socket.create_connection((host, port), timeout=QUICK_S) as s:
        s.sendall(
            b"POST /gradio_api/call/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 30000000\r\n\r\n{"
        )
        answer = b""
        while chunk := s.recv(4096):  # the server closes the connection after its answer (headers, then body)
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413") and "over this app's limit of 1,048,576 bytes" in answer

    def chunks():  # no Content-Length: counted as it streams in, cut off at the cap
        for _ in range(30):
            yield b"x" * 1_000_000

    r = httpx.post(f"{server}/gradio_api/call/generate", content=chunks(), timeout=QUICK_S)
    assert r.status_code == 413 and "request body is over" in r.json()["error"]
    r = httpx.post(f"{server}/gradio_api/call/generate", content=b"1" * 2_000_000, timeout=QUICK_S)
    assert r.status_code == 413


def test_an_upload_request_is_capped_in_total_not_only_per_file(server, files):
    parts = [("files", (f"{k}.png", (files / f"big{k % 6}.png").read_bytes(), "image/png")) for k in range(20)]
    r = httpx.post(f"{server}/gradio_api/upload", files=parts, timeout=QUICK_S)  # 20 x 1.9 MB
    assert r.status_code == 413 and "all its files together" in r.json()["error"]
    r = httpx.post(f"{server}/gradio_api/upload", files=parts[:3], timeout=QUICK_S)  # 5.7 MB: under the cap
    assert r.status_code == 200 and len(r.json()) == 3


def test_uploads_sent_one_by_one_are_capped_in_total_per_request(client, files):
    six = [handle_file(str(files / f"big{k}.png")) for k in range(6)]  # 10.9 MiB, each file sent on its own
    args = ("style", EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, "Ab", 0, True, 0, 2, 1.0, six)
    _refused(lambda: client.predict(*args, api_name="/write_in_style"), "come to 10.9 MB; this app reads at most 10 MB")


def test_image_bombs_are_refused_before_they_are_decoded(client, files):
    bomb = handle_file(str(files / "bomb.png"))
    drawn = ("cvae", {"background": bomb, "layers": [], "composite": None}, EMPTY, EMPTY, EMPTY, EMPTY, "1", 0, True, 0)
    _refused(lambda: client.predict(*drawn, api_name="/write_in_style"), "25000000 pixels.* exceeds limit")
    uploaded = ("style", EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, "Ab", 0, True, 0, 2, 1.0, [bomb])
    _refused(lambda: client.predict(*uploaded, api_name="/write_in_style"), "bomb.png has over .* pixels.*shrink it")


# ---- malformed payloads ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"data": "x"}',
        b'{"data": [1]}',
        b'{"data": [{"a": 1}, [], null, "x", {}, -1]}',
        b"[" * 100_000 + b"]" * 100_000,  # nesting deep enough to overflow a recursive parser
        b'{"data": ["cvae", 1e400, 0, null, 0, 1]}',
        b'{"data": ["ddpm", 2, 0, null, 0, NaN]}',  # not JSON, but Python's parser reads NaN
        b'{"data": ["ddpm", 2, 0, null, 0, Infinity]}',
        '{"data": ["cvae", "\ud800", 0, null, 0, 1]}'.encode("utf-8", "surrogatepass"),  # invalid UTF-8
    ],
)
def test_malformed_payloads_are_client_errors(server, body):
    r = httpx.post(
        f"{server}/gradio_api/call/generate",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=QUICK_S,
    )
    assert 400 <= r.status_code < 500 or r.status_code == 200  # 200: accepted for the queue, answered as an error
    if r.status_code == 200:
        stream = httpx.get(f"{server}/gradio_api/call/generate/{r.json()['event_id']}", timeout=30).text
        assert "event: error" in stream and "Traceback" not in stream
    assert httpx.get(f"{server}/gradio_api/info", timeout=QUICK_S).status_code == 200


# ---- model names that point elsewhere -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outside(models_dir):
    """A real export beside (not inside) the models folder: what a traversal would reach."""
    folder = models_dir.parent / "outside-models"
    if not folder.exists():
        shutil.copytree(models_dir / "ddpm", folder / "ddpm")
    return folder


class _Opened:
    """Paths the server process opens while watching (a Python audit hook: the real calls, nothing replaced)."""

    watching = False
    paths: list[str] = []
    installed = False

    @classmethod
    def hook(cls, event, args):
        if cls.watching and event == "open" and isinstance(args[0], str | bytes):
            cls.paths.append(str(args[0]))


def test_model_names_never_reach_files_outside_the_model_folders(client, server, models_dir, outside):
    if not _Opened.installed:
        sys.addaudithook(_Opened.hook)  # one per process: it cannot be removed, so it is only switched off
        _Opened.installed = True
    names = [
        "../outside-models/ddpm",
        "ddpm/../../outside-models/ddpm",
        str(outside / "ddpm"),
        f"file://{outside / 'ddpm'}",
        "http://127.0.0.1:9/ddpm",
        "~/ddpm",
        "..",
        "ddpm\0",
    ]
    _Opened.paths, _Opened.watching = [], True
    try:
        for name in names:
            calls = [
                (name, 2, 0, None, 0, 1.0, "/generate"),
                (name, "永", 0, None, 0, 1.0, "/write"),
                (name, 0, None, 0, 1.0, "", 4, "/dream"),
                (name, "永", "", 0, 0, 1.0, "/font"),
                (name, EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, "1", 0, True, 0, "/write_in_style"),
                (name, "/model_card"),
            ]
            for *args, api_name in calls:
                with pytest.raises(AppError, match="not in the list of choices|unknown model"):
                    client.predict(*args, api_name=api_name)
        for path in (outside / "ddpm" / "config.json", "/etc/passwd", "../../../etc/passwd"):
            assert httpx.get(f"{server}/gradio_api/file={path}", timeout=QUICK_S).status_code in (403, 404)
    finally:
        _Opened.watching = False
    touched = [p for p in _Opened.paths if "outside-models" in p or p.startswith("/etc")]
    assert touched == []


# ---- where it listens -----------------------------------------------------------------------------------------


def test_it_says_so_when_it_listens_beyond_this_machine(models_dir, capfd):
    assert exposure("127.0.0.1") is None and exposure("::1") is None and exposure("localhost") is None
    assert "reachable from other machines" in exposure("0.0.0.0") and exposure("example.org")
    demo = launch([models_dir], host="0.0.0.0", port=free_port(), block=False, quiet=True)
    try:
        err = capfd.readouterr().err
        assert "glyphgen app: listening on 0.0.0.0, reachable from other machines" in err
    finally:
        demo.close()


# ---- slow and abandoned clients -------------------------------------------------------------------------------


def test_slow_and_abandoned_clients_do_not_block_the_others(server, client):
    host, port = urlparse(server).hostname, urlparse(server).port
    held = []
    try:
        for _ in range(10):  # headers trickling in, never finished (slowloris)
            s = socket.create_connection((host, port), timeout=QUICK_S)
            s.sendall(b"POST /gradio_api/call/generate HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        for _ in range(5):  # a body announced and never sent
            s = socket.create_connection((host, port), timeout=QUICK_S)
            s.sendall(b"POST /gradio_api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc")
            held.append(s)
        for seed in range(3):  # jobs submitted, then the client goes away without reading the answer
            r = httpx.post(f"{server}/gradio_api/call/generate", json={"data": ["cvae", 8, seed, None, 0, 1.0]})
            assert r.status_code == 200
        stream = httpx.Client(timeout=QUICK_S)  # an answer stream opened and never read
        event = httpx.post(f"{server}/gradio_api/call/write", json={"data": ["cvae", "12", 0, None, 0, 1.0]})
        unread = stream.stream("GET", f"{server}/gradio_api/call/write/{event.json()['event_id']}").__enter__()
        start = time.perf_counter()
        assert client.predict(api_name="/models")
        grid, _ = client.predict("vae", 2, 0, None, 0, 1.0, api_name="/generate")
        assert io.BytesIO(open(grid, "rb").read()).getbuffer().nbytes > 0
        assert time.perf_counter() - start < 60
        unread.close()
        stream.close()
    finally:
        for s in held:
            s.close()
    assert json.loads(httpx.get(f"{server}/gradio_api/info", timeout=QUICK_S).text)
