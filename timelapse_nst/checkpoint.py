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
from typing import Any

import torch

from timelapse_nst import __version__
from timelapse_nst.atomic import fsync_dir, write_atomic
from timelapse_nst.capture import FrameWriter
from timelapse_nst.config import RenderConfig
from timelapse_nst.errors import UserError
from timelapse_nst.optimize import Snapshot, Step
from timelapse_nst.run import RunFolder
from timelapse_nst.runlog import LogWriter

MAGIC = b"TLNSTCK1"


class CorruptCheckpoint(Exception):
    """A checkpoint file that is truncated, altered or not ours."""


def encode(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    return MAGIC + hashlib.sha256(payload).digest() + payload


def decode(data: bytes) -> dict[str, Any]:
    if len(data) < len(MAGIC) + 32 or not data.startswith(MAGIC):
        raise CorruptCheckpoint("not a timelapse-nst checkpoint (bad header)")
    digest, payload = data[len(MAGIC) : len(MAGIC) + 32], data[len(MAGIC) + 32 :]
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptCheckpoint("checksum mismatch (truncated or damaged)")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CorruptCheckpoint(f"unreadable payload ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise CorruptCheckpoint("payload is not a checkpoint mapping")
    return state


def save(run: RunFolder, state: dict[str, Any]) -> int:
    """Write ``state`` as the current checkpoint, keeping the last good one as the previous.

    Returns the number of bytes written. The previous checkpoint is only rotated once the new
    one is complete, so a crash (or a full disk) at any moment leaves a loadable checkpoint.
    """
    data = encode(state)
    current, previous, staged = run.checkpoint, run.previous_checkpoint, run.staged_checkpoint
    write_atomic(staged, data)
    if current.exists():
        os.replace(current, previous)
    os.replace(staged, current)
    fsync_dir(run.root)
    return len(data)


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
            state = decode(path.read_bytes())
        except (CorruptCheckpoint, OSError) as exc:
            warnings.append(f"{path.name} is unusable: {exc}")
            continue
        if best is None or state.get("iteration", -1) > best.get("iteration", -1):
            best = state
    if found and best is None:
        raise UserError(f"every checkpoint in {run.root} is damaged ({'; '.join(warnings)}); start over with --restart")
    if best is not None and warnings:
        warnings.append(f"continuing from the checkpoint at iteration {best['iteration']}")
    return best, warnings


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
    ) -> None:
        self.run, self.config, self.writer, self.log, self.total = run, config, writer, log, total
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
            format=1,
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
        )
        save(self.run, state)
        summary = {k: state[k] for k in ("iteration", "scale", "complete", "losses", "elapsed", "saved_at")}
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
