"""Turn the timeline's shots into video frames, one at a time (a generator: memory stays flat).

Only the captured frames in use are kept, already resized to the layout (the two neighbours
being blended plus one), so a 2000-frame 2160p video needs no more memory than a short one.
A clip's painted frames and source frames are read the same way, as the clip plays.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image

from timelapse_nst.assembly.comparison import Comparison
from timelapse_nst.assembly.layouts import Layout, Moment
from timelapse_nst.assembly.timeline import Shot
from timelapse_nst.images import load_image


class FittedFrames:
    """Captured frames decoded and resized to the layout on demand, the last few kept."""

    def __init__(
        self,
        paths: Sequence[Path],
        layout: Layout,
        *,
        keep: int = 3,
        fit: Callable[[tuple[int, int]], tuple[int, int] | None] | None = None,
    ) -> None:
        self._paths, self._keep = paths, keep
        self._fit = fit or layout.fit  # another box than the painting's: a clip's source frames
        self._cache: OrderedDict[int, Image.Image] = OrderedDict()

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, index: int) -> Image.Image:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        image = load_image(self._paths[index])
        fitted = image.resize(self._fit(image.size) or image.size, Image.Resampling.LANCZOS)
        self._cache[index] = fitted
        if len(self._cache) > self._keep:
            self._cache.popitem(last=False)
        return fitted

    def blend(self, first: int, second: int, weight: float) -> Image.Image:
        """Crossfade of two captured frames; `weight` is that of `second`."""
        a = self[first]
        if weight <= 0.0 or first == second:
            return a
        b = self[second]
        if b.size != a.size:  # frames of neighbouring scales may round to sizes a pixel apart
            b = b.resize(a.size, Image.Resampling.LANCZOS)
        return Image.blend(a, b, weight)


@dataclass(frozen=True)
class ClipFrames:
    """A clip's painted frames (fitted to the painting's box) and its source frames (fitted to
    the photo's; None where the layout shows no source), played at `fps`."""

    painted: FittedFrames
    sources: FittedFrames | None
    fps: Fraction

    def frame(self, layout: Layout, shot: Shot) -> Image.Image:
        """The video frame of a clip-segment shot: painted frame `shot.first` beside its source."""
        source = self.sources[shot.first] if self.sources is not None else None
        moment = Moment(source, shot.first, len(self.painted), float(self.fps))
        return layout.frame(self.painted[shot.first], shot.iteration, moment)


def video_frames(
    shots: Sequence[Shot],
    layout: Layout,
    frames: FittedFrames,
    final: Image.Image,
    comparison: Comparison | None,
    *,
    clip: ClipFrames | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Image.Image]:
    """Yield one RGB image of `layout.size` per shot. `final` is the finished painting, fitted
    (a clip's: its first frame's); `clip` plays the clip segment."""
    background = Image.new("RGB", layout.size, layout.background)
    intro_card: Image.Image | None = None
    first_frame: Image.Image | None = None
    hold: Image.Image | None = None
    playing: Image.Image | None = None  # the clip's latest frame: a clip's outro starts from it
    for done, shot in enumerate(shots, start=1):
        if shot.segment == "painting":
            image = layout.frame(frames.blend(shot.first, shot.second, shot.blend), shot.iteration)
        elif shot.segment == "intro":
            intro_card = intro_card or layout.intro()
            first_frame = first_frame or layout.frame(frames[0], shot.iteration)
            image = _mix(intro_card, first_frame, shot.fade)
            image = _mix(background, image, shot.opacity)
        elif shot.segment == "clip" and clip is not None:
            image = playing = clip.frame(layout, shot)
        else:
            hold = hold or layout.frame(final, shot.iteration)
            if shot.segment == "hold" or comparison is None:
                image = playing or hold
            else:
                image = _mix(playing or hold, comparison.frame(shot.phase), shot.fade)
        yield image
        if progress is not None:
            progress(done, len(shots))


def _mix(a: Image.Image, b: Image.Image, weight: float) -> Image.Image:
    if weight <= 0.0:
        return a
    if weight >= 1.0:
        return b
    return Image.blend(a, b, weight)
