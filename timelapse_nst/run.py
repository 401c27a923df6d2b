"""The run folder: its layout, its lock, its manifest (render.yaml) and its per-iteration log.

Layout (a stable contract, documented in the README)::

    render.yaml        resolved config, input hashes, weights source, tool version
    inputs/            byte copies of the content and style files (resume needs nothing else)
    frames/NNNNNN.png  captured frames, named by iteration
    log.jsonl          one JSON line per iteration (losses, scheduled weights, learning rate)
    checkpoint.pt      latest checkpoint (checkpoint.prev.pt: the one before)
    final.png          the finished painting
    timelapse.mp4      the video (re-made at will by `timelapse-nst assemble`)
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any

import yaml

from timelapse_nst.errors import UserError

MANIFEST = "render.yaml"
PROGRESS = "progress.json"  # a small, torch-free summary of the last checkpoint (for `status`)
LOCK = ".lock"


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


def write_atomic(path: Path, data: bytes) -> None:
    """temp file → fsync → os.replace → fsync the folder. A crash leaves old or new, never half."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


class RunFolder:
    """Paths of one run folder and the operations on it that must be safe."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.manifest = self.root / MANIFEST
        self.inputs = self.root / "inputs"
        self.frames = self.root / "frames"
        self.log = self.root / "log.jsonl"
        self.final = self.root / "final.png"
        self.video = self.root / "timelapse.mp4"
        self._lock_file: IO[str] | None = None

    # -- manifest -------------------------------------------------------------------------
    def has_render(self) -> bool:
        return self.manifest.is_file()

    def read_manifest(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load(self.manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{self.root} is not a run folder (no {MANIFEST})") from None
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise UserError(f"{self.manifest} is unreadable: {type(exc).__name__}") from None
        if not isinstance(data, dict) or "config" not in data or "inputs" not in data:
            raise UserError(f"{self.manifest} is not a timelapse-nst manifest")
        return data

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        text = yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
        write_atomic(self.manifest, text.encode("utf-8"))

    def copy_input(self, role: str, source: Path) -> str:
        """Copy an input file into ``inputs/`` (atomically); returns its path relative to the run."""
        self.inputs.mkdir(parents=True, exist_ok=True)
        target = self.inputs / f"{role}{source.suffix.lower() or '.img'}"
        write_atomic(target, source.read_bytes())
        return target.relative_to(self.root).as_posix()

    # -- lock -----------------------------------------------------------------------------
    def lock(self) -> str | None:
        """Take the folder for this process; refuse if another live process holds it.

        Uses ``flock``, which the kernel drops when the holder dies (even by SIGKILL), so a
        stale lock can always be taken over. Returns a note when it took over a stale one.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 -- held until unlock()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise UserError(f"{self.root} is in use by process {holder}; wait for it or stop it first") from None
            raise
        handle.seek(0)
        previous = handle.read().strip()
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle
        if previous and previous != str(os.getpid()):
            return f"took over the lock of process {previous}, which is no longer running"
        return None

    def unlock(self) -> None:
        if self._lock_file is not None:
            # Forget our pid first: a pid left in the file means "its holder died", and a
            # clean exit must not make the next run report a take-over.
            self._lock_file.truncate(0)
            self._lock_file.close()  # closing drops the flock; the file stays (harmless)
            self._lock_file = None

    # -- housekeeping ---------------------------------------------------------------------
    def remove_partial_files(self) -> int:
        """Delete temp files a killed process left behind (frames and checkpoints are atomic)."""
        count = 0
        for folder in (self.root, self.frames, self.inputs):
            if folder.is_dir():
                for tmp in folder.glob("*.tmp"):
                    tmp.unlink(missing_ok=True)
                    count += 1
        return count

    def move_aside(self) -> Path:
        """Rename the whole folder to ``<name>.previous-N`` (starting over never deletes)."""
        n = 1
        while (target := self.root.with_name(f"{self.root.name}.previous-{n}")).exists():
            n += 1
        shutil.move(str(self.root), str(target))
        return target

    def frame_iterations(self) -> list[int]:
        if not self.frames.is_dir():
            return []
        return sorted(int(p.stem) for p in self.frames.glob("[0-9][0-9][0-9][0-9][0-9][0-9].png"))


class LogWriter:
    """Appends one JSON line per iteration to log.jsonl; can be cut back to a checkpoint."""

    def __init__(self, path: Path, *, resume_at_bytes: int = 0) -> None:
        self.path = path
        mode = "r+b" if path.exists() else "wb"
        self._file = open(path, mode)  # noqa: SIM115 -- held until close()
        self._file.truncate(resume_at_bytes)
        self._file.seek(resume_at_bytes)
        self.lines = 0 if resume_at_bytes == 0 else self._count_lines(resume_at_bytes)

    def _count_lines(self, limit: int) -> int:
        with open(self.path, "rb") as f:
            return f.read(limit).count(b"\n")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write((json.dumps(record, separators=(", ", ": ")) + "\n").encode("utf-8"))
        self._file.flush()  # visible to `status` at once; durability (fsync) comes with checkpoints
        self.lines += 1

    def sync(self) -> int:
        """Flush to disk; returns the byte offset a checkpoint records."""
        self._file.flush()
        os.fsync(self._file.fileno())
        return self._file.tell()

    def close(self) -> None:
        """Flush and close. A write error here is not raised: it only ever hits lines after the
        last checkpoint, which a resume cuts off and writes again, and raising it (on a full
        disk, while a UserError is already on its way out) would hide the real message."""
        if not self._file.closed:
            try:
                self._file.flush()
            except OSError:
                pass
            try:
                self._file.close()
            except OSError:
                pass
            fsync_dir(self.path.parent)
