"""The publishing kit's parts one by one: tags, chapters, description, GIF and JPEG caps, credits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import yaml
from conftest import ffprobe_video
from PIL import Image, ImageSequence
from pydantic import ValidationError
from runfolder_factory import painting_of, photo

from timelapse_nst.assembly.encode import ffmetadata
from timelapse_nst.assembly.tags import Chapter, settings_lines
from timelapse_nst.errors import UserError
from timelapse_nst.publish import gif, metadata, thumbnail
from timelapse_nst.publish.description import Description, timestamp, youtube_chapters
from timelapse_nst.settings import presets
from timelapse_nst.settings.credits import Credits

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
AWKWARD = "a = b; c # d \\ e\nsecond line"  # every character ffmetadata escapes


def tiny_video(path: Path, chapters: list[Chapter]) -> Path:
    meta = path.with_suffix(".txt")
    meta.write_text(ffmetadata(chapters), encoding="utf-8")
    source = ["-f", "lavfi", "-i", "testsrc=s=64x48:r=10:d=3", "-i", str(meta), "-map", "0:v", "-map_chapters", "1"]
    subprocess.run([FFMPEG, "-v", "error", *source, "-c:v", "libx264", "-preset", "ultrafast", str(path)], check=True)
    return path


def test_tags_and_chapters_round_trip_through_a_stream_copy(tmp_path: Path) -> None:
    chapters = [Chapter(0.0, 1.0, "Intro"), Chapter(1.0, 3.0, AWKWARD)]
    video = tiny_video(tmp_path / "v.mp4", chapters)
    before = ffprobe_video(video)
    metadata.write_tags(video, {"title": AWKWARD, "artist": "Me", "creation_time": "2026-01-02T03:04:05Z"})
    metadata.write_tags(video, {"artist": ""})  # twice: an empty value removes a tag, nothing piles up
    info = metadata.read_video(video)
    assert info.tags["title"] == AWKWARD and "artist" not in info.tags
    assert info.tags["creation_time"].startswith("2026-01-02T03:04:05")
    assert [(c.start, c.end, c.title) for c in info.chapters] == [(0.0, 1.0, "Intro"), (1.0, 3.0, AWKWARD)]
    assert info.duration == pytest.approx(3.0, abs=0.01)
    after = ffprobe_video(video)
    assert after == before and after["nb_read_frames"] == "30"  # the same stream, copied
    assert not list(tmp_path.glob("*.partial"))


def test_a_failed_re_tag_leaves_the_file_untouched(tmp_path: Path) -> None:
    broken = tmp_path / "timelapse.mp4"
    broken.write_bytes(b"not a video at all")
    with pytest.raises(UserError, match="ffmpeg failed") as error:
        metadata.write_tags(broken, {"title": "x", "creation_time": "2026-01-02T03:04:05Z"})
    assert "\n" not in str(error.value)
    assert broken.read_bytes() == b"not a video at all" and not list(tmp_path.glob("*.partial"))
    with pytest.raises(UserError, match="cannot read the video"):
        metadata.read_video(broken)


def test_ffmetadata_parser_undoes_escapes_and_line_continuations() -> None:
    text = ";FFMETADATA1\ntitle=one\\=two\\;\\#three\\\\\ncomment=first\\\nsecond\n[STREAM]\ntitle=not global\n"
    text += "[CHAPTER]\nTIMEBASE=1/10\nSTART=5\nEND=25\ntitle=x\n[CHAPTER]\nSTART=oops\n"
    tags, chapters = metadata.parse_ffmetadata(text)
    assert tags == {"title": "one=two;#three\\", "comment": "first\nsecond"}
    assert chapters == [Chapter(0.5, 2.5, "x")]


@pytest.mark.parametrize(
    ("segments", "expected"),
    [
        # intro, painting, hold, outro all long enough
        ([(0, 10, "I"), (10, 40, "P"), (40, 50, "H"), (50, 60, "O")], [(0, "I"), (10, "P"), (40, "H"), (50, "O")]),
        # a short intro folds into the painting, which then starts at 0:00; a short hold into it too
        ([(0, 2, "I"), (2, 40, "P"), (40, 43, "H"), (43, 60, "O"), (60, 75, "X")], [(0, "P"), (43, "O"), (60, "X")]),
        # fewer than three chapters left: none at all
        ([(0, 2, "I"), (2, 18, "P"), (18, 20, "H")], []),
        # the last one too short after rounding
        ([(0, 10, "I"), (10, 20, "P"), (20, 29.5, "H")], []),
        ([], []),
    ],
)
def test_youtube_chapters_follow_youtubes_rules(segments, expected) -> None:
    chapters = [Chapter(float(start), float(end), title) for start, end, title in segments]
    duration = segments[-1][1] if segments else 0
    marks = youtube_chapters(chapters, duration)
    assert marks == expected
    if marks:
        starts = [start for start, _ in marks]
        assert starts[0] == 0 and len(marks) >= 3 and min(np.diff([*starts, int(duration)])) >= 10


def test_timestamps() -> None:
    assert [timestamp(s) for s in (0, 9, 61, 600, 3723)] == ["0:00", "0:09", "1:01", "10:00", "1:02:03"]


def test_description_layout() -> None:
    text = Description(
        title="T",
        credits=["Photo: me"],
        settings=["512 px"],
        chapters=[Chapter(0, 10, "A"), Chapter(10, 20, "B"), Chapter(20, 30, "C")],
        duration=30,
    ).text()
    assert text.startswith("T\n\n") and "Credits\nPhoto: me" in text and "- 512 px" in text
    assert "Chapters\n0:00 A\n0:10 B\n0:20 C" in text and text.endswith("Made with timelapse-nst\n")


def test_settings_lines_from_a_resolved_preset() -> None:
    config = presets.to_yaml(presets.resolve("slow-reveal"))
    lines = settings_lines(yaml.safe_load(config), weights="torchvision")
    assert lines[:3] == ["preset slow-reveal", "512 px", "L-BFGS 600 iterations"]
    assert "loss weights content 1e5, style 100 -> 3e4 (cosine), tv 1" in lines and lines[-1] == "VGG19 torchvision"
    morph = settings_lines(
        yaml.safe_load(presets.to_yaml(presets.resolve("style-morph", overrides=["color.preserve=luminance"])))
    )
    assert "style blend 1 -> 0 (cosine), 0 -> 1 (cosine)" in morph
    assert "photo's colours kept (luminance, amount 1)" in morph


def test_gif_falls_back_to_fewer_frames_and_colours_to_fit_the_cap(tmp_path: Path) -> None:
    noise = np.random.default_rng(0)

    def frames(fps: int) -> list[Image.Image]:
        return [Image.fromarray(noise.integers(0, 256, (60, 80, 3), dtype=np.uint8)) for _ in range(fps)]

    roomy, fps, colours = gif.write_gif(frames, tmp_path / "a.gif", max_bytes=10**7)
    assert (fps, colours) == gif.ATTEMPTS[0]
    cap = roomy.stat().st_size // 3
    path, fps, colours = gif.write_gif(frames, tmp_path / "b.gif", max_bytes=cap)
    assert path.stat().st_size <= cap and (fps, colours) != gif.ATTEMPTS[0]
    with Image.open(path) as animation:
        delays = [frame.info["duration"] for frame in ImageSequence.Iterator(animation)]
        assert animation.info["loop"] == 0 and sum(delays) == 1000  # one second whatever the fps
    with pytest.raises(UserError, match="smaller than 100 bytes"):
        gif.write_gif(frames, tmp_path / "c.gif", max_bytes=100)
    assert not (tmp_path / "c.gif").exists() and not list(tmp_path.glob("*.partial"))


def test_gif_frame_delays_add_up_exactly() -> None:
    assert gif.frame_delays(3, 15) == [70, 60, 70] or sum(gif.frame_delays(3, 15)) == 200
    assert sum(gif.frame_delays(90, 15)) == 6000 and set(gif.frame_delays(90, 15)) <= {60, 70}


def test_thumbnail_jpeg_quality_drops_to_fit_the_cap(tmp_path: Path) -> None:
    picture = thumbnail.make_thumbnail(photo((96, 72)), painting_of(photo((96, 72))), "Title")
    best = thumbnail.save_jpeg(picture, tmp_path / "a.jpg").stat().st_size
    smaller = thumbnail.save_jpeg(picture, tmp_path / "b.jpg", max_bytes=best - 1).stat().st_size
    assert smaller < best
    with pytest.raises(UserError, match="smaller than 10 bytes"):
        thumbnail.save_jpeg(picture, tmp_path / "c.jpg", max_bytes=10)


def test_long_empty_and_cjk_titles_fit_the_thumbnail() -> None:
    words = " ".join(["Supercalifragilistic"] * 12)
    for title in (words, "", "x"):
        assert thumbnail.make_thumbnail(photo(), painting_of(photo()), title).size == (1280, 720)
    plain = np.asarray(thumbnail.make_thumbnail(photo(), painting_of(photo()), "").convert("L"))[20:200]
    cjk = np.asarray(thumbnail.make_thumbnail(photo(), painting_of(photo()), "東京の夜").convert("L"))[20:200]
    # Filled glyphs (DejaVu alone would draw empty boxes: about half as many white pixels).
    assert (cjk > 240).sum() > 11000 and (plain > 240).sum() < 2000


def test_credits_shapes_and_errors() -> None:
    assert Credits.model_validate("Vincent van Gogh, The Starry Night").painting == [
        "Vincent van Gogh, The Starry Night"
    ]
    mapping = Credits.model_validate({"artist": "Jane", "photo": "Andreas", "painting": ["A", "B"]})
    assert mapping.artist_tag == "Jane" and Credits(painting=["A", "B"]).artist_tag == "A; B"
    assert Credits().artist_tag is None
    for bad, message in (
        ({"paintng": "x"}, "Extra inputs"),
        ({"photo": "two\nlines"}, "one line"),
        ({"photo": "   "}, "at least 1 character"),
        ({"painting": ["x"] * 9}, "at most 8"),
        ({"artist": "y" * 301}, "at most 300"),
    ):
        with pytest.raises(ValidationError, match=message):
            Credits.model_validate(bad)
    with pytest.raises(UserError, match=r"credits\.paintng.*did you mean 'credits\.painting'"):
        presets.resolve("classic", overrides=["credits={paintng: x}"])
