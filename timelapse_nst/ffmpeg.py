"""The ffmpeg that imageio-ffmpeg bundles: where it is, which release, and what that release calls things.

imageio-ffmpeg 0.5 ships ffmpeg 4.2, 0.6 and later ffmpeg 7: an option that one release knows the
other may refuse (``-fps_mode`` arrived in 5.1 and replaced ``-vsync``), so such options are
chosen here, by the release found, once per process. It also reads what a media file holds
(``probe``) and counts the frames a decode gives (``count_frames``), for any caller.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
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


# -- reading media: what a file holds, and decoding it -------------------------------------------
# The bundled ffmpeg has no ffprobe: a file's streams are read from what `ffmpeg -i FILE` prints,
# in the form both 4.2 and 7+ print them (4.2: "rotate : 90" and "displaymatrix: rotation of
# -90.00 degrees"; 5+: "Display Matrix: rotation of -90.00 degrees").

PICTURE_FORMATS = ("image2", "tty")
"""Demuxers that read single pictures or text, not moving pictures (and every ``*_pipe`` one)."""


class MediaError(Exception):
    """ffmpeg could not decode a file; the message is ffmpeg's own reason, one line."""


@dataclass(frozen=True)
class Stream:
    """One stream of a media file, as ``ffmpeg -i`` describes it."""

    kind: str  # "video", "audio", "subtitle", "data", "attachment"
    codec: str  # "h264", "aac", "mjpeg", ...
    size: tuple[int, int] | None = None  # (width, height) of a video stream, as stored
    sample_aspect: Fraction = Fraction(1)  # video: a stored pixel's width over its height
    fps: float | None = None  # video: the average frame rate ffmpeg reports
    still: bool = False  # video: an attached picture (an album cover), not moving pictures
    sample_rate: int | None = None  # audio: samples per second


@dataclass(frozen=True)
class Media:
    """What a media file holds: its streams, its length and how its first video is turned."""

    streams: tuple[Stream, ...]
    duration: float | None  # seconds; None when ffmpeg names none (a still image may have one)
    rotation: float = 0.0  # degrees counter-clockwise the player turns the first video (display matrix)
    format: str = ""  # the demuxer's names, e.g. "mov,mp4,m4a,3gp,3g2,mj2"

    def has(self, kind: str) -> bool:
        return any(stream.kind == kind for stream in self.streams)

    def video(self) -> Stream | None:
        """The first stream of moving pictures (not an album cover), if any."""
        return next((s for s in self.streams if s.kind == "video" and not s.still), None)

    def audio(self) -> Stream | None:
        return next((s for s in self.streams if s.kind == "audio"), None)

    @property
    def is_picture_format(self) -> bool:
        """Read by a demuxer for single pictures (a file that is an image, or none at all)."""
        return any(name in PICTURE_FORMATS or name.endswith("_pipe") for name in self.format.split(","))


def probe(path: Path) -> Media:
    """The streams, duration and rotation of ``path``, read from ``ffmpeg -i``. UserError (one
    line) when ffmpeg cannot read it as media."""
    command = [exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    text = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False).stderr
    header = re.search(r"^Input #0, (\S+), from ", text, re.MULTILINE)
    if header is None:  # ffmpeg always exits 1 here (no output named): its header says it read the file
        raise UserError(f"{path}: not a file ffmpeg can read ({reason(text)})")
    return Media(tuple(_streams(text)), _duration(text), _rotation(text), header[1].rstrip(","))


def check_sound(path: Path) -> Media:
    """A sound track: a file ffmpeg reads with an audio stream in it; UserError (one line) if not."""
    if not path.is_file():
        raise UserError(f"audio file not found: {path}")
    media = probe(path)
    if not media.has("audio"):
        raise UserError(f"{path} has no audio stream: give a sound file (.mp3, .m4a, .wav, ...) or a video with sound")
    return media


def count_frames(arguments: list[str]) -> int:
    """Decode what ``arguments`` select (inputs, maps, filters) to nothing and count the frames.

    Any decoding error stops it (``-xerror``) and is raised as ``MediaError``: a damaged file is
    found here, before anything is written.
    """
    command = [exe(), "-nostdin", "-v", "error", "-xerror", *arguments, "-f", "null", "-"]
    result = subprocess.run(
        [*command, "-progress", "pipe:1", "-nostats"], capture_output=True, text=True, errors="replace", check=False
    )
    if result.returncode != 0 or result.stderr.strip():
        raise MediaError(reason(result.stderr) if result.stderr.strip() else f"ffmpeg exited with {result.returncode}")
    counts = re.findall(r"^frame=(\d+)", result.stdout, re.MULTILINE)
    return int(counts[-1]) if counts else 0


def reason(text: str) -> str:
    """ffmpeg's first complaint in ``text`` (its stderr), without the "[demuxer @ 0x...]" prefix: one line."""
    for line in text.splitlines():
        line = re.sub(r"^\[[^\]]*\]\s*", "", line.strip())
        line = re.sub(r"^Error opening input:\s*", "", line)
        if line and not line.startswith(("Error opening input file", "Error opening input files")):
            return line
    return "no message"


def _duration(text: str) -> float | None:
    match = re.search(r"^\s*Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", text, re.MULTILINE)
    return None if match is None else int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


_STREAM = re.compile(r"^\s*Stream #0:\d+[^:]*: (Video|Audio|Subtitle|Data|Attachment): (.*)$", re.MULTILINE)


def _streams(text: str) -> list[Stream]:
    return [_stream(match[1].lower(), match[2]) for match in _STREAM.finditer(text)]


def _stream(kind: str, line: str) -> Stream:
    codec = line.split()[0].rstrip(",") if line.split() else "unknown"
    if kind == "audio":
        rate = re.search(r"(\d+) Hz", line)
        return Stream(kind, codec, sample_rate=int(rate[1]) if rate else None)
    if kind != "video":
        return Stream(kind, codec)
    size = re.search(r"(?<=[ ,])(\d{1,5})x(\d{1,5})(?=[ ,\[]|$)", line)  # not the hex tag "0x31637661"
    sar = re.search(r"SAR (\d+):(\d+)", line)
    fps = re.search(r"([\d.]+)(k?) fps", line)
    return Stream(
        kind,
        codec,
        size=(int(size[1]), int(size[2])) if size else None,
        sample_aspect=Fraction(int(sar[1]), int(sar[2])) if sar and int(sar[1]) and int(sar[2]) else Fraction(1),
        fps=float(fps[1]) * (1000 if fps[2] else 1) if fps else None,
        still="(attached pic)" in line,
    )


def _rotation(text: str) -> float:
    """Degrees counter-clockwise (0 <= r < 360) the first video is turned: its display matrix, as
    ffmpeg prints it (counter-clockwise), else 4.2's "rotate" tag (clockwise)."""
    matrix = re.search(r"^\s*display ?matrix: rotation of (-?[\d.]+) degrees", text, re.IGNORECASE | re.MULTILINE)
    if matrix is not None:
        return float(matrix[1]) % 360
    tag = re.search(r"^\s*rotate\s*:\s*(-?[\d.]+)\s*$", text, re.MULTILINE)
    return -float(tag[1]) % 360 if tag else 0.0
