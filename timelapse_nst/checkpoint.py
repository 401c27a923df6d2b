"""Checkpoint files: atomic, checksummed, loaded without running code, previous one kept.

File format: ``MAGIC`` (8 bytes) + SHA-256 of the payload (32 bytes) + payload (``torch.save``
of a dict of tensors, numbers, strings and lists). Loading verifies the checksum, then
``torch.load(..., weights_only=True)``: a checkpoint can carry data, never code.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch

from timelapse_nst.errors import UserError
from timelapse_nst.run import fsync_dir, write_atomic

MAGIC = b"TLNSTCK1"
CURRENT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"


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
    except Exception as exc:  # noqa: BLE001 -- any unpickling failure means unusable
        raise CorruptCheckpoint(f"unreadable payload ({type(exc).__name__})") from None
    if not isinstance(state, dict):
        raise CorruptCheckpoint("payload is not a checkpoint mapping")
    return state


def save(folder: Path, state: dict[str, Any]) -> int:
    """Write ``state`` as the current checkpoint, keeping the last good one as the previous.

    Returns the number of bytes written. The previous checkpoint is only rotated once the new
    one is complete, so a crash (or a full disk) at any moment leaves a loadable checkpoint.
    """
    data = encode(state)
    current, previous = folder / CURRENT, folder / PREVIOUS
    staged = folder / (CURRENT + ".new")
    write_atomic(staged, data)
    if current.exists():
        os.replace(current, previous)
    os.replace(staged, current)
    fsync_dir(folder)
    return len(data)


def load(folder: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest loadable checkpoint (current, then a staged one, then previous) and warnings.

    Returns (None, warnings) when there is no checkpoint at all; raises ``UserError`` when
    checkpoints exist but none can be read.
    """
    warnings: list[str] = []
    candidates = [folder / CURRENT, folder / (CURRENT + ".new"), folder / PREVIOUS]
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
        raise UserError(f"every checkpoint in {folder} is damaged ({'; '.join(warnings)}); "
                        "start over with --restart")  # fmt: skip
    if best is not None and warnings:
        warnings.append(f"continuing from the checkpoint at iteration {best['iteration']}")
    return best, warnings
