"""A video clip as content: recognised by its content, checked, and decoded into the frames we paint.

A file is a clip when Pillow cannot read it as an image (an animated GIF stays an image) and
ffmpeg finds moving pictures in it, whatever its name. Everything that can be wrong with a clip
is found by ``open_clip`` before anything is written: no video stream, a trim outside it, more
frames than the limit, a damaged stream (decoded once to nothing, every frame, ``-xerror``), no
frame at all. ``decode`` then writes the frames as painted: trimmed, at the output rate (a variable
rate made constant by ffmpeg's ``fps`` filter), turned upright (ffmpeg applies the display matrix
when it decodes), at the painted size. No torch.
"""

from __future__ import annotations

import subprocess
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from timelapse_nst import ffmpeg
from timelapse_nst.errors import UserError
from timelapse_nst.images import save_png
from timelapse_nst.runfolder.clip import ClipRecord
from timelapse_nst.settings.config import Clip, RenderConfig

STANDARD_RATES = (
    Fraction(24000, 1001),
    Fraction(24),
    Fraction(25),
    Fraction(30000, 1001),
    Fraction(30),
    Fraction(48),
    Fraction(50),
    Fraction(60000, 1001),
    Fraction(60),
    Fraction(120),
)
"""Rates a reported or asked-for one within 0.1% is taken to mean (ffmpeg prints 30000/1001 as 29.97)."""
_NOT_IMAGE_FORMATS = ("MPEG",)  # Pillow identifies MPEG-1 video but cannot decode it: a clip


@dataclass(frozen=True)
class ClipSource:
    """A checked clip and how it will be painted: which part, at what rate and size, how many frames."""

    path: Path
    media: ffmpeg.Media
    start: float
    end: float | None  # None: to the end of the stream (its duration unknown)
    fps: Fraction
    size: tuple[int, int]  # (width, height) of the painted frames: upright and even
    frames: int

    @property
    def stream(self) -> ffmpeg.Stream:
        video = self.media.video()
        assert video is not None  # open_clip refuses a file without one
        return video

    def record(self) -> ClipRecord:
        """render.yaml's ``clip`` record of this clip."""
        stream = self.stream
        width, height = stream.size or (None, None)
        source = {"codec": stream.codec, "width": width, "height": height, "fps": stream.fps}
        source["duration"] = self.media.duration
        end = self.end if self.end is not None else self.start + float(self.frames / self.fps)
        turned = clockwise(self.media)
        return ClipRecord(self.frames, self.fps, self.start, end, self.size, turned, self.media.has("audio"), source)


def clip_content(path: Path, config: RenderConfig) -> ClipSource | None:
    """The clip ``path`` holds, checked as ``config`` would paint it; None for a photo."""
    media = probe_content(path)
    if media is not None:
        return open_clip(path, media, config.clip, config.size)
    if config.clip.trims() and Path(path).is_file():
        raise UserError(
            f"--start, --end and --fps choose part of a video clip (clip.start, clip.end, clip.fps); "
            f"{_quote(path)} is an image"
        )
    return None


def reopen_clip(path: Path, record: ClipRecord, config: RenderConfig) -> ClipSource:
    """A run's clip checked again (to decode its frames anew): it must give what it gave before."""
    media = probe_content(path)
    if media is None:
        raise UserError(f"{_quote(path)} is no longer a video clip")
    source = open_clip(path, media, config.clip, config.size)
    if (source.frames, source.size, source.fps) != (record.frames, record.size, record.fps):
        raise UserError(
            f"{_quote(path)} now decodes to {source.frames} frames of {source.size[0]}x{source.size[1]}, not the "
            f"{record.frames} of {record.size[0]}x{record.size[1]} this render began with; start over with --restart"
        )
    return source


