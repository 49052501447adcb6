"""The app under load, by benchmarks/bench_app.py: concurrent clients mixing every endpoint with hostile requests;
every legitimate request answered, every hostile one refused. The short version runs here against the live test
server; `pytest -m slow tests/app/test_load.py` starts `glyphgen app` and sends 20 clients x 50 requests (the figures
in the README's Reliability section)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "benchmarks" / "bench_app.py"
# The live test server runs in this process: Gradio's queue (pandas 3) and diffusers' DPM-Solver (numpy 2) warn here.
pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]


def _bench(*args: str, timeout: float) -> dict:
    # Its clients in a process of their own, as real ones are: their threads do not share this process's lock with
    # the server they load.
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _check(result: dict, clients: int, requests: int) -> None:
    assert result["requests"] == clients * requests
    assert result["failed"] == 0 and result["unsent_at_deadline"] == 0, result["errors"]
    assert result["answered"] == result["legitimate"] > 0
    assert result["hostile_refused"] == result["hostile"] > 0
    routes = {name for name, s in result["latency_s_by_route"].items() if s["n"]}
    assert {"/generate", "/write", "/write_in_style", "/dream", "/font", "/models", "/model_card"} <= routes


def test_a_few_clients_mixing_every_endpoint_and_attacks_all_get_answers(server):
    r = _bench("--url", server, "--clients", "3", "--requests", "10", "--attack", timeout=300)
    _check(r, 3, 10)
    assert r["refusal_latency_s"]["max"] < 10


@pytest.mark.slow
def test_twenty_clients_times_fifty_requests_with_attacks():
    r = _bench("--clients", "20", "--requests", "50", "--attack", timeout=1800)
    _check(r, 20, 50)
