"""Crash safety, by benchmarks/bench_crash.py: training runs SIGKILLed at random moments and inside the writers
resume with nothing partial and the uninterrupted run's weights; a full disk and a read-only run folder are one-line
errors that keep the last checkpoint. The short version runs here; `pytest -m slow tests/test_crash.py` runs every
family x 20 kills (the figures in the README's Reliability section)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "benchmarks" / "bench_crash.py"


def _bench(*args: str, timeout: float) -> dict:
    # A process of its own: the benchmark forks its runs, which is only safe from a process that has not yet run
    # torch's thread pools (this test process has).
    done = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _check_family(result: dict, kills: int, every: int) -> None:
    assert result["kills"] == kills
    assert result["partial_files"] == []
    assert 0 <= result["max_steps_lost"] <= every
    assert result["final_equals_uninterrupted"] and result["runs_finished"] >= 1
    assert result["temporaries_left"] == []


def test_kills_in_checkpoint_and_export_writes_lose_nothing_and_faults_are_one_line_errors():
    r = _bench("--families", "vae", "--kills", "6", "--steps", "16", "--every", "4", timeout=600)
    vae = r["families"]["vae"]
    _check_family(vae, 6, 4)
    assert {"last.ckpt@open", "last.ckpt@written", "model.safetensors@written"} <= set(vae["by_kind"])
    full = r["disk_full"]
    assert full["exit"] == 2 and full["last_checkpoint_intact"] and full["resumes_after"]
    assert len(full["one_line_error"]) == 1 and "cannot write" in full["one_line_error"][0]
    read_only = r["read_only"]
    if "skipped" not in read_only:
        assert read_only["exit"] == 2 and read_only["last_checkpoint_intact"]
        assert "Read-only file system" in read_only["one_line_error"][0]


@pytest.mark.slow
def test_every_family_survives_twenty_kills():
    r = _bench("--kills", "20", "--no-faults", timeout=3600)
    for family, result in r["families"].items():
        assert result["kills"] == 20, family
        _check_family(result, 20, r["checkpoint_every"])
