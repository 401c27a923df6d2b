"""A clip as content: told from an image by what the file holds, checked before anything is
written, and decoded trimmed, resampled, upright and at the painted size. Real clips, made with the
bundled ffmpeg."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clips import pan_clip, rotated, run_ffmpeg
from PIL import Image

from timelapse_nst import ffmpeg
from timelapse_nst.clip.source import clip_content, decode, output_rate, probe_content
from timelapse_nst.errors import UserError
from timelapse_nst.settings import presets


@pytest.fixture(scope="module")
def pan(tmp_path_factory) -> Path:
    return pan_clip(tmp_path_factory.mktemp("clips") / "pan.mp4", frames=12, fps=12)


def config(*overrides: str, size: int = 96):
    return presets.resolve("quick-preview", overrides=[f"size={size}", *overrides])


def frames_of(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(path)).astype(int) for path in sorted(folder.glob("*.png"))]


def test_a_clip_is_probed_from_what_ffmpeg_prints(pan):
    media = ffmpeg.probe(pan)
    video, audio = media.video(), media.audio()
    assert media.format.startswith("mov,mp4") and not media.is_picture_format
    assert media.duration == pytest.approx(1.0, abs=0.05) and media.rotation == 0
    assert (video.codec, video.size, video.fps, video.still) == ("h264", (96, 64), 12.0, False)
    assert audio is not None and audio.codec == "aac" and audio.sample_rate == 48000


def test_the_whole_clip_is_decoded_at_the_painted_size(pan, tmp_path):
    source = clip_content(pan, config(size=64))
    assert (source.frames, source.fps, source.size) == (12, 12, (64, 42))  # 64 x 42.7, even
    assert decode(source, tmp_path / "source") == 12
    frames = frames_of(tmp_path / "source")
    assert len(frames) == 12 and frames[0].shape == (42, 64, 3)
    assert np.abs(frames[1] - frames[0]).mean() > 2  # the camera moves
    record = source.record()
    assert (record.frames, record.size, record.start, record.end, record.audio) == (12, (64, 42), 0.0, 1.0, True)
    assert record.source == {"codec": "h264", "width": 96, "height": 64, "fps": 12.0, "duration": 1.0}


def test_a_trim_takes_the_frames_between_start_and_end(pan, tmp_path):
    whole = clip_content(pan, config())
    decode(whole, tmp_path / "whole")
    trimmed = clip_content(pan, config("clip.start=0.25", "clip.end=0.75"))
    assert trimmed.frames == 6
    decode(trimmed, tmp_path / "trimmed")
    every, part = frames_of(tmp_path / "whole"), frames_of(tmp_path / "trimmed")
    assert all(np.array_equal(part[i], every[i + 3]) for i in range(6))  # 0.25 s at 12 fps = frame 3


def test_the_rate_is_resampled_and_the_source_rate_kept_by_default(pan, tmp_path):
    assert clip_content(pan, config("clip.fps=6")).frames == 6
    doubled = clip_content(pan, config("clip.fps=24"))
    assert doubled.frames == 24
    decode(doubled, tmp_path / "doubled")
    frames = frames_of(tmp_path / "doubled")
    assert np.array_equal(frames[2], frames[3])  # 24 fps from 12: each frame twice
    stream = ffmpeg.probe(pan).video()
    assert output_rate(None, stream) == 12
    assert output_rate(29.97, stream) == pytest.approx(30000 / 1001)  # the NTSC rate it stands for
    assert output_rate(12.5, stream) == 12.5


def test_a_variable_frame_rate_is_made_constant(tmp_path):
    source = pan_clip(tmp_path / "pan.mp4", frames=12, fps=12, sound=False)
    # The same pictures, the first six 1/12 s apart and the rest 1/4 s apart.
    timing = "setpts='if(lt(N,6),N/12,0.5+(N-6)/4)/TB'"
    run_ffmpeg(
        "-i",
        str(source),
        "-vf",
        timing,
        "-fps_mode" if ffmpeg.release() >= (5, 1) else "-vsync",
        "vfr",
        str(tmp_path / "vfr.mkv"),
    )
    clip = clip_content(tmp_path / "vfr.mkv", config("clip.fps=12"))
    assert clip.frames == 22  # 0 .. 1.75 s (the last picture's time) at a constant 12 fps
    decode(clip, tmp_path / "constant")
    frames = frames_of(tmp_path / "constant")
    held = [np.array_equal(frames[i], frames[i + 1]) for i in range(21)]
    assert not any(held[:5]) and sum(held[6:]) >= 8  # the slow part's pictures held for 3 frames each


def test_a_portrait_phone_clip_is_painted_upright(pan, tmp_path):
    turned = rotated(pan, tmp_path / "portrait.mp4", 90)
    assert ffmpeg.probe(turned).rotation == 270  # ffmpeg's display matrix turns counter-clockwise
    landscape, portrait = clip_content(pan, config()), clip_content(turned, config())
    assert portrait.size == (64, 96) and portrait.record().rotation == 90
    decode(landscape, tmp_path / "landscape")
    decode(portrait, tmp_path / "portrait")
    # What a player shows: the stored picture turned a quarter clockwise.
    upright = [np.rot90(frame, k=-1) for frame in frames_of(tmp_path / "landscape")]
    assert all(np.abs(a - b).max() <= 2 for a, b in zip(upright, frames_of(tmp_path / "portrait"), strict=True))


def test_an_animated_gif_stays_an_image(tmp_path):
    frames = [Image.new("RGB", (32, 32), color) for color in ("red", "blue")]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert probe_content(tmp_path / "moving.gif") is None
    assert probe_content(Path(__file__).parent.parent / "examples" / "tubingen.jpg") is None


def bad_clip(tmp_path: Path, kind: str, pan: Path) -> tuple[Path, tuple[str, ...]]:
    """One kind of bad content, and what its message must say."""
    if kind == "text":
        (tmp_path / "notes.mp4").write_text("not a video\n")
        return tmp_path / "notes.mp4", ("neither an image nor a video",)
    if kind == "sound only":
        run_ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(tmp_path / "tone.m4a"))
        return tmp_path / "tone.m4a", ("no moving pictures", "audio")
    if kind == "zero frames":
        run_ffmpeg("-f", "lavfi", "-i", "color=size=64x48", "-t", "0", "-c:v", "rawvideo", str(tmp_path / "empty.avi"))
        return tmp_path / "empty.avi", ("has no frames",)
    if kind == "damaged":
        run_ffmpeg("-i", str(pan), "-c", "copy", "-movflags", "+faststart", str(tmp_path / "whole.mp4"))
        data = (tmp_path / "whole.mp4").read_bytes()
        (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 6 // 10])  # the index is whole, the frames are not
        return tmp_path / "cut.mp4", ("is damaged",)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["text", "sound only", "zero frames", "damaged"])
def test_bad_content_is_one_line_naming_the_file(pan, tmp_path, kind):
    path, words = bad_clip(tmp_path, kind, pan)
    with pytest.raises(UserError) as caught:
        clip_content(path, config())
    message = str(caught.value)
    assert path.name in message and "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["clip.start=3"], ("--start 3 is outside the clip", "lasts 1.00 s")),
        (["clip.end=1.5"], ("--end 1.5 is outside the clip",)),
        (["clip.max_frames=5"], ("about 12 frames (1.0 s at 12 fps)", "the limit is 5", "clip.max_frames=12")),
        (["clip.fps=48", "clip.max_frames=40"], ("about 48 frames", "the limit is 40")),
    ],
)
def test_a_trim_outside_the_clip_or_over_the_limit_is_refused(pan, overrides, words):
    with pytest.raises(UserError) as caught:
        clip_content(pan, config(*overrides))
    for word in words:
        assert word in str(caught.value)


def test_the_limit_counts_the_pictures_not_a_sound_track_that_outlasts_them(pan, tmp_path):
    # 12 frames (1 s) of pictures under 10 s of sound: the file lasts 10 s, about 120 frames.
    long_sound = tmp_path / "long-sound.mp4"
    tone = "sine=frequency=220:sample_rate=48000:duration=10"
    run_ffmpeg(
        "-i",
        str(pan),
        "-f",
        "lavfi",
        "-i",
        tone,
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        str(long_sound),
    )
    assert ffmpeg.probe(long_sound).duration == pytest.approx(10.0, abs=0.1)
    source = clip_content(long_sound, config("clip.max_frames=20"))
    assert source is not None and source.frames == 12
    # Over the limit it is still refused, with the estimate the file's length gives.
    with pytest.raises(UserError, match=r"about 120 frames \(10\.0 s at 12 fps\); the limit is 11"):
        clip_content(long_sound, config("clip.max_frames=11"))


def test_a_clip_of_unknown_length_over_the_limit_is_refused_without_a_made_up_estimate(pan, tmp_path):
    raw = tmp_path / "pan.h264"  # a bare H.264 stream: ffmpeg names no duration
    run_ffmpeg("-i", str(pan), "-map", "0:v", "-c:v", "copy", "-f", "h264", str(raw))
    assert ffmpeg.probe(raw).duration is None
    with pytest.raises(UserError, match=r"as more than 5 frames \(at 25 fps\).*--set clip\.max_frames=10\)$"):
        clip_content(raw, config("clip.max_frames=5"))
    assert 5 < clip_content(raw, config("clip.max_frames=40")).frames <= 40  # counted, under a higher limit


def test_a_trim_of_a_photo_is_refused(tmp_path):
    photo = Path(__file__).parent.parent / "examples" / "tubingen.jpg"
    with pytest.raises(UserError, match="is an image"):
        clip_content(photo, config("clip.start=1"))
    assert clip_content(photo, config()) is None
