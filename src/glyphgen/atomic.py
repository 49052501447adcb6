"""Atomic file writes: a temporary file beside the target, fsynced, renamed over it, the directory fsynced.

A reader (or a crash) sees the old file or the new one, never a partial one; a failed write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path in `path`'s folder to write to; on success it replaces `path` atomically.

    fsync=False skips the flushes to disk (many small files that can be made again, such as SVGs of a font)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a font or image is for others to read too
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if not fsync:
        return
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened for fsync
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


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
