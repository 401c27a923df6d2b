"""Which captured frame(s) each video frame shows: pacing, crossfades, intro/hold/outro. Pure.

The video is cut into four segments: intro (content and style), painting (the captured frames),
hold (the finished painting) and outro (a before/after comparison). A clip's video puts a fifth
between hold and outro: clip, the painted clip playing at its own speed, once its first frame
has been painted (the segments before it are those of a still render). Inside the painting segment
every captured frame j gets a position C_j in [0, 1] (C_0 = 0, C_last = 1) that says when it is
reached; the pacing modes differ only in how C is computed, and one inverse maps video time to
a fractional frame index.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np

from timelapse_nst.settings.schedules import smoothstep
from timelapse_nst.settings.video import Pacing, VideoSettings

Segment = Literal["intro", "painting", "hold", "clip", "outro"]


@dataclass(frozen=True)
class Shot:
    """What one video frame shows.

    `first` and `second` index the captured frames (in a clip's clip and outro segments: its
    painted frames); `blend` is the weight of `second` (0..1).
    `fade` is the weight of the incoming picture during a segment transition: in the intro the
    weight of the painting over the intro card, in the outro the weight of the comparison over
    the finished painting. `phase` runs 0..1 through the segment; `opacity` fades the very first
    frames in from the background.
    """

    segment: Segment
    first: int
    second: int
    blend: float
    iteration: float
    fade: float = 1.0
    phase: float = 0.0
    opacity: float = 1.0


@dataclass(frozen=True)
class ClipTiming:
    """The painted clip a video plays after its first frame's timelapse: `frames` at `fps`."""

    frames: int
    fps: Fraction

    def video_frames(self, fps: int) -> int:
        """How many video frames at `fps` the clip lasts (at least one)."""
        return max(1, round(self.frames * fps / self.fps))

    def frame_at(self, seconds: float) -> int:
        """The painted frame on screen `seconds` after the clip starts to move."""
        return min(self.frames - 1, math.floor(seconds * self.fps + 1e-9))


def positions(iterations: Sequence[int], pacing: Pacing, changes: Sequence[float] | None = None) -> list[float]:
    """C_j for each captured frame: the fraction of the painting segment at which it is shown.

    linear: proportional to the iteration (a true timelapse). eased: proportional to the square
    root of the iteration, i.e. iterations grow with the square of video time -- slow early where
    the image changes most (and evenly spaced for the common round(2*sqrt(i)) capture). change:
    proportional to the cumulative image change (`changes[j]` between frames j and j+1).
    """
    count = len(iterations)
    if count == 1:
        return [1.0]
    if pacing == "change":
        if changes is None or len(changes) != count - 1:
            got = None if changes is None else len(changes)
            raise ValueError(f"change pacing needs {count - 1} changes, got {got}")
        steps = np.maximum(np.asarray(changes, dtype=np.float64), 0.0)
    else:
        values = np.asarray(iterations, dtype=np.float64) - iterations[0]
        if pacing == "eased":
            values = np.sqrt(values)
        steps = np.diff(values)
    total = float(steps.sum())
    if total <= 0:  # nothing moves (or one iteration captured twice): spread the frames evenly
        steps = np.ones(count - 1)
        total = float(count - 1)
    cumulative = np.concatenate([[0.0], np.cumsum(steps) / total])
    cumulative[-1] = 1.0
    return cumulative.tolist()


def locate(cumulative: Sequence[float], fraction: float) -> float:
    """Fractional frame index p with C(p) = fraction, C piecewise linear between frames.

    Frames that add no change (zero-width intervals) are passed over in no time.
    """
    last = len(cumulative) - 1
    if last == 0 or fraction >= 1.0:
        return float(last)
    if fraction <= 0.0:
        # Several frames may sit at 0 (no change yet): show the last of them.
        return float(bisect.bisect_right(cumulative, 0.0) - 1)
    index = bisect.bisect_right(cumulative, fraction) - 1
    width = cumulative[index + 1] - cumulative[index]
    return index + (fraction - cumulative[index]) / width


