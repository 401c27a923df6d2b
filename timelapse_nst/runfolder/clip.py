"""A clip render's records in its run folder: render.yaml's ``clip`` mapping and clip.jsonl. No torch.

render.yaml's ``clip`` (written once, before painting)::

    clip:
      frames: 48                 # output frames = painted frames
      fps: [30, 1]               # the output frame rate, a fraction
      start: 0.0                 # the trim, in seconds of the source
      end: 1.6
      size: [96, 64]             # the painted frames, width x height (even)
      rotation: 90               # degrees (clockwise) the source was turned to stand upright
      audio: true                # the source has a sound track
      source: {codec: h264, width: 64, height: 96, fps: 30.0, duration: 2.0}   # as stored

clip.jsonl, one line per finished painted frame, in order (no times in it: a resumed render
writes the same bytes)::

    {"frame": 3, "start": "warped", "iterations": 40, "losses": {...}, "temporal": 0.81, "consistency": 0.97}

``start``: ``fresh`` (frame 0, painted as a still is), ``warped`` (from the previous painted frame
carried along the optical flow) or ``cut`` (fresh again after a scene cut). ``losses``: the frame's
own objective as log.jsonl reports a still's (content, style, tv and their weighted total: what
painting the frame on its own would minimise); ``temporal``: the temporal term (unweighted: mean
squared difference in levels to the warped earlier frame(s) where the flow is consistent);
``consistency``: the fraction of pixels the flow check kept (``null`` where nothing was warped);
``blend`` (several paintings only): each one's share of the style loss in that frame.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from timelapse_nst.atomic import fsync_dir
from timelapse_nst.errors import UserError

START_KINDS = ("fresh", "warped", "cut")


@dataclass(frozen=True)
class ClipRecord:
    """render.yaml's ``clip`` mapping: what the painted clip is made of."""

    frames: int
    fps: Fraction
    start: float
    end: float
    size: tuple[int, int]  # (width, height) of the painted frames
    rotation: int
    audio: bool
    source: Mapping[str, Any]

    def to_yaml(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "fps": [self.fps.numerator, self.fps.denominator],
            "start": self.start,
            "end": self.end,
            "size": list(self.size),
            "rotation": self.rotation,
            "audio": self.audio,
            "source": dict(self.source),
        }

    @property
    def duration(self) -> float:
        """Seconds of the painted clip (frames at the output rate)."""
        return float(self.frames / self.fps)


def clip_record(manifest: Mapping[str, Any]) -> ClipRecord | None:
    """The ``clip`` record of a run's manifest; None for a still render."""
    data = manifest.get("clip")
    if data is None:
        return None
    try:
        numerator, denominator = data["fps"]
        width, height = data["size"]
        return ClipRecord(
            frames=int(data["frames"]),
            fps=Fraction(int(numerator), int(denominator)),
            start=float(data["start"]),
            end=float(data["end"]),
            size=(int(width), int(height)),
            rotation=int(data.get("rotation", 0)),
            audio=bool(data.get("audio", False)),
            source=dict(data.get("source") or {}),
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise UserError(f"render.yaml's clip record is damaged ({type(error).__name__}: {error})") from None


@dataclass(frozen=True)
class ClipFrame:
    """One line of clip.jsonl: a finished painted frame."""

    frame: int
    start: str
    iterations: int
    losses: Mapping[str, float]
    temporal: float | None
    consistency: float | None
    blend: tuple[float, ...] = (1.0,)  # each painting's share of the style loss (several paintings)

    def to_json(self) -> str:
        record: dict[str, Any] = {
            "frame": self.frame,
            "start": self.start,
            "iterations": self.iterations,
            "losses": dict(self.losses),
            "temporal": self.temporal,
            "consistency": self.consistency,
        }
        if len(self.blend) > 1:
            record["blend"] = list(self.blend)
        return json.dumps(record, separators=(", ", ": "))


def read_clip_log(path: Path) -> list[ClipFrame]:
    """The finished frames clip.jsonl records, in order. A last line cut short by a kill is left
    out (its frame is painted again); a damaged line before it is a ``UserError``."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    frames = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            frames.append(_clip_frame(json.loads(line)))
        except (ValueError, KeyError, TypeError) as error:
            if not text.endswith("\n") and number == text.count("\n") + 1:
                break
            raise UserError(f"{path}:{number}: not a clip record ({type(error).__name__}: {error})") from None
    for expected, frame in enumerate(frames):
        if frame.frame != expected:
            raise UserError(f"{path}: line {expected + 1} records frame {frame.frame}, expected {expected}")
    return frames


def _clip_frame(record: Mapping[str, Any]) -> ClipFrame:
    start = str(record["start"])
    if start not in START_KINDS:
        raise ValueError(f"start {start!r} is not one of {', '.join(START_KINDS)}")
    temporal, consistency = record.get("temporal"), record.get("consistency")
    return ClipFrame(
        frame=int(record["frame"]),
        start=start,
        iterations=int(record["iterations"]),
        losses={str(k): float(v) for k, v in record["losses"].items()},
        temporal=None if temporal is None else float(temporal),
        consistency=None if consistency is None else float(consistency),
        blend=tuple(float(share) for share in record.get("blend") or (1.0,)),
    )


class ClipLogWriter:
    """Appends finished frames to clip.jsonl, durably, after cutting it back to ``keep`` lines."""

    def __init__(self, path: Path, *, keep: int) -> None:
        self.path = path
        data = path.read_bytes() if path.exists() else b""
        lines = data.split(b"\n")[:keep]
        size = sum(len(line) + 1 for line in lines)  # the kept lines, each with its newline
        with open(path, "ab") as file:  # cut in place (one system call): a cut-short last line goes
            file.truncate(size)
            os.fsync(file.fileno())
        self.frames = keep

    def append(self, frame: ClipFrame) -> None:
        """One line, on disk before the next frame starts (a resume counts on it)."""
        if frame.frame != self.frames:
            raise ValueError(f"clip.jsonl: frame {frame.frame} written after {self.frames} frames")
        with open(self.path, "ab") as file:
            file.write((frame.to_json() + "\n").encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        if self.frames == 0:
            fsync_dir(self.path.parent)
        self.frames += 1
