"""The ``clip`` record of a clip's render.yaml: what was painted from which part of the source. No torch.

    clip: {frames: 48, fps: [24, 1], start: 1.5, end: 3.5, size: [256, 144], rotation: 90,
           audio: true, source: {codec: h264, width: 1920, height: 1080, fps: 29.97, duration: 12.0}}

``frames`` painted frames at ``fps`` (a fraction: 30000/1001 stays exact) were decoded from
``start`` to ``end`` seconds of the source (``inputs/content.<ext>``, whose sound the videos
use), rotated upright by ``rotation`` degrees, at ``size``. A render.yaml without the record is
a still render's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from timelapse_nst.errors import UserError


@dataclass(frozen=True)
class ClipRecord:
    """A clip render's facts, as render.yaml records them."""

    frames: int  # output frames the render paints (>= 1)
    fps: Fraction  # output frame rate
    start: float  # seconds into the source where frame 0 is taken
    end: float  # seconds into the source where the painted part ends
    size: tuple[int, int]  # (width, height) of the painted frames
    rotation: int = 0  # degrees the decoded frames were turned to stand upright
    audio: bool = False  # the source has a sound track
    source: Mapping[str, Any] = field(default_factory=dict)  # codec, width, height, fps, duration

    def seconds(self, frames: int | None = None) -> float:
        """How long ``frames`` (default: all of them) last at the output frame rate."""
        return float((self.frames if frames is None else frames) / self.fps)


def clip_record(manifest: Mapping[str, Any], *, where: str) -> ClipRecord | None:
    """The manifest's ``clip`` record (None for a still render); UserError naming ``where`` if malformed."""
    record = manifest.get("clip")
    if record is None:
        return None
    try:
        if not isinstance(record, Mapping):
            raise ValueError(f"expected a mapping, got {type(record).__name__}")
        return _parse(record)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        detail = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise UserError(f"{where}: clip: {detail}") from None


def _parse(record: Mapping[str, Any]) -> ClipRecord:
    numerator, denominator = record["fps"] if isinstance(record["fps"], list | tuple) else (record["fps"], 1)
    fps = Fraction(int(numerator), int(denominator))
    width, height = (int(value) for value in record["size"])
    frames = _whole(record["frames"], "frames")
    if frames < 1 or fps <= 0 or width < 1 or height < 1:
        raise ValueError(f"frames, fps and size must be positive (got {frames}, {fps}, {width}x{height})")
    start, end = float(record.get("start", 0.0)), float(record.get("end", 0.0))
    if start < 0 or end < start:
        raise ValueError(f"start {start} and end {end} must satisfy 0 <= start <= end")
    source = record.get("source")
    return ClipRecord(
        frames=frames,
        fps=fps,
        start=start,
        end=end,
        size=(width, height),
        rotation=_whole(record.get("rotation", 0), "rotation"),
        audio=bool(record.get("audio", False)),
        source=source if isinstance(source, Mapping) else {},
    )


def _whole(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ValueError(f"{key} must be a whole number, got {value!r}")
    return int(value)