def frame_changes(thumbnails: Sequence[np.ndarray]) -> list[float]:
    """Mean absolute difference between neighbouring thumbnails (same shape, values 0..1)."""
    return [float(np.mean(np.abs(b - a))) for a, b in itertools.pairwise(thumbnails)]


def plan(
    iterations: Sequence[int],
    settings: VideoSettings,
    *,
    total_iterations: int | None = None,
    changes: Sequence[float] | None = None,
    clip: ClipTiming | None = None,
) -> list[Shot]:
    """One Shot per video frame for captured `iterations`: `settings.total_frames` of them, and
    with a `clip` the clip's own length more (played between the hold and the outro)."""
    if not iterations:
        raise ValueError("no captured frames")
    fps = settings.fps
    total = settings.total_frames
    final_iteration = float(total_iterations if total_iterations is not None else iterations[-1])
    # 1. Segment boundaries, in whole video frames; the painting keeps at least one frame.
    intro, hold, outro = settings.segment_seconds()
    intro_end = min(round(intro * fps), total - 1)
    outro_start = max(total - round(outro * fps), intro_end + 1)
    hold_start = max(outro_start - round(hold * fps), intro_end + 1)
    transition = max(1, round(settings.transition * fps))
    # 2. Painting segment: video time -> fractional captured-frame index.
    cumulative = positions(iterations, settings.pacing, changes)
    last = len(iterations) - 1
    shots = []
    for k in range(outro_start):
        if k < intro_end:
            shots.append(_intro_shot(k, intro_end, transition, fps, iterations))
        elif k < hold_start:
            span = hold_start - intro_end
            fraction = (k - intro_end) / (span - 1) if span > 1 else 1.0
            shots.append(_painting_shot(locate(cumulative, fraction), iterations, settings.crossfade))
        else:
            shots.append(Shot("hold", last, last, 0.0, final_iteration))
    # 3. A clip plays at its own speed; the outro then compares its last frame.
    if clip is not None:
        shots += _clip_shots(clip, fps, final_iteration)
        last = clip.frames - 1
    for local in range(total - outro_start):
        fade = smoothstep((local + 1) / transition)
        phase = local / max(1, total - outro_start - 1)
        shots.append(Shot("outro", last, last, 0.0, final_iteration, fade=fade, phase=phase))
    return shots


def _clip_shots(clip: ClipTiming, fps: int, iteration: float) -> list[Shot]:
    count = clip.video_frames(fps)
    shots = []
    for local in range(count):
        index = clip.frame_at(local / fps)
        shots.append(Shot("clip", index, index, 0.0, iteration, phase=local / max(1, count - 1)))
    return shots


def _intro_shot(k: int, intro_end: int, transition: int, fps: int, iterations: Sequence[int]) -> Shot:
    # The last `transition` frames crossfade into the first captured frame, so the painting
    # seems to grow out of the photo rather than cut in.
    transition = min(transition, intro_end)
    into = k - (intro_end - transition)
    fade = smoothstep((into + 1) / (transition + 1)) if into >= 0 else 0.0
    # Fade in from the background over the first half second (a third of a short intro).
    fade_in_frames = max(1, min(round(0.5 * fps), intro_end // 3))
    opacity = smoothstep(min(1.0, (k + 1) / fade_in_frames))
    return Shot("intro", 0, 0, 0.0, float(iterations[0]), fade=fade, phase=k / max(1, intro_end - 1), opacity=opacity)


def _painting_shot(position: float, iterations: Sequence[int], crossfade: bool) -> Shot:
    last = len(iterations) - 1
    if not crossfade:
        index = min(last, math.floor(position + 0.5))
        return Shot("painting", index, index, 0.0, float(iterations[index]))
    first = min(last, math.floor(position))
    second = min(last, first + 1)
    blend = position - first if second != first else 0.0
    iteration = iterations[first] + blend * (iterations[second] - iterations[first])
    return Shot("painting", first, second, blend, iteration)
