"""Atomic file writes: a reader, or a resume after ``kill -9``, sees the old file or the new, never half.

Every writer of the project goes through here: frames, final.png, checkpoints, render.yaml,
progress.json, the weights cache, the contact sheet, the loss plot and the video. Each write
goes to a fresh temporary file of its own beside the target (``<name>.<random>.partial``): in
the same folder, so the rename is atomic, and unique, so two processes writing one file (two
workers filling a cache) never write into the same temporary file. The clean-up after a kill
knows one suffix.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_SUFFIX = ".partial"


def temp_path(path: Path) -> Path:
    """A new, empty file beside ``path`` that no other writer has: where its content is written
    before the rename. Made with O_EXCL and the usual permissions (umask), not mkstemp's 0600,
    so the target keeps the permissions a plain write would give it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        candidate = path.with_name(f"{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            os.close(os.open(candidate, flags, 0o666))
        except FileExistsError:
            continue  # one chance in four billion; draw again
        return candidate


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where directories can't be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))  # Windows flushes only what may be written
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; then fsync, rename, fsync the folder.

    If the body raises (or is interrupted), the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = temp_path(path)
    try:
        yield tmp
        _fsync_file(tmp)  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` for the block, waiting for it: one process at a time reads, fills or
    rewrites ``path`` (a cache that several renders may fill at once). The OS drops the lock
    when its holder dies."""
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        yield
