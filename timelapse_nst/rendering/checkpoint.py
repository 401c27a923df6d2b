"""Checkpoints: when to take one (``Checkpointer``) and the file: atomic, checksummed, loaded
without running code, previous one kept.

File format: ``MAGIC`` (8 bytes) + SHA-256 of the payload (32 bytes) + payload (``torch.save``
of a dict of tensors, numbers, strings and lists). Loading verifies the checksum, then
``torch.load(..., weights_only=True)``: a checkpoint can carry data, never code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any, BinaryIO

import torch

from timelapse_nst.atomic import atomic_path, fsync_dir, write_atomic
from timelapse_nst.engine.loop import Snapshot, Step
from timelapse_nst.errors import UserError, option
from timelapse_nst.rendering.capture import FrameWriter
from timelapse_nst.rendering.plan import is_out_of_memory
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.runfolder.formats import check_format
from timelapse_nst.runfolder.log import LogWriter
from timelapse_nst.settings.config import RenderConfig
from timelapse_nst.version import __version__

MAGIC = b"TLNSTCK1"
CHECKPOINT_FORMAT = 1
"""The layout of the state mapping (its ``format`` key); a newer one is refused, not misread."""


class CorruptCheckpoint(Exception):
    """A checkpoint file that is truncated, altered or not ours."""


def encode(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    write_to(buffer, state)
    return buffer.getvalue()


def decode(data: bytes) -> dict[str, Any]:
    return read_from(io.BytesIO(data))


def write_to(file: BinaryIO, state: dict[str, Any]) -> None:
    """The checkpoint of ``state`` into a seekable ``file``, streamed: the payload is hashed on its
    way to the file and the digest written into the header after it, so no copy of the state is
    held in memory (at 3840x2160 the L-BFGS state is over 2 GB)."""
    start = file.tell()
    file.write(MAGIC + bytes(32))
    hashing = _Hashing(file)
    try:
        torch.save(state, hashing)
    except RuntimeError:
        if hashing.error is not None:  # torch reports a failed write as a position mismatch
            raise hashing.error from None
        raise
    end = file.tell()
    file.seek(start + len(MAGIC))
    file.write(hashing.sha.digest())
    file.seek(end)


def read_from(file: BinaryIO) -> dict[str, Any]:
    """The state in a checkpoint ``file``: the checksum verified streaming, then the payload
    loaded straight from the file (one copy of the state in memory, not three)."""
    header = file.read(len(MAGIC) + 32)
    if len(header) < len(MAGIC) + 32 or not header.startswith(MAGIC):
        raise CorruptCheckpoint("not a timelapse-nst checkpoint (bad header)")
    sha = hashlib.sha256()
    while chunk := file.read(_CHUNK):
        sha.update(chunk)
    if sha.digest() != header[len(MAGIC) :]:
        raise CorruptCheckpoint("checksum mismatch (truncated or damaged)")
    try:
        state = torch.load(_Payload(file, len(header)), map_location="cpu", weights_only=True)
    except MemoryError:
        raise  # not a damaged file: the caller says so
    except Exception as exc:
        if is_out_of_memory(exc):  # torch's allocator says so with a RuntimeError
            raise MemoryError(str(exc)) from None
        raise CorruptCheckpoint(f"unreadable payload ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise CorruptCheckpoint("payload is not a checkpoint mapping")
    return state


_CHUNK = 1 << 24


class _Hashing:
    """A write-only file that hashes what passes through it (torch.save writes tensor by tensor)."""

    def __init__(self, file: BinaryIO) -> None:
        self.file, self.sha = file, hashlib.sha256()
        self.error: OSError | None = None  # a full disk, kept for the caller: torch swallows it

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        try:
            return self.file.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        self.file.flush()


class _Payload(io.RawIOBase):
    """The part of ``file`` after the header, as a file of its own (torch.load seeks in it)."""

    def __init__(self, file: BinaryIO, offset: int) -> None:
        super().__init__()
        self.file, self.offset = file, offset
        self.file.seek(offset)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.file.readinto(buffer)  # type: ignore[attr-defined]

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position += self.offset
        return self.file.seek(position, whence) - self.offset

    def tell(self) -> int:
        return self.file.tell() - self.offset


def save(run: RunFolder, state: dict[str, Any]) -> int:
    """Write ``state`` as the current checkpoint, keeping the last good one as the previous.

    Returns the number of bytes written. The previous checkpoint is only rotated once the new
    one is complete, so a crash (or a full disk) at any moment leaves a loadable checkpoint.
    """
    current, previous, staged = run.checkpoint, run.previous_checkpoint, run.staged_checkpoint
    with atomic_path(staged) as temporary, open(temporary, "wb") as file:
        write_to(file, state)
        size = file.tell()
    if current.exists():
        os.replace(current, previous)
    os.replace(staged, current)
    fsync_dir(run.root)
    return size


def load(run: RunFolder) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest loadable checkpoint (current, then a staged one, then previous) and warnings.

    Returns (None, warnings) when there is no checkpoint at all; raises ``UserError`` when
    checkpoints exist but none can be read.
    """
    warnings: list[str] = []
    candidates = [run.checkpoint, run.staged_checkpoint, run.previous_checkpoint]
    found = [p for p in candidates if p.exists()]
    best: dict[str, Any] | None = None
    for path in found:
        try:
            with open(path, "rb") as file:
                state = read_from(file)
        except (CorruptCheckpoint, OSError) as exc:
            warnings.append(f"{path.name} is unusable: {exc}")
            continue
        except MemoryError:
            raise UserError(_no_memory(path)) from None
        check_format(state.get("format"), CHECKPOINT_FORMAT, str(path))  # newer: refused, never misread
        if best is None or _position(state) > _position(best):
            best = state
    if found and best is None:
        raise UserError(
            f"every checkpoint in {run.root} is damaged ({'; '.join(warnings)}); start over with {option('restart', True)}"
        )
    if best is not None and warnings:
        warnings.append(f"continuing from the checkpoint at iteration {best['iteration']}")
    return best, warnings


