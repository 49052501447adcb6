"""Benchmark the web app under load: N concurrent API clients, optionally mixed with hostile requests, against one
`glyphgen app` server on localhost.

The server runs as its own process (`glyphgen app`, exactly as users start it), or is one already running (--url).
Each client is a separate `gradio_client.Client` (its own session) in its own thread; all start together and each
sends `--requests` requests in turn, cycling through every endpoint: /generate (a cvae's 16 images and a ddpm's 4),
/write ("Hello 123"), /write_in_style (a drawing; a style model with an uploaded glyph image), /dream, /font,
/models and /model_card. Latency is measured per request from submit to result, files downloaded included; one
client alone sends each route once first, for the latency without queueing.

With --attack every 5th request of a client is hostile instead, in turn: text, image count and steps over the caps,
model names that are paths (`../`, absolute) or URLs, a 2 MB JSON body, an 11 MB upload request, malformed JSON and
a 25-megapixel drawing. Each must be refused (a message or an HTTP 4xx), never answered, and the legitimate
requests around them must all succeed.

    .venv/bin/python benchmarks/bench_app.py                         # 20 clients x 3 requests
    .venv/bin/python benchmarks/bench_app.py --requests 50 --attack  # 20 x 50, 1 in 5 hostile: the Reliability figures
    .venv/bin/python benchmarks/bench_app.py --models runs --model quick-cvae --clients 20 --requests 6

Without --models it exports small models of the families the endpoints need (a cvae with the handwriting
dashboard's layer sizes, a conditional ddpm, a dream and a style model, random weights: the work per request is the
same as a trained model's of that size) into a temporary folder. Prints one JSON object: latency percentiles
(seconds) of the legitimate requests, throughput, the requests that failed (should be 0), and the hostile ones:
how many were refused (should be all), how fast.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch
from PIL import Image, ImageDraw

from glyphgen import checkpoint
from glyphgen.methods import get_family

CLASSES = list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
EMPTY = {"background": None, "layers": [], "composite": None}
HOSTILE_EVERY = 5  # with --attack, requests r = 4, 9, 14, ... of each client are hostile
SMALL = {
    # name: (family, config, image shape, classes); the cvae has the handwriting dashboard's layer sizes
    "bench-cvae": ("cvae", {}, (1, 28, 28), CLASSES),
    "bench-ddpm": (
        "ddpm",
        {"widths": (16, 32), "blocks": 1, "attention": (), "timesteps": 50, "sample_steps": 5},
        (1, 16, 16),
        list("永字八法"),
    ),
    "bench-dream": (
        "dream",
        {"base_features": 4, "levels": 2, "kT_steps": 4, "num_cycles": 2, "faithful": False},
        (1, 16, 16),
        [],
    ),
    "bench-style": (
        "style",
        {"widths": (16, 32), "attention": (), "timesteps": 50, "sample_steps": 5, "encoder_width": 16},
        (1, 16, 16),
        list("ABab12"),
    ),
}


def export_models(folder: Path) -> None:
    for name, (family, options, shape, classes) in SMALL.items():
        torch.manual_seed(0)
        cls = get_family(family)
        method = cls(cls.config_class(**options), shape, num_classes=len(classes))
        if family == "dream":  # fill BatchNorm's running statistics, so its output depends on its input
            with torch.no_grad():
                method.loss(torch.rand(4, *shape), None, 0)
        checkpoint.export(method, folder / name, classes=classes, extra={"data": {"source": "digits"}})


def drawing(folder: Path) -> Path:
    path = folder / "seven.png"
    img = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    ImageDraw.Draw(img).line([(60, 50), (180, 50), (100, 210)], fill=(0, 0, 0, 255), width=18)
    img.save(path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(models: str, port: int, budget_s: float) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "glyphgen.cli", "app", "--models", models, "--port", str(port)]
    server = subprocess.Popen(
        [*cmd, "--budget-s", str(budget_s)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the app exited: {server.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/gradio_api/info", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise SystemExit("the app did not start within 180 s")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between order statistics."""
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def pick(models: list[dict], family: str | None = None, conditional: bool | None = None) -> str | None:
    for m in models:
        if (family is None or m["family"] == family) and (conditional is None or m["conditional"] == conditional):
            return m["name"]
    return None


