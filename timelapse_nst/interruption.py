"""Stops and write failures during a render, turned into one-line messages that say how to go on."""

from __future__ import annotations

import errno
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from timelapse_nst.errors import UserError

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as shells report
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class Interrupted(UserError):
    """The render stopped on request after saving what it had (exit 130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, *, signum: int = signal.SIGINT) -> None:
        super().__init__(message, exit_code=EXIT_CODES.get(signal.Signals(signum), 130))


class StopRequest:
    """Set by SIGINT/SIGTERM; the loop reads it after each iteration and stops after a checkpoint."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int = signal.SIGINT

    def is_set(self) -> bool:
        return self.event.is_set()


class Terminated(BaseException):
    """SIGTERM while no checkpoint is possible (e.g. during the video): stop now, cleanly."""


@contextmanager
def stop_signals() -> Iterator[StopRequest]:
    """SIGINT/SIGTERM ask for a stop after the current iteration; a second Ctrl-C stops now."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum: int, frame: Any) -> None:
        if request.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        request.signum = signum
        request.event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """SIGTERM raises ``Terminated`` (like Ctrl-C raises KeyboardInterrupt), so a stop during the
    video unwinds through the encoder's clean-up instead of killing the process mid-write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def write_errors(root: Path) -> Iterator[None]:
    """A full disk (or a file-size limit) or an unwritable place becomes one line that says how to go on."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise UserError(
                f"the disk is full while writing to {root} ({os.strerror(exc.errno)}); the last checkpoint "
                f"is intact: free some space, then run: timelapse-nst resume {root}"
            ) from None
        detail = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(root) else ""
        raise UserError(f"cannot write to {root}: {exc.strerror or exc}{detail}") from None


def check_writable_folder(folder: Path, *, what: str = "--out") -> None:
    """Refuse, in one line and before anything is written, an output folder that cannot be made."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{what} {folder} is a file, not a folder; choose a folder name")
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{what} {folder}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only(existing) else "permission denied"
        raise UserError(f"{what} {folder}: cannot write in {existing} ({reason})")


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
