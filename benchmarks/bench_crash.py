"""Crash safety: SIGKILL small training runs at random moments and inside the file writers, resume, and check.

For each family a tiny model trains on 10 KanjiVG glyphs (Latin faces for the style family) for `--steps` steps,
checkpointing every `--every`. It is killed `--kills` times with SIGKILL, each time either after a random delay or at
an exact moment inside a writer (reached through glyphgen.atomic's GLYPHGEN_PAUSE_WRITE hook: a checkpoint's or an
export's temporary just opened, or complete but not yet renamed; the render cache being written). After every kill:
every checkpoint, export, snapshot, config and cache file present must read in full; then `glyphgen train --resume`
continues (or, killed before its first checkpoint, the same command starts again). At the end the finished run's
weights must equal, bit for bit, those of an uninterrupted run with the same seed, and no temporary may be left.
Then the faults that are not kills: the disk filling up (a tmpfs of a few hundred KB when this process may mount
one, else the kernel's file-size limit, RLIMIT_FSIZE) and a read-only run folder (a read-only bind mount; skipped
where mounting is not allowed): a one-line error, non-zero exit, the last checkpoint intact and resumable.

    .venv/bin/python benchmarks/bench_crash.py                       # all families x 20 kills (~15 min here)
    .venv/bin/python benchmarks/bench_crash.py --families vae --kills 3

Each run is a fork of this process (glyphgen already imported) that calls the CLI's main(), so a kill costs no
interpreter start-up; the kill is a real SIGKILL of that process. Prints one JSON object: per family the kills by
kind, resumes, most steps lost to one kill, partial files found, whether the final weights equal the uninterrupted
run's, temporaries left; and the results of the disk-full and read-only trials.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import glyphgen.train  # noqa: E402,F401 - imported before forking, so each run starts at once
from glyphgen import checkpoint  # noqa: E402
from glyphgen.cli import main as cli_main  # noqa: E402

KANJI = ["--source", "kanjivg", "--charset", "永字八法和平山川日月", "--size", "16"]
LATIN = ["--source", "faces", "--faces", "latin", "--charset", "=ABCDabcd0123", "--size", "16"]
FAMILIES = {
    "vae": KANJI + ["--latent", "8", "--base-width", "4", "--depth", "2"],
    "cvae": KANJI + ["--latent", "4", "--width", "4", "--hidden", "8"],
    "gan": KANJI + ["--latent", "8", "--base-width", "4", "--d-steps", "1"],
    "ddpm": KANJI + ["--widths", "8,16", "--attention", "", "--sample-steps", "3", "--timesteps", "20"],
    "dream": KANJI + ["--base-features", "2", "--levels", "2", "--kT-steps", "3", "--num-cycles", "1"],
    "style": LATIN
    + ["--widths", "8,16", "--attention", "", "--timesteps", "20", "--sample-steps", "3", "--encoder-width", "8"],
}
# The moments a kill is aimed at, in turn with random ones: "<file name glob>@<point>" (see glyphgen.atomic).
AIMED = ["last.ckpt@open", "last.ckpt@written", "model.safetensors@written", "config.json@written", "*.npz@written"]


def start(args: list[str], log: Path, env: dict | None = None, file_limit: int | None = None) -> int:
    """Fork a process that runs `glyphgen ARGS` (output appended to `log`); returns its pid. file_limit: the largest
    file it may write (RLIMIT_FSIZE): writes past it fail with EFBIG, as on a full disk."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        if file_limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error from write(), not the signal that kills
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.environ.update(env or {})
        sys.argv = ["glyphgen", *args]
        cli_main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child reports everything and exits with a status
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def wait(pid: int, timeout: float = 300.0) -> int:
    """The exit status of `pid` (-signal when killed); killed itself after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def train_args(family: str, out: Path, name: str, steps: int, every: int) -> list[str]:
    return [
        "train", "-m", family, *FAMILIES[family], "--out", str(out), "--name", name, "--steps", str(steps),
        "--batch-size", "4", "--checkpoint-every", str(every), "--snapshot-every", str(2 * every),
        "--sample-every", "0", "--log-every", "1", "--seed", "0", "--threads", "1",
    ]  # fmt: skip


def last_logged_step(run: Path) -> int:
    """The last step metrics.jsonl recorded in full (log_every is 1): a lower bound of the step at a kill."""
    step = 0
    try:
        for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                step = max(step, int(json.loads(line)["step"]))
            except (ValueError, KeyError, TypeError):
                continue
    except OSError:
        pass
    return step


def broken_files(run: Path, cache: Path) -> list[str]:
    """Every file a run keeps that does not read in full: checkpoints, the export, snapshots, config.yaml, caches."""
    import numpy as np
    import yaml

    bad = []
    for ckpt in (run / "checkpoints").glob("*.ckpt"):
        try:
            int(torch.load(ckpt, map_location="cpu", weights_only=True)["glyphgen"]["step"])
        except Exception as e:  # noqa: BLE001 - any failure is a finding
            bad.append(f"{ckpt.name}: {e}")
    for folder in [run / "model", *sorted((run / "snapshots").glob("step*"))]:
        if (folder / "config.json").exists():  # an export is complete once its config is there (checkpoint.export)
            try:
                checkpoint.load(folder)
            except Exception as e:  # noqa: BLE001
                bad.append(f"{folder.name}: {e}")
    if (run / "config.yaml").exists():
        try:
            assert isinstance(yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")), dict)
        except Exception as e:  # noqa: BLE001
            bad.append(f"config.yaml: {e}")
    for npz in cache.glob("*.npz"):
        try:
            with np.load(npz, allow_pickle=False) as f:
                [f[k] for k in f.files]
        except Exception as e:  # noqa: BLE001
            bad.append(f"cache {npz.name}: {e}")
    return bad


def temporaries(*folders: Path) -> list[str]:
    return [str(p) for folder in folders for p in folder.rglob(".*.tmp")]


def weights(run: Path) -> dict:
    return load_file(str(run / "model" / "model.safetensors"))


def checkpoint_step(run: Path) -> int | None:
    """The step a resume of `run` starts from (last.ckpt, else previous.ckpt), or None with no readable one."""
    import warnings

    from glyphgen.train import resume_checkpoint

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            path = resume_checkpoint(run / "checkpoints")
        return int(torch.load(path, map_location="cpu", weights_only=True)["glyphgen"]["step"])
    except Exception:  # noqa: BLE001 - no checkpoint yet (killed before the first one)
        return None


def family_trial(family: str, root: Path, kills: int, steps: int, every: int, rng: random.Random) -> dict:
    """Kill runs of `family` until `kills` kills have landed; a run that gets to its end before the next kill is
    checked against the uninterrupted one and a new run started."""
    cache = root / f"cache-{family}"
    env = {"GLYPHGEN_CACHE": str(cache)}
    log = root / f"{family}.log"
    t0 = time.time()
    if wait(start(train_args(family, root, f"{family}-ref", steps, every), log, env)) != 0:
        raise SystemExit(f"{family}: the uninterrupted run failed; see {log}")
    ref_s = time.time() - t0
    reference = weights(root / f"{family}-ref")
    kinds: dict[str, int] = {}
    lost, broken, runs, equal, resumes, tries = [], [], [], [], 0, 0
    run = None
    while sum(kinds.values()) < kills:
        if run is None:
            run = root / f"{family}-run{len(runs)}"
            runs.append(run)
        if checkpoint_step(run) is None:  # new, or killed before its first checkpoint: the user runs it again
            shutil.rmtree(run, ignore_errors=True)
            args = train_args(family, root, run.name, steps, every)
        else:
            args = ["train", "--resume", str(run), "--steps", str(steps), "--threads", "1"]
            resumes += 1
        kind = "random" if tries % 2 == 0 else AIMED[(tries // 2) % len(AIMED)]
        tries += 1
        if kind == "*.npz@written":
            shutil.rmtree(cache, ignore_errors=True)  # so that this life builds the cache
        mark = root / f"{family}-{tries}.paused"
        extra = {} if kind == "random" else {"GLYPHGEN_PAUSE_WRITE": kind, "GLYPHGEN_PAUSE_MARK": str(mark)}
        pid = start(args, log, {**env, **extra})
        if kind == "random":
            time.sleep(rng.uniform(0.0, 0.6 * ref_s))
        else:
            deadline = time.time() + 120
            while not mark.exists() and time.time() < deadline and not os.waitpid(pid, os.WNOHANG)[0]:
                time.sleep(0.01)
        try:
            os.kill(pid, signal.SIGKILL)
            code = wait(pid)
        except ProcessLookupError:  # reaped by the poll above: it ended before the aimed-at write
            code = 0
        if code == -signal.SIGKILL:
            kinds[kind] = kinds.get(kind, 0) + 1
            broken += broken_files(run, cache)
            lost.append(last_logged_step(run) - (checkpoint_step(run) or 0))
        elif code != 0 and not _finished(run, steps):
            raise SystemExit(f"{family}: a run exited {code} before its kill; see {log}")
        if code != -signal.SIGKILL:  # it got to its end: its weights must be the uninterrupted run's
            equal.append(_same(reference, weights(run)))
            run = None
    final = 0
    if run is not None:  # the last life was killed: resume it to its end, as the user would
        if checkpoint_step(run) is None:
            shutil.rmtree(run, ignore_errors=True)
            final = wait(start(train_args(family, root, run.name, steps, every), log, env))
        elif not _finished(run, steps):
            final = wait(start(["train", "--resume", str(run), "--steps", str(steps), "--threads", "1"], log, env))
        equal.append(final == 0 and _same(reference, weights(run)))
    return {
        "kills": sum(kinds.values()),
        "by_kind": kinds,
        "resumes": resumes,
        "runs_finished": len(equal),
        "max_steps_lost": max(lost, default=0),
        "partial_files": broken,
        "final_exit": final,
        "final_equals_uninterrupted": all(equal),
        "temporaries_left": temporaries(*runs, cache),
        "uninterrupted_s": round(ref_s, 1),
    }


def _finished(run: Path, steps: int) -> bool:
    """A run killed after its last export: `--resume` says it has trained all its steps (exit 2), which is done."""
    try:
        return json.loads((run / "model" / "config.json").read_text(encoding="utf-8"))["step"] >= steps
    except (OSError, ValueError, KeyError):
        return False


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def disk_full_trial(root: Path, every: int) -> dict:
    """The disk fills while a checkpoint is written: a real ENOSPC on a small tmpfs when we may mount one, else the
    kernel's file-size limit (EFBIG) in the training process. The error is one line, the run folder keeps its last
    good checkpoint, and a resume (with room again) finishes."""
    env = {"GLYPHGEN_CACHE": str(root / "cache-disk")}
    log = root / "disk-full.log"
    mount = root / "small-disk"
    mount.mkdir()
    mounted = _try(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)])
    try:
        out = mount if mounted else root
        if wait(start(train_args("ddpm", out, "full", every, every), log, env)) != 0:
            raise SystemExit(f"disk-full trial: the first run failed; see {log}")
        last = out / "full" / "checkpoints" / "last.ckpt"
        before = last.read_bytes()
        resume = ["train", "--resume", str(out / "full"), "--steps", str(2 * every), "--threads", "1"]
        log.write_text("")
        if mounted:  # fill the disk, leaving room for less than half a checkpoint
            free = shutil.disk_usage(mount).free
            (mount / "filler").write_bytes(b"\0" * max(0, free - len(before) // 2))
            code = wait(start(resume, log, env))
        else:
            code = wait(start(resume, log, env, file_limit=len(before) // 2))
        errors = _errors(log)
        intact = last.read_bytes() == before
        (mount / "filler").unlink(missing_ok=True)
        resumed = wait(start(resume, log, env)) == 0
    finally:
        if mounted:
            _try(["umount", str(mount)])
    return {
        "how": "tmpfs" if mounted else "RLIMIT_FSIZE",
        "exit": code,
        "one_line_error": errors[:1],
        "last_checkpoint_intact": intact,
        "resumes_after": resumed,
    }


def read_only_trial(root: Path, every: int) -> dict:
    """The run folder turns read-only (a read-only bind mount over it): one-line error, checkpoint intact."""
    env = {"GLYPHGEN_CACHE": str(root / "cache-ro")}
    log = root / "read-only.log"
    args = train_args("vae", root, "ro", every, every)
    assert wait(start(args, log, env)) == 0
    run = root / "ro"
    before = (run / "checkpoints" / "last.ckpt").read_bytes()
    if not (_try(["mount", "--bind", str(run), str(run)]) and _try(["mount", "-o", "remount,bind,ro", str(run)])):
        _try(["umount", str(run)])
        return {"skipped": "mount not allowed here"}
    log.write_text("")
    try:
        code = wait(start(["train", "--resume", str(run), "--steps", str(2 * every), "--threads", "1"], log, env))
    finally:
        _try(["umount", str(run)])
    message = _errors(log)
    return {
        "exit": code,
        "one_line_error": message[:1],
        "last_checkpoint_intact": (run / "checkpoints" / "last.ckpt").read_bytes() == before,
    }


def _errors(log: Path) -> list[str]:
    """The CLI's one-line `error: ...` messages in a log (progress bars redraw lines with carriage returns)."""
    return [line for line in log.read_text().replace("\r", "\n").splitlines() if line.startswith("error:")]