def routes(models: list[dict], cvae: str | None, files: Path, handle_file) -> list[tuple[str, tuple]]:
    """The legitimate requests, one per endpoint and model kind the server has: (api name, inputs)."""
    cvae = cvae or pick(models, "cvae")
    ddpm, dream, style = (
        pick(models, "ddpm", True) or pick(models, "ddpm"),
        pick(models, "dream"),
        pick(models, "style"),
    )
    sketch = {"background": handle_file(str(drawing(files))), "layers": [], "composite": None}
    out = [("/models", ())]
    if cvae:
        out += [
            ("/generate", (cvae, 16, 0, None, 0, 1.0)),
            ("/write", (cvae, "Hello 123", 0, None, 0, 1.0)),
            ("/write_in_style", (cvae, sketch, EMPTY, EMPTY, EMPTY, EMPTY, "ABC 123", 0.0, True, 0)),
            ("/font", (cvae, "0123", "", 0, 0, 1.0)),
            ("/model_card", (cvae,)),
        ]
    if ddpm:
        out += [("/generate", (ddpm, 4, 0, None, 0, 1.0)), ("/dream", (ddpm, 0, None, 0, 1.0, "", 4))]
    if dream:
        out.append(("/dream", (dream, 0, None, 0, 1.0, "", 4)))
    if style:
        upload = [handle_file(str(drawing(files)))]
        out.append(("/write_in_style", (style, EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, "Ab", 0, True, 0, 0, 1.0, upload)))
    return out


def hostile(models: list[dict], url: str, files: Path, handle_file) -> list[tuple[str, object]]:
    """Requests the server must refuse: (what, a callable of a gradio_client Client that raises or returns an
    HTTP status)."""
    name = pick(models, conditional=True) or models[0]["name"]
    ddpm = pick(models, "ddpm")
    bomb = files / "bomb.png"
    if not bomb.exists():
        Image.new("1", (5000, 5000), 1).save(bomb)  # 25 Mpx in 12 KB
        (files / "big.png").write_bytes(b"\0" * 1_900_000)
    big = (files / "big.png").read_bytes()
    painted = {"background": handle_file(str(bomb)), "layers": [], "composite": None}

    def post(path: str, **kwargs):
        return lambda c: httpx.post(f"{url}{path}", timeout=60, **kwargs).status_code

    out = [
        ("text over the cap", lambda c: c.predict(name, "1" * 5000, 0, None, 0, 1.0, api_name="/write")),
        ("65 images", lambda c: c.predict(name, 65, 0, None, 0, 1.0, api_name="/generate")),
        ("model ../", lambda c: c.predict("../" + name, 2, 0, None, 0, 1.0, api_name="/generate")),
        ("model absolute path", lambda c: c.predict("/etc/passwd", api_name="/model_card")),
        ("model URL", lambda c: c.predict("http://127.0.0.1:9/x", 2, 0, None, 0, 1.0, api_name="/generate")),
        ("2 MB JSON body", post("/gradio_api/call/generate", content=b"1" * 2_000_000)),
        ("11 MB upload request", post("/gradio_api/upload", files=[("files", (f"{k}.png", big)) for k in range(6)])),
        ("malformed JSON", post("/gradio_api/call/generate", content=b"{not json")),
        (
            "25 Mpx drawing",
            lambda c: c.predict(name, painted, EMPTY, EMPTY, EMPTY, EMPTY, "1", 0, True, 0, api_name="/write_in_style"),
        ),
    ]
    if ddpm:
        out.append(("steps over the cap", lambda c: c.predict(ddpm, 2, 0, None, 10**6, 1.0, api_name="/generate")))
    return out


