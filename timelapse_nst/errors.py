"""What a user sees when something goes wrong: ``UserError`` (one line, an exit code), and write
failures (a full disk, a place that cannot be written) translated into one."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Not every platform names every errno (Windows has no EDQUOT): look them up, never assume.
_DISK_FULL = {getattr(errno, name, None) for name in ("ENOSPC", "EDQUOT", "EFBIG")} - {None}
_READ_ONLY = {errno.EROFS}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM}
_TOO_LONG = {errno.ENAMETOOLONG}
_WINDOWS_TOO_LONG = {206}  # ERROR_FILENAME_EXCED_RANGE, which Python reports as ENOENT


class UserError(Exception):
    """A problem the user can fix: bad input, bad preset, missing weights, a busy run folder.

    The CLI prints ``str(error)`` on one line to stderr and exits with ``exit_code``;
    no traceback is ever shown for it.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(_escape_line_breaks(message))
        self.exit_code = exit_code


def _escape_line_breaks(text: str) -> str:
    """``text`` on one line: a line break that came in with user input (a path, a ``--set`` key, a
    title) is shown as ``\\n``, never printed, so an error stays the one line it promises and
    keeps what follows the break."""
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


@contextmanager
def write_errors(root: Path) -> Iterator[None]:
    """A write that fails becomes one line that names why (a full disk, a read-only file system, a
    missing permission, a path too long) and says how to go on."""
    try:
        yield
    except OSError as exc:
        raise UserError(write_failure(exc, root)) from None


def write_failure(exc: OSError, root: Path) -> str:
    """The one line for a failed write under ``root``: what happened, to which file, what to do."""
    if exc.errno in _DISK_FULL:
        return (
            f"the disk is full while writing to {root} ({os.strerror(exc.errno)}); the last checkpoint "
            f"is intact: free some space, then run: timelapse-nst resume {root}"
        )
    detail = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(root) else ""
    return f"cannot write to {root}: {why_not(exc)}{detail}{_WHAT_TO_DO.get(why_not(exc), '')}"


def why_not(exc: OSError) -> str:
    """Why a file operation failed, in the words a user knows."""
    if exc.errno in _READ_ONLY:
        return "read-only file system"
    if exc.errno in _NOT_ALLOWED:
        return "permission denied"
    if exc.errno in _TOO_LONG or getattr(exc, "winerror", None) in _WINDOWS_TOO_LONG:
        return "the path is too long for the file system"
    return exc.strerror or str(exc)


_WHAT_TO_DO = {
    "read-only file system": "; use a folder on a writable disk",
    "permission denied": "; use a folder you may write in",
    "the path is too long for the file system": "; use a shorter one",
}


def check_writable_folder(folder: Path, *, what: str = "--out") -> None:
    """Refuse, in one line and before anything is written, an output folder that cannot be made."""
    try:
        _check_folder(folder, what)
    except OSError as exc:  # even looking fails: a name too long, a folder we may not enter
        raise UserError(f"{what} {folder}: {why_not(exc)}{_WHAT_TO_DO.get(why_not(exc), '')}") from None


def _check_folder(folder: Path, what: str) -> None:
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
    if not hasattr(os, "statvfs"):  # Windows: no such flag to read; "permission denied" it is
        return False
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
