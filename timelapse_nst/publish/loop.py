"""loop.mp4: a few seconds of the painting appearing, for social posts, made from the frames.

The painting alone (the plain layout) at its own aspect ratio. It follows the captured frames
with the video's pacing, holds the finished painting for a moment, then either crossfades back
to the start (so the loop has no jump) or, as a boomerang, plays backwards to the start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from timelapse_nst.assembly import layouts, sequence, timeline
from timelapse_nst.assembly.encode import EncodeJob, encode
from timelapse_nst.assembly.timeline import Shot
from timelapse_nst.errors import UserError
from timelapse_nst.settings.video import Pacing, VideoSettings

MAX_SECONDS = 10.0
HOLD = 0.6  # seconds on the finished painting
RETURN = 0.5  # seconds of the crossfade back to the start (when not a boomerang)


@dataclass(frozen=True)
class Frames:
    """What a loop is made of: the captured frames (paths, iterations) and the finished painting."""

    paths: Sequence[Path]
    iterations: Sequence[int]
    final: Image.Image
    changes: Sequence[float] | None = None  # between neighbouring frames, for `change` pacing


def check_seconds(seconds: float) -> float:
    if not 1.0 <= seconds <= MAX_SECONDS:
        raise UserError(f"loop length {seconds:g} s: expected 1 to {MAX_SECONDS:g} seconds (social posts loop short)")
    return seconds


def loop_shots(
    iterations: Sequence[int],
    *,
    seconds: float,
    fps: int,
    boomerang: bool,
    pacing: Pacing = "change",
    changes: Sequence[float] | None = None,
) -> list[Shot]:
    """The loop's frames as timeline shots, at most `seconds` long at `fps`."""
    total = max(2, int(seconds * fps + 1e-9))
    # A boomerang plays each forward frame twice (there and back), sharing the turning frame.
    forward_frames = (total + 1) // 2 if boomerang else total - round(RETURN * fps)
    forward_frames = max(1, forward_frames)
    settings = VideoSettings(
        layout="plain",
        duration=forward_frames / fps,
        fps=fps,
        intro=0,
        hold=HOLD / 2 if boomerang else HOLD,  # a boomerang shows its hold twice in a row
        transition=0,
        pacing=pacing,
    )
    forward = timeline.plan(iterations, settings, total_iterations=iterations[-1], changes=changes)
    if boomerang:
        return forward + forward[-2::-1]
    first, last = forward[0], len(iterations) - 1
    back = total - len(forward)
    # The crossfade reuses the painting segment's blend of two captured frames: last -> first.
    fade = [Shot("painting", last, first.first, (k + 1) / (back + 1), float(iterations[last])) for k in range(back)]
    return forward + fade


def loop_frames(shots: Sequence[Shot], frames: Frames, size: tuple[int, int], background: str) -> Iterator[Image.Image]:
    """The pictures of `shots`, each `size`, the painting fitted (aspect kept)."""
    inputs = layouts.Inputs(None, (), "", (), "", total_iterations=frames.iterations[-1])
    layout = layouts.make_layout("plain", size, background, inputs, frames.final.size)
    fitted = sequence.FittedFrames(frames.paths, layout)
    final = layouts.resize_to_fit(frames.final, layout.fit(frames.final.size))
    yield from sequence.video_frames(shots, layout, fitted, final, None)


def loop_size(painting: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """The painting's aspect with the long edge `long_edge`, both sides even (yuv420p)."""
    width, height = layouts.fit(painting, (long_edge, long_edge))
    return max(2, width - width % 2), max(2, height - height % 2)


def write_loop_mp4(
    frames: Frames,
    out: Path,
    *,
    seconds: float,
    boomerang: bool,
    long_edge: int = 1080,
    video: VideoSettings | None = None,
    tags: Mapping[str, str] | None = None,
) -> Path:
    """Encode the loop as H.264 (what every social network takes) at the video's fps and quality."""
    base = video or VideoSettings()
    fps = min(base.fps, 30)  # social networks cap at 30 or 60 fps; 30 keeps the file small
    shots = loop_shots(
        frames.iterations, seconds=seconds, fps=fps, boomerang=boomerang, pacing=base.pacing, changes=frames.changes
    )
    size = loop_size(frames.final.size, long_edge)
    settings = VideoSettings(fps=fps, crf=min(base.crf, 51), preset=base.preset, bitrate=base.bitrate)
    job = EncodeJob(out, size, fps, len(shots) / fps, settings, tags=dict(tags or {}))
    return encode(loop_frames(shots, frames, size, base.background), job)
