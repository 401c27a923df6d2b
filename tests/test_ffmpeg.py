"""The bundled ffmpeg: ``probe`` reads streams, duration and rotation from ``ffmpeg -i``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from timelapse_nst import ffmpeg
from timelapse_nst.errors import UserError


def _clip(path: Path, *, rotation: int = 0, sound: bool = True) -> Path:
    """A one-second 64x48 H.264 clip, with a tone when ``sound``, turned by ``rotation`` degrees
    (counter-clockwise: ``-display_rotation``; ffmpeg before 6 knows only the clockwise ``rotate`` tag)."""
    tagged = rotation and (0, 0) < ffmpeg.release() < (6, 0)
    command = [ffmpeg.exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=5"]
    if sound:
        command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-c:a", "aac"]
    command += ["-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    command += ["-metadata:s:v:0", f"rotate={-rotation}"] if tagged else []
    subprocess.run([*command, str(path)], check=True)
    if rotation and not tagged:
        turned = path.with_name("turned-" + path.name)
        copy = ["-display_rotation", str(rotation), "-i", str(path), "-c", "copy", str(turned)]
        subprocess.run([ffmpeg.exe(), "-loglevel", "error", "-y", *copy], check=True)
        turned.replace(path)
    return path


def test_a_clip_with_sound(tmp_path):
    media = ffmpeg.probe(_clip(tmp_path / "clip.mp4"))
    assert [(stream.kind, stream.codec) for stream in media.streams] == [("video", "h264"), ("audio", "aac")]
    assert media.streams[0].size == (64, 48) and media.has("audio") and media.has("video")
    assert media.duration == pytest.approx(1.0, abs=0.05) and media.rotation == 0


def test_a_turned_clip_says_how_far(tmp_path):
    media = ffmpeg.probe(_clip(tmp_path / "phone.mp4", rotation=90, sound=False))
    assert media.rotation == 90 and not media.has("audio")


def test_a_picture_has_no_sound(tmp_path):
    picture = tmp_path / "cover.jpg"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture)
    media = ffmpeg.probe(picture)
    assert [stream.kind for stream in media.streams] == ["video"] and media.streams[0].size == (40, 30)
    assert not media.has("audio")


def test_what_ffmpeg_cannot_read_is_one_line(tmp_path):
    text = tmp_path / "song [bold]:a:.mp3"
    text.write_text("not a sound\n")
    with pytest.raises(UserError) as error:
        ffmpeg.probe(text)
    message = str(error.value)
    assert message.startswith(f"{text}: not a file ffmpeg can read (") and "\n" not in message
