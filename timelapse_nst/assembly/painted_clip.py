"""A clip's painted frames as video: ``stylised.mp4``, and the clip's part of ``timelapse.mp4``.

``stylised.mp4`` is the painted clip itself: stylised/ at the clip's own frame rate (one video
frame per painted frame), with the source's sound cut where the frames were (``-ss start``, as
long as the frames last), encoded as the timelapses are. In ``timelapse.mp4`` the clip plays
after its first frame's timelapse; its sound comes in with it (see ``ClipSound``).
Reads only the run folder: no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from timelapse_nst.assembly.encode import ClipSound, EncodeJob, encode
from timelapse_nst.assembly.layouts import Layout
from timelapse_nst.assembly.recording import Recording
from timelapse_nst.assembly.sequence import ClipFrames, FittedFrames
from timelapse_nst.assembly.timeline import ClipTiming, Shot
from timelapse_nst.errors import write_errors
from timelapse_nst.images import load_image
from timelapse_nst.settings.video import VideoSettings


def timing(run: Recording) -> ClipTiming | None:
    """The clip the timelapse plays: the frames painted so far (None: a still, or none painted yet)."""
    if run.clip is None or not run.painted:
        return None
    return ClipTiming(len(run.painted), run.clip.fps)


def clip_frames(run: Recording, layout: Layout) -> ClipFrames:
    """The painted frames fitted to the painting's box, the source frames to the photo's."""
    assert run.clip is not None
    shown = layout.fit_source(run.clip.size) is not None and len(run.sources) >= len(run.painted)
    sources = FittedFrames(run.sources, layout, fit=layout.fit_source) if shown else None  # plain: none
    return ClipFrames(FittedFrames(run.painted, layout), sources, run.clip.fps)


def timelapse_sound(run: Recording, shots: Sequence[Shot], fps: int, fade_in: float) -> ClipSound | None:
    """The source's sound for timelapse.mp4, heard from the first frame the clip moves in."""
    start = next((index for index, shot in enumerate(shots) if shot.segment == "clip"), None)
    if start is None:
        return None
    return _sound(run, at=start / fps, fade_in=fade_in)


def make_stylised(
    run: Recording,
    settings: VideoSettings,
    tags: Mapping[str, str],
    *,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Encode the painted frames into the run's stylised.mp4 (with the source's sound); returns its path."""
    assert run.clip is not None and run.painted
    out = run.folder.stylised_video
    size = _even(load_image(run.painted[0]).size)
    # The soundtrack file of `settings.audio` belongs to the timelapse: the clip keeps its own sound.
    own = VideoSettings.model_validate({**settings.model_dump(), "audio": None})
    job = EncodeJob(out, size, run.clip.fps, _seconds(run), own, tags=tags, sound=_sound(run))
    with write_errors(out.parent):
        encode(_painted(run.painted, size, progress), job)
    return out


def _sound(run: Recording, *, at: float = 0.0, fade_in: float = 0.0) -> ClipSound | None:
    """The source's sound from where frame 0 was taken, as long as the painted frames last."""
    clip, source = run.clip, run.content.path
    if clip is None or not clip.audio or source is None:
        return None
    return ClipSound(source, clip.start, _seconds(run), at=at, fade_in=fade_in)


def _seconds(run: Recording) -> float:
    """How long the frames painted so far last."""
    assert run.clip is not None
    return float(len(run.painted) / run.clip.fps)


def _painted(
    paths: Sequence[Path], size: tuple[int, int], progress: Callable[[int], None] | None
) -> Iterator[Image.Image]:
    for done, path in enumerate(paths, start=1):
        yield _pad_to(load_image(path), size)
        if progress is not None:
            progress(done)


def _even(size: tuple[int, int]) -> tuple[int, int]:
    """H.264 in yuv420p needs even sides."""
    return size[0] + size[0] % 2, size[1] + size[1] % 2


def _pad_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` grown to `size` by repeating its last column and row (an odd painted size); a
    frame of another size (a damaged run) is resized."""
    if image.size == size:
        return image
    if size[0] - image.width not in (0, 1) or size[1] - image.height not in (0, 1):
        return image.resize(size, Image.Resampling.LANCZOS)
    pixels = np.asarray(image)
    padded = np.pad(pixels, ((0, size[1] - image.height), (0, size[0] - image.width), (0, 0)), mode="edge")
    return Image.fromarray(padded, "RGB")
