"""What a user sees when something goes wrong: ``UserError`` (one line, an exit code from the one
table of exit codes), ``one_line`` for any other error's text, and write failures (a full disk, a
place that cannot be written) translated into a ``UserError``."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class ExitCode(IntEnum):
    """Every exit code of the command line (scripts rely on them: README, "Using it")."""

    OK = 0
    USER_ERROR = 2  # bad input or a refusal: one line on stderr, nothing (more) done
    SOME_JOBS_FAILED = 3  # batch: the other jobs finished; a re-run retries the failed ones
    WOULD_NOT_START = 4  # plan: render would refuse (memory, disk or run folder)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it), after a checkpoint
    TERMINATED = 143  # SIGTERM (128 + SIGTERM)

    @classmethod
    def of_signal(cls, signum: int) -> ExitCode:
        """The code of a stop by ``signum``: SIGTERM's, else Ctrl-C's."""
        return cls.TERMINATED if signum == signal.SIGTERM else cls.INTERRUPTED

    @classmethod
    def is_stop(cls, code: int) -> bool:
        """A stop on request (Ctrl-C, SIGTERM), not a failure."""
        return code in (cls.INTERRUPTED, cls.TERMINATED)


class UserError(Exception):
    """A problem the user can fix: bad input, bad preset, missing weights, a busy run folder.

    The CLI prints ``str(error)`` on one line to stderr and exits with ``exit_code``;
    no traceback is ever shown for it.
    """

    exit_code: int = ExitCode.USER_ERROR

    def __init__(self, message: str, *, exit_code: int = ExitCode.USER_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def one_line(error: BaseException | str, *, limit: int = 300) -> str:
    """An error's text on one line: its first non-blank line, white space folded, cut at ``limit``
    characters; an exception without a message gives its type's name."""
    lines = [" ".join(line.split()) for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else (type(error).__name__ if isinstance(error, BaseException) else "")
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
