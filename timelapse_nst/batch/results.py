"""What a batch leaves besides its run folders: gallery.png and compilation.mp4.

gallery.png: every finished painting in a grid, each labelled with its job's title or name.
compilation.mp4: every timelapse in a row, a title card before each, encoded by the same
encoder with the same settings as the timelapses themselves (assembly.encode, the first job's
``video:`` settings), at the first timelapse's size and frame rate. Reads only run folders and
never imports torch.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
from PIL import Image

from timelapse_nst.assembly import text
from timelapse_nst.assembly.encode import EncodeJob, encode
from timelapse_nst.assembly.layouts import MUTED, TEXT, resize_to_fit
from timelapse_nst.assembly.pipeline import video_settings
from timelapse_nst.atomic import write_atomic
from timelapse_nst.images import load_image
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings.video import VideoSettings

TITLE_SECONDS = 2.0
_CELL = 256  # gallery: each painting fitted into a square of this size
_GAP, _LABEL = 16, 36


@dataclass(frozen=True)
class Entry:
    """A finished job as the results show it."""

    label: str  # the title, else the job's name
    run: Path


# -- gallery.png ---------------------------------------------------------------------------------


def make_gallery(entries: Sequence[Entry], out: Path, *, background: str = "#101010") -> Path | None:
    """A labelled grid of every entry's final.png; None (nothing written) when there is none."""
    paintings = [(entry.label, RunFolder(entry.run).final) for entry in entries]
    paintings = [(label, path) for label, path in paintings if path.is_file()]
    if not paintings:
        return None
    columns = min(len(paintings), max(1, math.ceil(math.sqrt(len(paintings)))), 6)
    rows = math.ceil(len(paintings) / columns)
    size = (columns * (_CELL + _GAP) + _GAP, rows * (_CELL + _LABEL + _GAP) + _GAP)
    sheet = Image.new("RGB", size, background)
    for number, (label, path) in enumerate(paintings):
        x = _GAP + (number % columns) * (_CELL + _GAP)
        y = _GAP + (number // columns) * (_CELL + _LABEL + _GAP)
        picture = resize_to_fit(load_image(path), (_CELL, _CELL))
        # Bottom-aligned in the cell: each label sits right under its painting, labels in a row align.
        sheet.paste(picture, (x + (_CELL - picture.width) // 2, y + _CELL - picture.height))
        (line,), size = text.fit_title(label, 18, _CELL, lines=1, smallest=11)
        text.draw(sheet, (x + _CELL // 2, y + _CELL + 26), line, size=size, fill=TEXT, bold=True, anchor="ms")
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    write_atomic(out, buffer.getvalue())
    return out


# -- compilation.mp4 -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Clip:
    entry: Entry
    video: Path
    settings: VideoSettings
    subtitle: str


def make_compilation(entries: Sequence[Entry], out: Path) -> Path | None:
    """Every entry's timelapse.mp4 in order, each after a title card; None when there is none."""
    clips = [clip for entry in entries if (clip := _clip(entry)) is not None]
    if not clips:
        return None
    first = clips[0].settings
    size, fps = first.size, first.fps
    # The first job's encoding settings (codec, quality, speed), without its sound track.
    settings = first.model_copy(update={"audio": None, "resolution": f"{size[0]}x{size[1]}"})
    counts = [_frames_at(clip.settings, fps) for clip in clips]
    card = round(TITLE_SECONDS * fps)
    total = sum(counts) + card * len(clips)
    frames = _compilation_frames(clips, counts, card, size, fps, first.background)
    return encode(frames, EncodeJob(out=out, size=size, fps=fps, duration=total / fps, settings=settings))


def _clip(entry: Entry) -> _Clip | None:
    run = RunFolder(entry.run)
    if not run.video.is_file():
        return None
    manifest = run.read_manifest()
    settings = video_settings(manifest["config"].get("video") or {}, where=f"{run.manifest} config.video")
    content, styles = run.input_files(manifest)
    preset = manifest["config"].get("name", "")
    names = f"{content.name} + {' + '.join(style.name for style in styles)}"
    return _Clip(entry, run.video, settings, names + (f"  ·  {preset}" if preset else ""))


def _frames_at(settings: VideoSettings, fps: int) -> int:
    """How many frames a timelapse made with ``settings`` lasts at ``fps``."""
    return max(1, round(settings.total_frames * fps / settings.fps))


def _compilation_frames(
    clips: Sequence[_Clip], counts: Sequence[int], card: int, size: tuple[int, int], fps: int, background: str
) -> Iterator[Image.Image]:
    for number, (clip, count) in enumerate(zip(clips, counts, strict=True), start=1):
        title = title_card(size, clip.entry.label, clip.subtitle, f"{number} / {len(clips)}", background)
        for _ in range(card):
            yield title
        yield from _resampled(clip.video, count, clip.settings.fps, fps, size, background)


def _resampled(
    video: Path, count: int, source_fps: int, fps: int, size: tuple[int, int], background: str
) -> Iterator[Image.Image]:
    """Exactly ``count`` frames of ``video`` at ``fps`` (nearest source frame), fitted to ``size``."""
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    source_size = tuple(meta["size"])
    current: Image.Image | None = None
    read = -1
    try:
        for index in range(count):
            wanted = index * source_fps // fps
            while read < wanted:
                try:
                    data = next(reader)
                except StopIteration:
                    break  # shorter than its settings say: hold the last frame
                current = Image.frombytes("RGB", source_size, data)
                read += 1
            if current is None:
                current = Image.new("RGB", size, background)
            yield current if current.size == size else _letterboxed(current, size, background)
    finally:
        reader.close()


def _letterboxed(frame: Image.Image, size: tuple[int, int], background: str) -> Image.Image:
    canvas = Image.new("RGB", size, background)
    fitted = resize_to_fit(frame, size)
    canvas.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    return canvas


def title_card(size: tuple[int, int], title: str, subtitle: str, counter: str, background: str) -> Image.Image:
    """The card before each timelapse: its title (up to two lines), what it was made of, and its
    place in the row. Any script: assembly's text draws each glyph in a font that has it."""
    canvas = Image.new("RGB", size, background)
    scale = min(size[0] / 1920, size[1] / 1080)
    limit, middle = size[0] - max(8, round(160 * scale)), size[1] // 2

    def px(value: float) -> int:
        return max(8, round(value * scale))  # tiny test videos still get readable-sized glyphs

    lines, title_size = text.fit_title(title, px(84), limit, lines=2, smallest=px(40))
    step = round(title_size * 1.25)
    for number, line in enumerate(lines):  # the last line's baseline on the middle
        y = middle - (len(lines) - 1 - number) * step
        text.draw(canvas, (size[0] // 2, y), line, size=title_size, fill=TEXT, bold=True, anchor="ms")
    (below,), sub_size = text.fit_title(subtitle, px(36), limit, bold=False, lines=1, smallest=px(20))
    text.draw(canvas, (size[0] // 2, middle + px(70)), below, size=sub_size, fill=MUTED, anchor="ms")
    text.draw(canvas, (size[0] // 2, size[1] - px(60)), counter, size=px(30), fill=MUTED, anchor="ms")
    return canvas
