"""What a user sees when something goes wrong: ``UserError`` (one line, an exit code from the one
table of exit codes), ``one_line`` for any other error's text, write failures (a full disk, a place
that cannot be written) translated into a ``UserError``, and the names its advice gives the user's
knobs: command-line flags for a person at the command line, the API's keywords for a program
(``--weights random`` or ``weights="random"``)."""

from __future__ import annotations

import errno
import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import IntEnum
from pathlib import Path

# Not every platform names every errno (Windows has no EDQUOT): look them up, never assume.
_DISK_FULL = {getattr(errno, name, None) for name in ("ENOSPC", "EDQUOT", "EFBIG")} - {None}
_READ_ONLY = {errno.EROFS}
_NOT_ALLOWED = {errno.EACCES, errno.EPERM}
_TOO_LONG = {errno.ENAMETOOLONG}
_WINDOWS_TOO_LONG = {206}  # ERROR_FILENAME_EXCED_RANGE, which Python reports as ENOENT


class ExitCode(IntEnum):
    """Every exit code of the command line (scripts rely on them: docs/cli.md, "Using it")."""

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
        super().__init__(_escape_line_breaks(message))
        self.exit_code = exit_code


# Who reads the advice. The API is the default; the command line says so around each command
# (``cli.shell``), so every floor below phrases its advice for the right reader without being told.
_ON_THE_COMMAND_LINE: ContextVar[bool] = ContextVar("on_the_command_line", default=False)
_NO_VALUE = object()
# API keywords whose flag has another name.
_FLAGS = {"overrides": "--set"}


@contextmanager
def command_line() -> Iterator[None]:
    """Inside it, advice names command-line flags; outside, the Python API's keywords."""
    token = _ON_THE_COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _ON_THE_COMMAND_LINE.reset(token)


def option(name: str, value: object = _NO_VALUE, *, placeholder: bool = False) -> str:
    """How the user gives the API keyword ``name``: ``--weights random`` on the command line,
    ``weights="random"`` from Python (``placeholder``: ``value`` stands for one, as in ``PATH``);
    without a value, the flag or the keyword itself."""
    if _ON_THE_COMMAND_LINE.get():
        flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
        if value is _NO_VALUE or value is True:
            return flag
        return f"{flag} {value if value != '' else repr('')}"
    if value is _NO_VALUE:
        return name
    return f"{name}={value if placeholder else _python(value)}"


def setting(key: str, value: object, *, flag: str | None = None, mapping: bool = False) -> str:
    """How the user sets preset key ``key``: ``--set key=value`` (or its own ``flag``) on the command
    line, ``overrides=["key=value"]`` from Python (``mapping``: ``overrides={"key": value}``, as
    ``assemble`` takes them)."""
    if _ON_THE_COMMAND_LINE.get():
        return f"{flag} {value}" if flag else f"--set {key}={value}"
    if mapping:
        return f"overrides={{{_python(key)}: {_python(value)}}}"
    return f"overrides=[{_python(f'{key}={value}')}]"


def _python(value: object) -> str:
    """A value as Python source: strings (paths too) in double quotes, as people write them."""
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    return repr(value)


def one_line(error: BaseException | str, *, limit: int = 300) -> str:
    """An error's text on one line: its first non-blank line, white space folded, cut at ``limit``
    characters; an exception without a message gives its type's name."""
    lines = [" ".join(line.split()) for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else (type(error).__name__ if isinstance(error, BaseException) else "")
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def check_writable_folder(folder: Path, *, what: str | None = None) -> None:
    """Refuse, in one line and before anything is written, an output folder that cannot be made
    (``what``: how to name it; default the ``out`` option)."""
    named = f"{what} {folder}" if what else option("out", folder)
    try:
        _check_folder(folder, named)
    except OSError as exc:  # even looking fails: a name too long, a folder we may not enter
        raise UserError(f"{named}: {why_not(exc)}{_WHAT_TO_DO.get(why_not(exc), '')}") from None


def _check_folder(folder: Path, named: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{named} is a file, not a folder; choose a folder name")
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{named}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only(existing) else "permission denied"
        raise UserError(f"{named}: cannot write in {existing} ({reason})")


def _read_only(path: Path) -> bool:
    if not hasattr(os, "statvfs"):  # Windows: no such flag to read; "permission denied" it is
        return False
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
