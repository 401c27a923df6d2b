"""The ffmpeg that imageio-ffmpeg bundles: where it is, which release, and what that release calls things.

imageio-ffmpeg 0.5 ships ffmpeg 4.2, 0.6 and later ffmpeg 7: an option that one release knows the
other may refuse (``-fps_mode`` arrived in 5.1 and replaced ``-vsync``), so such options are
chosen here, by the release found, once per process. ``probe`` reads what a media file holds
(streams, duration, rotation) from ``ffmpeg -i``, as that ffmpeg has no ffprobe.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from timelapse_nst.errors import UserError


def exe() -> str:
    """The ffmpeg executable's path."""
    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def release() -> tuple[int, int]:
    """(major, minor) of the bundled ffmpeg; (0, 0) when its banner names no release (a git build)."""
    banner = subprocess.run([exe(), "-hide_banner", "-version"], capture_output=True, text=True, check=False).stdout
    match = re.match(r"ffmpeg version n?(\d+)\.(\d+)", banner)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def constant_frame_rate() -> list[str]:
    """The options that make the output's frame rate constant on this release."""
    major_minor = release()
    if major_minor != (0, 0) and major_minor < (5, 1):
        return ["-vsync", "cfr"]
    return ["-fps_mode", "cfr"]


@dataclass(frozen=True)
class Stream:
    """One stream of a media file, as ``ffmpeg -i`` describes it."""

    kind: str  # "video", "audio", "subtitle", "data", "attachment"
    codec: str  # "h264", "aac", "mjpeg", ...
    size: tuple[int, int] | None = None  # (width, height) of a video stream, as stored


@dataclass(frozen=True)
class Media:
    """What a media file holds: its streams, its length and how its first video is turned."""

    streams: tuple[Stream, ...]
    duration: float | None  # seconds; None when ffmpeg names none (a still image may have one)
    rotation: float = 0.0  # degrees counter-clockwise the player turns the first video (display matrix)

    def has(self, kind: str) -> bool:
        return any(stream.kind == kind for stream in self.streams)


_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: (\w+): ([\w-]+)(.*)$")
_DURATION = re.compile(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_SIZE = re.compile(r",\s*(\d+)x(\d+)[\s,]")
# The display matrix as ffmpeg 5+ ("displaymatrix:" / "Display Matrix:", counter-clockwise) and
# 4.2 (a "rotate" tag, clockwise) print it.
_MATRIX = re.compile(r"^\s*display ?matrix: rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_ROTATE_TAG = re.compile(r"^\s*rotate\s*: (-?\d+(?:\.\d+)?)\s*$")


def check_sound(path: Path) -> Media:
    """A sound track: a file ffmpeg reads with an audio stream in it; UserError (one line) if not."""
    if not path.is_file():
        raise UserError(f"audio file not found: {path}")
    media = probe(path)
    if not media.has("audio"):
        raise UserError(f"{path} has no audio stream: give a sound file (.mp3, .m4a, .wav, ...) or a video with sound")
    return media


def probe(path: Path) -> Media:
    """The streams, duration and rotation of ``path``, read from ``ffmpeg -i`` (the bundled
    ffmpeg has no ffprobe). UserError (one line) when ffmpeg cannot read it as media."""
    command = [exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    text = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False).stderr
    lines = text.splitlines()
    if not any(line.startswith("Input #0") for line in lines):  # ffmpeg always exits 1 here: no output named
        last = next((line.strip() for line in reversed(lines) if line.strip()), "no message")
        raise UserError(f"{path}: not a file ffmpeg can read ({last})")
    streams, duration, rotation = [], None, None
    for line in lines:
        if match := _STREAM.match(line):
            size = _SIZE.search(match[3] + " ") if match[1].lower() == "video" else None
            streams.append(Stream(match[1].lower(), match[2], (int(size[1]), int(size[2])) if size else None))
        elif (match := _DURATION.match(line)) and duration is None:
            duration = int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])
        elif rotation is None and (match := _MATRIX.match(line)):
            rotation = float(match[1])
        elif rotation is None and (match := _ROTATE_TAG.match(line)):
            rotation = -float(match[1])
    return Media(tuple(streams), duration, (rotation or 0.0) % 360)