def summary(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    return {
        "n": len(xs),
        "p50": round(percentile(xs, 50), 3),
        "p90": round(percentile(xs, 90), 3),
        "p99": round(percentile(xs, 99), 3),
        "max": round(max(xs), 3),
        "mean": round(statistics.fmean(xs), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="folder of exported models (default: export small ones of each family)")
    parser.add_argument("--model", help="the cvae to use (default: the first the server lists)")
    parser.add_argument("--url", help="a running app to load instead of starting one (e.g. http://127.0.0.1:7860)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=3, help="requests per client")
    parser.add_argument("--attack", action="store_true", help=f"every {HOSTILE_EVERY}th request hostile")
    parser.add_argument("--budget-s", type=float, default=30.0, help="the started server's work budget a request")
    parser.add_argument("--deadline-s", type=float, help="clients send nothing new after this many seconds")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed benchmark still stops the server it started

    from gradio_client import Client, handle_file

    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    server, startup = None, 0.0
    url = args.url
    if not url:
        if not args.models:
            export_models(tmp)
        port = free_port()
        t0 = time.perf_counter()
        server = start_server(args.models or str(tmp), port, args.budget_s)
        startup = time.perf_counter() - t0
        url = f"http://127.0.0.1:{port}"
    url = url.rstrip("/")
    try:
        result = load(url, args, tmp, Client, handle_file)
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
    result.update(server_startup_s=round(startup, 1), cpus=os.cpu_count(), torch_threads=torch.get_num_threads())
    print(json.dumps(result, indent=2))


def load(url: str, args, tmp: Path, Client, handle_file) -> dict:
    models = Client(url, verbose=False).predict(api_name="/models")
    plan = routes(models, args.model, tmp, handle_file)
    attacks = hostile(models, url, tmp, handle_file) if args.attack else []
    names = sorted({name for name, _ in plan})
    latencies: dict[str, list[float]] = {name: [] for name in names}
    refusals: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    clients = [Client(url, verbose=False) for _ in range(args.clients)]
    start = threading.Barrier(args.clients)

    def attack(c, k: int) -> None:
        what, call = attacks[k % len(attacks)]
        t = time.perf_counter()
        try:
            status = call(c)
        except Exception:  # refused with a message: what is wanted
            status = None
        with lock:
            if isinstance(status, int) and not 400 <= status < 500:
                errors.append(f"hostile request answered: {what} (HTTP {status})")
            elif status is not None and not isinstance(status, int):
                errors.append(f"hostile request answered: {what}")
            else:
                refusals.append(time.perf_counter() - t)

    def client(k: int) -> None:
        start.wait()
        for r in range(args.requests):
            if args.deadline_s and time.perf_counter() - t0 > args.deadline_s:
                return  # unsent requests are reported as such
            if attacks and r % HOSTILE_EVERY == HOSTILE_EVERY - 1:
                attack(clients[k], k * args.requests + r)
                continue
            name, inputs = plan[(k + r) % len(plan)]
            t = time.perf_counter()
            try:
                clients[k].predict(*inputs, api_name=name)
            except Exception as e:  # counted and reported, not raised: the point is how many fail
                with lock:
                    errors.append(f"{name}: {type(e).__name__}: {e}"[:200])
                continue
            with lock:
                latencies[name].append(time.perf_counter() - t)

    alone = {}  # one client on an idle server first: the latency without queueing, for comparison
    for name, inputs in plan:
        t = time.perf_counter()
        try:
            clients[0].predict(*inputs, api_name=name)
        except Exception as e:  # reported with the others, and the run goes on
            errors.append(f"alone {name}: {type(e).__name__}: {e}"[:200])
        alone[f"{name} {inputs[0] if inputs else ''}".strip()] = round(time.perf_counter() - t, 3)
    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    every = [x for xs in latencies.values() for x in xs]
    return {
        "clients": args.clients,
        "requests_per_client": args.requests,
        "requests": args.clients * args.requests,
        "unsent_at_deadline": args.clients * args.requests - len(every) - len(refusals) - len(errors),
        "legitimate": len(every) + sum(1 for e in errors if not e.startswith("hostile")),
        "answered": len(every),
        "hostile": len(refusals) + sum(1 for e in errors if e.startswith("hostile")),
        "hostile_refused": len(refusals),
        "failed": len(errors),
        "errors": errors[:5],
        "latency_s": summary(every),
        "latency_s_by_route": {name: summary(xs) for name, xs in latencies.items()},
        "refusal_latency_s": summary(refusals),
        "latency_s_one_client_alone": alone,
        "throughput_per_s": round((len(every) + len(refusals)) / wall, 2),
        "wall_s": round(wall, 2),
        "models": [m["name"] for m in models],
        "queue": "one model request at a time (concurrency_id 'model'), up to 100 waiting",
    }


if __name__ == "__main__":
    main()
