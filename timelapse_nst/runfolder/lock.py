"""The run folder's lock: one process at a time changes a run folder, on every platform.

The lock lies *beside* the folder, not in it (``runs/.night.lock`` for ``runs/night``):
``render --restart`` moves the folder aside while holding its lock, and a lock file inside
would move with it, letting a second process lock the new folder of the same name while the
first still writes there. ``filelock`` takes an OS lock (``flock``; ``LockFileEx`` on
Windows) that the OS drops when its holder dies, even by ``kill -9``, so a stale lock is
always taken over.

Who holds it is recorded beside it (``runs/.night.lock.holder``: the pid), written once the
lock is taken and removed before it is let go: a record left behind names a holder that died.
"""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout

from timelapse_nst.atomic import write_atomic
from timelapse_nst.errors import UserError

LEGACY_LOCK_NAME = ".lock"
"""Where the lock lay up to 0.3, inside the folder: a folder that has one is still ours."""

_MAX_COMMAND_CHARS = 160


def lock_path(root: Path) -> Path:
    """The lock file of the run folder ``root``: beside it, hidden, named after it."""
    absolute = Path(os.path.abspath(root))  # `--out .` has a name too; symlinks are not followed
    return absolute.parent / f".{absolute.name or 'root'}.lock"


class FolderLock:
    """The lock of one run folder, taken without waiting: a busy folder is a one-line refusal."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = lock_path(self.root)
        self.holder_file = self.path.with_name(self.path.name + ".holder")
        self._lock: FileLock | None = None

    def acquire(self) -> str | None:
        """Take the lock, or raise ``UserError`` naming the process that has it. Returns a note
        when the previous holder died holding it (its record was left behind)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise UserError(self._busy_message()) from None
        self._lock = lock
        previous = self.recorded_pid()
        try:
            write_atomic(self.holder_file, str(os.getpid()).encode("ascii"))
        except BaseException:
            self.release()
            raise
        if previous is not None and previous != os.getpid():
            return f"took over the lock of process {previous}, which is no longer running"
        return None

    def release(self) -> None:
        if self._lock is None:
            return
        try:
            # Forget the holder first: a record left behind means "its holder died", and a
            # clean exit must not make the next run report a take-over.
            self.holder_file.unlink(missing_ok=True)
        finally:
            self._lock.release()
            self._lock = None

    @property
    def held(self) -> bool:
        return self._lock is not None

    def recorded_pid(self) -> int | None:
        """The pid in the holder record (a live holder, or one that died holding the lock)."""
        try:
            text = self.holder_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() else None

    def holder(self) -> int | None:
        """The pid of the live process holding the lock (-1: one not yet named), else None.

        Probes the lock only when a holder record exists, so a look (``status``) almost never
        takes the lock at the moment a render starts, which would make that render refuse."""
        recorded = self.recorded_pid()
        if recorded is None or not self.path.exists():
            return None
        probe = FileLock(str(self.path), timeout=0)
        try:
            probe.acquire()
        except Timeout:
            return recorded
        except OSError:  # a lock file we may not open (a read-only copy): nobody can hold it there
            return None
        probe.release()
        return None

    def _busy_message(self) -> str:
        pid = self.recorded_pid()
        who = f"process {pid}{describe_process(pid)}" if pid is not None else "another process"
        return f"{self.root} is in use by {who}; wait for it to end, or stop it (`timelapse-nst status {self.root}`)"


def describe_process(pid: int) -> str:
    """`` (its command line)`` where psutil can tell, else nothing (another user's process, say)."""
    import psutil

    try:
        command = " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return ""
    command = " ".join(command.split())
    if len(command) > _MAX_COMMAND_CHARS:
        command = command[: _MAX_COMMAND_CHARS - 3] + "..."
    return f" ({command})" if command else ""