def probe_content(path: Path) -> ffmpeg.Media | None:
    """What ffmpeg reads in ``path`` when it holds moving pictures; None when it is (or claims to
    be) an image, which ``load_image`` then reads or refuses. ``UserError`` when it is neither."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None  # load_image says what is wrong with it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a decompression bomb is load_image's to refuse
            with Image.open(path) as image:
                if image.format not in _NOT_IMAGE_FORMATS:
                    return None
    except UnidentifiedImageError:
        pass  # not an image: perhaps a video
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None  # an image, damaged or huge: load_image gives the message
    try:
        media = ffmpeg.probe(path)
    except UserError as error:
        why = str(error).rpartition(" (")[2].rstrip(")")  # ffmpeg's own reason
        raise UserError(f"{_quote(path)} is neither an image nor a video this tool can read ({why})") from None
    if media.is_picture_format:
        raise UserError(f"{_quote(path)} is neither an image nor a video this tool can read")
    if media.video() is None:
        found = ", ".join(stream.kind for stream in media.streams) or "no streams at all"
        raise UserError(f"{_quote(path)} holds no moving pictures to paint ({found}): a video needs a video stream")
    return media


def open_clip(path: Path, media: ffmpeg.Media, settings: Clip, size: int) -> ClipSource:
    """Check a clip as ``settings`` (trim, rate, limit) and ``size`` (long edge) would paint it,
    decoding it once to nothing: ``UserError`` for anything wrong, before anything is written."""
    stream = media.video()
    assert stream is not None
    # 1. The trim lies within the clip.
    end = _checked_trim(path, media, settings)
    # 2. The rate and the painted size.
    fps = output_rate(settings.fps, stream)
    painted = painted_size(media, size)
    # 3. Every frame decodes; count them exactly, up to one past the limit (a clip far over it is
    # not decoded to its end). The container's duration is no count: a sound track that outlasts
    # the pictures lengthens it, and a clip refused on it would have fitted.
    limit = settings.max_frames
    try:
        selection = _selection(path, settings.start, end)
        frames = ffmpeg.count_frames([*selection, "-vf", f"fps={fps}", "-frames:v", str(limit + 1)])
    except ffmpeg.MediaError as error:
        raise UserError(f"the video {_quote(path)} is damaged: {error}") from None
    if frames == 0:
        where = f" between {settings.start:g} s and {end:g} s" if settings.trims() and end is not None else ""
        raise UserError(f"the video {_quote(path)} has no frames to paint{where}")
    if frames > limit:  # how many it would be: the duration's estimate, at least what was counted
        _refuse_over_limit(None if end is None else max(frames, round((end - settings.start) * fps)), fps, limit)
    return ClipSource(path, media, settings.start, end, fps, painted, frames)


def decode(source: ClipSource, folder: Path) -> int:
    """Write the painted frames' inputs as ``folder/000000.png``...; returns how many.

    The same clip always gives the same files (raw RGB from ffmpeg, PNGs written by us)."""
    width, height = source.size
    folder.mkdir(parents=True, exist_ok=True)
    filters = f"fps={source.fps},scale={width}:{height}:flags=lanczos,setsar=1"
    command = [ffmpeg.exe(), "-nostdin", "-v", "error", *_selection(source.path, source.start, source.end)]
    command += ["-vf", filters, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    frame_bytes = width * height * 3
    count = 0
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        while data := process.stdout.read(frame_bytes):
            if len(data) < frame_bytes:
                break
            pixels = np.frombuffer(data, np.uint8).reshape(height, width, 3)
            save_png(pixels, folder / f"{count:06d}.png", compress_level=1)
            count += 1
        error = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0 or count != source.frames:
        raise UserError(
            f"decoding {_quote(source.path)} gave {count} frames, not the {source.frames} counted before "
            f"({error.strip().splitlines()[-1] if error.strip() else f'exit status {process.returncode}'})"
        )
    return count


def output_rate(asked: float | None, stream: ffmpeg.Stream) -> Fraction:
    """The painted clip's frame rate: the one asked for, else the source's average rate."""
    rate = asked if asked is not None else stream.fps
    if rate is None or rate <= 0:
        rate = 25.0  # ffmpeg reports none for some streams; its own default then
    for standard in STANDARD_RATES:
        if abs(rate - float(standard)) <= 0.001 * float(standard):
            return standard
    return Fraction(rate).limit_denominator(1001)


def clockwise(media: ffmpeg.Media) -> int:
    """Degrees clockwise (0, 90, 180 or 270) a player turns the clip to show it upright (a phone's
    "rotate" tag; ffmpeg reports the display matrix counter-clockwise)."""
    return round(-media.rotation / 90) % 4 * 90


def painted_size(media: ffmpeg.Media, size: int) -> tuple[int, int]:
    """(width, height) of the painted frames: the picture as shown (pixel aspect, rotation), its
    long edge ``size``; both even, as H.264 in yuv420p needs for the painted clip."""
    stream = media.video()
    assert stream is not None
    stored = stream.size or (size, size)
    width, height = float(stored[0]) * float(stream.sample_aspect), float(stored[1])
    if clockwise(media) in (90, 270):
        width, height = height, width
    scale = size / max(width, height)
    return _even(width * scale), _even(height * scale)


def _even(length: float) -> int:
    return max(2, 2 * round(length / 2))


def _checked_trim(path: Path, media: ffmpeg.Media, settings: Clip) -> float | None:
    """The trim's end in seconds (None: the stream's end, its duration unknown), checked."""
    duration = media.duration
    if duration is None or duration <= 0:
        return settings.end
    if settings.start >= duration:
        raise UserError(
            f"--start {settings.start:g} is outside the clip: {path.name} lasts {duration:.2f} s (clip.start)"
        )
    if settings.end is not None and settings.end > duration + 1e-3:
        raise UserError(f"--end {settings.end:g} is outside the clip: {path.name} lasts {duration:.2f} s (clip.end)")
    return settings.end if settings.end is not None else duration


def _refuse_over_limit(estimate: int | None, fps: Fraction, limit: int) -> None:
    """Refuse a clip over ``limit`` frames: about ``estimate`` of them (None: its length unknown)."""
    rate = f"{float(fps):.3g}"
    if estimate is None:
        told, raise_to = f"more than {limit} frames (at {rate} fps)", f"{limit * 2}"
    else:
        told, raise_to = f"about {estimate} frames ({float(estimate / fps):.1f} s at {rate} fps)", f"{estimate}"
    raise UserError(
        f"this clip would be painted as {told}; the limit is {limit} (clip.max_frames): trim it (--start/--end), "
        f"lower the rate (--fps) or raise the limit (--set clip.max_frames={raise_to})"
    )


def _selection(path: Path, start: float, end: float | None) -> list[str]:
    """The input options and map that select the trimmed part of the clip's first video stream."""
    seek = ["-ss", f"{start:.6f}"] if start > 0 else []
    length = ["-t", f"{end - start:.6f}"] if end is not None else []
    return [*seek, "-i", str(path), *length, "-map", "0:v:0"]


def _quote(path: Path) -> str:
    """The path in quotes, as image errors write it (a newline in a name stays escaped)."""
    return repr(str(path))
