"""log.jsonl, one JSON line per iteration: the render writes it, ``status`` and assembly read it. No torch."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timelapse_nst.atomic import fsync_dir
from timelapse_nst.errors import UserError
from timelapse_nst.runfolder.formats import LOG_FORMAT, check_format


@dataclass(frozen=True)
class LogEntry:
    """One line of log.jsonl: the losses at one iteration."""

    iteration: int
    scale: int
    losses: Mapping[str, float]
    loss_weights: Mapping[str, float]
    blend: tuple[float, ...] = (1.0,)  # each style's share of the style loss (several styles)


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

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps({**record, "format": LOG_FORMAT}, separators=(", ", ": "))
        self._file.write((line + "\n").encode("utf-8"))
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


def read_log(path: Path) -> list[LogEntry]:
    """Parse log.jsonl; a missing file gives []. A bad line is a UserError naming file and line.

    A render killed mid-write leaves a truncated last line: the log up to it is good.
    """
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if isinstance(record, dict):
                check_format(record.get("format"), LOG_FORMAT, f"{path}:{number}")
            entries.append(_entry(record))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            if number == len(lines) and not text.endswith("\n"):
                break
            raise UserError(f"{path}:{number}: not a log record ({type(error).__name__}: {error})") from None
    return entries


def last_entry(path: Path) -> LogEntry | None:
    """The last complete line of log.jsonl, read from the end (cheap on a long log)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 8192))
            lines = f.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(lines[:-1] if lines and lines[-1] else lines):
        try:
            record = json.loads(line)
            entry = _entry(record)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        check_format(record.get("format"), LOG_FORMAT, str(path))
        return entry
    return None


def _entry(record: Mapping[str, Any]) -> LogEntry:
    return LogEntry(
        iteration=int(record["iteration"]),
        scale=int(record.get("scale", 0)),
        losses={str(k): float(v) for k, v in record["losses"].items()},
        loss_weights={
            str(k): float(v) for k, v in (record.get("loss_weights") or record.get("weights") or {}).items()
        },  # "weights" up to 0.3
        blend=tuple(float(v) for v in record.get("blend") or (1.0,)),
    )
