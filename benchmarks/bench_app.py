"""Benchmark the web app's queue: N concurrent API clients against one `glyphgen app` server on localhost.

The server runs as its own process (`glyphgen app`, exactly as users start it). Each client is a separate
`gradio_client.Client` (its own session) in its own thread; all start together and each sends `--requests` requests
in turn, cycling through the routes: /generate (16 images), /write ("Hello 123") and /write_in_style (one drawing,
"ABC 123"). Latency is measured per request from submit to result, files downloaded included; one client alone
sends each route once first, for the latency without queueing.

    .venv/bin/python benchmarks/bench_app.py                        # 20 clients x 3 requests, a dashboard-size cvae
    .venv/bin/python benchmarks/bench_app.py --models runs --model quick-cvae --clients 20 --requests 6

Without --models it exports a cvae with the handwriting dashboard's layer sizes (28 px, 36 classes, random weights:
the work per request is the same as a trained one's) into a temporary folder. Prints one JSON object: latency
percentiles (seconds), throughput, and the number of requests that failed (should be 0: the queue answers all).
"""

from __future__ import annotations

import argparse
import json
import os
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
from glyphgen.methods.cvae import CVAE, CVAEConfig

CLASSES = list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
EMPTY = {"background": None, "layers": [], "composite": None}


def export_cvae(folder: Path) -> str:
    torch.manual_seed(0)
    method = CVAE(CVAEConfig(), (1, 28, 28), num_classes=len(CLASSES))
    checkpoint.export(method, folder / "bench-cvae", classes=CLASSES, extra={"data": {"source": "digits"}})
    return "bench-cvae"


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


def start_server(models: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "glyphgen.cli", "app", "--models", models, "--port", str(port)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="folder of exported models (default: export a dashboard-size cvae)")
    parser.add_argument("--model", help="the cvae to use (default: the exported one)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=3, help="requests per client")
    args = parser.parse_args()

    from gradio_client import Client, handle_file

    tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
    model = args.model or (None if args.models else export_cvae(tmp))
    models = args.models or str(tmp)
    port = free_port()
    t0 = time.perf_counter()
    server = start_server(models, port)
    startup = time.perf_counter() - t0
    url = f"http://127.0.0.1:{port}"
    sketch = {"background": handle_file(str(drawing(tmp))), "layers": [], "composite": None}
    routes = [
        ("/generate", (model, 16, 0, None, 0, 1.0)),
        ("/write", (model, "Hello 123", 0, None, 0, 1.0)),
        ("/write_in_style", (model, sketch, EMPTY, EMPTY, EMPTY, EMPTY, "ABC 123", 0.0, True, 0)),
    ]
    latencies: dict[str, list[float]] = {name: [] for name, _ in routes}
    errors: list[str] = []
    lock = threading.Lock()
    clients = [Client(url, verbose=False) for _ in range(args.clients)]
    start = threading.Barrier(args.clients)

    def client(k: int) -> None:
        start.wait()
        for r in range(args.requests):
            name, inputs = routes[(k + r) % len(routes)]
            t = time.perf_counter()
            try:
                clients[k].predict(*inputs, api_name=name)
            except Exception as e:  # counted and reported, not raised: the point is how many fail
                with lock:
                    errors.append(f"{name}: {type(e).__name__}: {e}"[:200])
                continue
            with lock:
                latencies[name].append(time.perf_counter() - t)

    alone = []  # one client on an idle server first: the latency without queueing, for comparison
    for name, inputs in routes:
        t = time.perf_counter()
        clients[0].predict(*inputs, api_name=name)
        alone.append(time.perf_counter() - t)
    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    t0 = time.perf_counter()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        wall = time.perf_counter() - t0
        server.terminate()
        server.wait(timeout=30)
    every = [x for xs in latencies.values() for x in xs]

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

    print(
        json.dumps(
            {
                "clients": args.clients,
                "requests_per_client": args.requests,
                "requests": args.clients * args.requests,
                "answered": len(every),
                "failed": len(errors),
                "errors": errors[:5],
                "latency_s": summary(every),
                "latency_s_by_route": {name: summary(xs) for name, xs in latencies.items()},
                "latency_s_one_client_alone": {name: round(x, 3) for (name, _), x in zip(routes, alone, strict=True)},
                "throughput_per_s": round(len(every) / wall, 2),
                "wall_s": round(wall, 2),
                "server_startup_s": round(startup, 1),
                "model": model,
                "queue": "one model request at a time (concurrency_id 'model'), up to 100 waiting",
                "cpus": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
