"""Atomic file writes: a temporary file beside the target, fsynced, renamed over it, the directory fsynced.

A reader (or a crash) sees the old file or the new one, never a partial one; a failed write leaves nothing behind.
A kill -9 mid-write can leave only a hidden temporary (`.NAME.PID.XXXX.tmp`), which `remove_temporaries` clears.

Fault injection: `GLYPHGEN_PAUSE_WRITE=NAME@POINT` makes the writer of a file named NAME (a glob) stop at POINT,
`open` (the temporary made, nothing written) or `written` (the temporary complete, not yet renamed), create the file
named by `GLYPHGEN_PAUSE_MARK` and sleep, so a test can kill the process at that moment (benchmarks/bench_crash.py).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_path(path: str | Path, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path in `path`'s folder to write to; on success it replaces `path` atomically.

    fsync=False skips the flushes to disk (many small files that can be made again, such as SVGs of a font)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as e:
        raise _cannot_write(path, e) from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        _pause_point(path, "open")
        yield tmp
        _pause_point(path, "written")
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a font or image is for others to read too
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):  # a read-only or vanished folder: nothing of ours is left there anyway
            tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):  # disk full, read-only, over quota: the old file is untouched
            raise _cannot_write(path, e) from None
        raise
    if not fsync:
        return
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened for fsync
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _cannot_write(path: Path, e: OSError):
    from glyphgen.errors import GlyphgenError

    kept = " (the previous file is kept)" if path.exists() else ""
    return GlyphgenError(f"cannot write {path}: {e.strerror or e}{kept}")


def _pause_point(path: Path, point: str) -> None:
    """The fault-injection hook of the module docstring (a no-op unless GLYPHGEN_PAUSE_WRITE names this write)."""
    wanted = os.environ.get("GLYPHGEN_PAUSE_WRITE")
    if not wanted:
        return
    import fnmatch
    import time

    name, _, at = wanted.rpartition("@")
    if at != point or not fnmatch.fnmatchcase(path.name, name):
        return

    mark = os.environ.get("GLYPHGEN_PAUSE_MARK")
    if mark:
        Path(mark).write_text(str(path), encoding="utf-8")
    time.sleep(3600)


def remove_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporaries that writers killed mid-write left in `folder` (not recursive); returns them.

    A temporary's name carries its writer's process id; only those of processes that are gone are removed, so a
    shared folder (a render cache) can be cleared while another process is writing to it."""
    folder, removed = Path(folder), []
    if not folder.is_dir():
        return removed
    for p in folder.glob(f".*{TEMP_SUFFIX}"):
        pid = p.name.removesuffix(TEMP_SUFFIX).split(".")[-2]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            p.unlink()
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def write_text(path: str | Path, text: str) -> None:
    """Write a UTF-8 text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def check_writable(path: str | Path, flag: str = "-o") -> Path:
    """A file can be written at `path`: it is not a folder, and the nearest folder of it that exists takes a file
    (probed by creating and removing a temporary one). Checked before any work, so a long job never ends in an
    error. Otherwise a one-line GlyphgenError naming `flag` and the path."""
    from glyphgen.errors import GlyphgenError

    path = Path(path)
    if path.is_dir():
        raise GlyphgenError(f"{flag} {path} is a folder; name the file to write")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".glyphgen-probe-"):
            pass
    except OSError as e:
        raise GlyphgenError(f"{flag} {path}: cannot write in {folder} ({e.strerror or e})") from None
    return path
