"""Read and rewrite an MP4's tags and chapters with ffmpeg, never re-encoding it.

Rewriting is a stream copy into `<name>.partial` beside the video, renamed over it only when
ffmpeg succeeded: a Ctrl-C, a kill or a full disk leaves the old video untouched.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg

from timelapse_nst.assembly.tags import Chapter
from timelapse_nst.atomic import atomic_path
from timelapse_nst.errors import UserError

# The tags publish manages: an empty value removes one (e.g. an artist no longer credited).
MANAGED_TAGS = ("title", "artist", "comment", "description", "creation_time")

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_CREATION_TIME = re.compile(r"^\s*creation_time\s*:\s*(\S+)", re.MULTILINE)


@dataclass(frozen=True)
class VideoInfo:
    """What an MP4 says about itself."""

    duration: float  # seconds
    tags: Mapping[str, str] = field(default_factory=dict)
    chapters: tuple[Chapter, ...] = ()


def read_video(path: Path) -> VideoInfo:
    """Duration, tags (creation_time included) and chapters of `path`; UserError if unreadable."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-f", "ffmetadata", "-"]
    result = subprocess.run(command, capture_output=True, text=True, errors="replace", check=False)
    duration = _DURATION.search(result.stderr)
    if result.returncode != 0 or duration is None:
        raise UserError(f"cannot read the video {path}: {_last_line(result.stderr)}")
    hours, minutes, seconds = duration.groups()
    tags, chapters = parse_ffmetadata(result.stdout)
    # ffmpeg's metadata output leaves out the creation time (a field of the file header): the
    # first one it prints is the file's, the others belong to its streams.
    created = _CREATION_TIME.search(result.stderr.split("Stream #", 1)[0])
    if created:
        tags["creation_time"] = created[1]
    return VideoInfo(int(hours) * 3600 + int(minutes) * 60 + float(seconds), tags, tuple(chapters))


def write_tags(path: Path, tags: Mapping[str, str]) -> Path:
    """Set `tags` on the MP4 at `path` in place by a stream copy (chapters and streams kept).

    An empty value removes a tag. The creation time is kept unless given (a copy would reset it).
    """
    if "creation_time" not in tags and (created := read_video(path).tags.get("creation_time")):
        tags = {**tags, "creation_time": created}
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    # `-map 0` keeps every stream; the negative map drops the chapter text track that ffmpeg
    # exposes as a data stream, which the muxer writes anew from the chapters it copies.
    command += ["-i", str(path), "-map", "0", "-map", "-0:d?", "-c", "copy"]
    for key, value in tags.items():
        command += ["-metadata", f"{key}={value}"]
    with atomic_path(path) as partial, tempfile.TemporaryFile() as log:
        target = [*command, "-movflags", "+faststart", "-f", "mp4", str(partial)]
        code = subprocess.run(target, stdout=subprocess.DEVNULL, stderr=log, check=False).returncode
        if code != 0:
            log.seek(0)
            tail = _last_line(log.read().decode(errors="replace"))
            raise UserError(f"ffmpeg failed (exit {code}) re-tagging {path}: {tail}")
    return path


def parse_ffmetadata(text: str) -> tuple[dict[str, str], list[Chapter]]:
    """Global tags and chapters from ffmpeg's metadata file format (backslash escapes undone)."""
    tags: dict[str, str] = {}
    sections: list[dict[str, str]] = []
    current = tags
    for line in _logical_lines(text):
        if not line or line[0] in ";#":
            continue
        if line.startswith("["):
            current = {}
            if line.strip() == "[CHAPTER]":
                sections.append(current)
            continue
        key, _, value = _split_unescaped(line)
        current[key] = value
    return tags, [chapter for section in sections if (chapter := _chapter(section)) is not None]


def _chapter(section: Mapping[str, str]) -> Chapter | None:
    try:
        base = Fraction(section.get("TIMEBASE", "1/1000000000"))
        start, end = int(section["START"]) * base, int(section["END"]) * base
    except (KeyError, ValueError, ZeroDivisionError):
        return None
    return Chapter(float(start), float(end), section.get("title", ""))


def _logical_lines(text: str) -> Iterator[str]:
    """Lines, with an escaped line break joining a line to the next."""
    pending = ""
    for line in text.split("\n"):
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2:
            pending += line[:-1] + "\n"
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _split_unescaped(line: str) -> tuple[str, str, str]:
    """Split at the first `=` that is not escaped; undo the escapes of both parts."""
    parts, chars, escaped = [], [], False
    for char in line:
        if escaped:
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "=" and not parts:
            parts.append("".join(chars))
            chars = []
        else:
            chars.append(char)
    if not parts:
        return "".join(chars), "", ""
    return parts[0], "=", "".join(chars)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