def _try(cmd: list[str]) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated (default: all)")
    parser.add_argument("--kills", type=int, default=20, help="kills per family (default: 20)")
    parser.add_argument("--steps", type=int, default=24, help="steps of each run (default: 24)")
    parser.add_argument("--every", type=int, default=4, help="checkpoint every N steps (default: 4)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-faults", action="store_true", help="kills only: skip the disk-full and read-only trials")
    a = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = random.Random(a.seed)
    result: dict = {"kills_per_family": a.kills, "steps": a.steps, "checkpoint_every": a.every, "families": {}}
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="glyphgen-crash-") as tmp:
        root = Path(tmp)
        for family in a.families.split(","):
            result["families"][family] = family_trial(family, root, a.kills, a.steps, a.every, rng)
        if not a.no_faults:
            result["disk_full"] = disk_full_trial(root, a.every)
            result["read_only"] = read_only_trial(root, a.every)
    fam = result["families"].values()
    result["summary"] = {
        "kills": sum(f["kills"] for f in fam),
        "survived": sum(f["kills"] for f in fam if f["final_equals_uninterrupted"] and not f["partial_files"]),
        "partial_files": sum(len(f["partial_files"]) for f in fam),
        "max_steps_lost": max((f["max_steps_lost"] for f in fam), default=0),
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(result, indent=1, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