def _position(state: dict[str, Any]) -> tuple[int, int]:
    """How far a checkpoint got: (frame, iteration); a still render is frame 0 throughout."""
    return int(state.get("frame", 0)), int(state.get("iteration", -1))


def _no_memory(path: Path) -> str:
    size = path.stat().st_size
    shown = f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"
    return (
        f"not enough memory to read {path} ({shown}): close other programs, or resume on a machine "
        "with more memory; the checkpoint itself is intact"
    )


class Checkpointer:
    """The narrow checkpoint callback: decides when, gathers the state, writes it atomically."""

    def __init__(
        self,
        run: RunFolder,
        config: RenderConfig,
        writer: FrameWriter,
        log: LogWriter,
        total: int,
        *,
        elapsed: float,
        inputs: dict[str, str],
        last_state: dict[str, Any] | None = None,
        record: dict[str, Any] | None = None,
    ) -> None:
        self.run, self.config, self.writer, self.log, self.total = run, config, writer, log, total
        self.record = dict(record or {})  # more for the checkpoint and progress.json: a clip's frame
        self.elapsed_before = elapsed
        self.inputs = inputs
        self.started = time.monotonic()
        self.last_saved = self.started
        # The loaded checkpoint counts as saved: a resume killed between final.png and the
        # "complete" checkpoint has no step left to run, yet must still be marked complete.
        self.last_state: dict[str, Any] | None = last_state

    def __call__(self, step: Step, snapshot: Snapshot, stopping: bool) -> None:
        every_n = self.config.checkpoint.every_iterations
        every_s = self.config.checkpoint.every_seconds
        due = (
            stopping
            or step.iteration == self.total
            or (every_n is not None and step.iteration % every_n == 0)
            or (every_s is not None and time.monotonic() - self.last_saved >= every_s)
        )
        if due:
            self.save(snapshot(), step)

    def save(self, state: dict[str, Any], step: Step, *, complete: bool = False) -> None:
        self.writer.flush()  # every frame up to this iteration is on disk before we say so
        state.update(
            format=CHECKPOINT_FORMAT,
            version=__version__,
            render_hash=self.config.render_hash(),
            inputs=self.inputs,
            complete=complete,
            threads=torch.get_num_threads(),
            rng={"torch": torch.get_rng_state()},
            log={"lines": self.log.lines, "bytes": self.log.sync()},
            capture={"last_iteration": step.iteration},
            losses=dict(step.losses),
            elapsed=self.elapsed_before + time.monotonic() - self.started,
            saved_at=time.time(),
            **self.record,
        )
        save(self.run, state)
        summary = {
            k: state[k] for k in ("iteration", "scale", "complete", "losses", "elapsed", "saved_at", *self.record)
        }
        write_atomic(self.run.progress, json.dumps({**summary, "total": self.total}).encode())
        self.last_saved = time.monotonic()
        self.last_state = state

    def mark_complete(self) -> None:
        if self.last_state is not None:
            state = dict(self.last_state)
            self.save(
                state,
                Step(state["iteration"], self.total, state["scale"], state["image"], state["losses"]),
                complete=True,
            )
