"""The ffmpeg that imageio-ffmpeg bundles: where it is, which release, and what that release calls things.

imageio-ffmpeg 0.5 ships ffmpeg 4.2, 0.6 and later ffmpeg 7: an option that one release knows the
other may refuse (``-fps_mode`` arrived in 5.1 and replaced ``-vsync``), so such options are
chosen here, by the release found, once per process.
"""

from __future__ import annotations

import functools
import re
import subprocess

import imageio_ffmpeg


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
