"""The publishing kit end to end: real run folders, real ffmpeg, read back with ffprobe and Pillow."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import decode, ffprobe_video, require_tool, torch_loaded_by
from PIL import Image, ImageOps, ImageSequence
from runfolder_factory import make_run, painting_of, photo

from timelapse_nst.assembly import assemble_run
from timelapse_nst.errors import UserError
from timelapse_nst.publish import publish_run
from timelapse_nst.publish.description import MIN_CHAPTER_SECONDS
from timelapse_nst.publish.loop import loop_shots

# A 60 s video whose intro, hold and outro are long enough to be YouTube chapters; 2 fps keeps it cheap.
LONG_VIDEO = {
    "layout": "showcase",
    "resolution": "320x180",
    "duration": 60,
    "fps": 2,
    "intro": 10,
    "hold": 10,
    "outro": "wipe",
    "outro_duration": 10,
    "preset": "ultrafast",
}


def format_info(path: Path) -> dict:
    entries = "format_tags:chapters:stream=codec_type"
    out = subprocess.run(
        [require_tool("ffprobe"), "-v", "error", "-show_entries", entries, "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def decode_all(path: Path) -> np.ndarray:
    """Every frame of a video as RGB, (frames, height, width, 3)."""
    info = ffprobe_video(path)
    return decode(path).reshape(-1, info["height"], info["width"], 3).astype(np.float32)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path], list[str]]:
    run = make_run(tmp_path_factory.mktemp("kit") / "run", size=(96, 72))
    assemble_run(run, overrides=LONG_VIDEO)
    notes: list[str] = []
    written = publish_run(
        run,
        credit="Vincent van Gogh, The Starry Night",
        title="Tübingen = night; #1",
        loop_long_edge=160,
        notify=notes.append,
    )
    return run, written, notes


def test_publish_writes_every_file_into_the_run_folder(published) -> None:
    run, written, notes = published
    names = ["timelapse.mp4", "thumbnail.jpg", "loop.mp4", "loop.gif", "description.txt"]
    assert written == [run / name for name in names]
    assert not list(run.glob("*.partial")) and not list(run.glob("*.tmp"))
    assert any("loop.gif" in note and "fps" in note for note in notes)


def test_thumbnail_is_a_youtube_sized_before_and_after(published) -> None:
    run = published[0]
    path = run / "thumbnail.jpg"
    assert path.stat().st_size < 2_000_000
    with Image.open(path) as thumbnail:
        assert (thumbnail.format, thumbnail.size, thumbnail.mode) == ("JPEG", (1280, 720), "RGB")
        picture = np.asarray(thumbnail, np.float32)
    before = np.asarray(ImageOps.fit(photo((96, 72)), (1280, 720)), np.float32)
    after = np.asarray(ImageOps.fit(painting_of(photo((96, 72))), (1280, 720)), np.float32)
    # Below the title band and clear of the tags: the photo on the left, the painting on the right.
    left, right = (slice(300, 520), slice(100, 400)), (slice(300, 520), slice(900, 1100))
    assert np.abs(picture[left] - before[left]).mean() < np.abs(picture[left] - after[left]).mean() - 10
    assert np.abs(picture[right] - after[right]).mean() < np.abs(picture[right] - before[right]).mean() - 10


def test_thumbnail_title_stays_legible_at_list_size(published) -> None:
    with Image.open(published[0] / "thumbnail.jpg") as thumbnail:
        small = np.asarray(thumbnail.resize((320, 180), Image.Resampling.LANCZOS).convert("L"), np.float32)
    band = small[5:70]  # the title's two lines
    assert (band > 235).mean() > 0.08  # big white letters ...
    assert (band < 40).mean() > 0.08  # ... outlined in black on a darkened band


def test_loop_mp4_is_short_h264(published) -> None:
    info = ffprobe_video(published[0] / "loop.mp4")
    assert (info["codec_name"], info["pix_fmt"]) == ("h264", "yuv420p")
    assert max(info["width"], info["height"]) == 160 and info["width"] % 2 == info["height"] % 2 == 0
    assert 5.5 <= info["duration"] <= 6.05  # the default 6 s, never over 10


def test_loop_gif_is_480_wide_under_8_mb_and_loops_forever(published) -> None:
    path = published[0] / "loop.gif"
    assert path.stat().st_size <= 8_000_000
    with Image.open(path) as animation:
        assert animation.format == "GIF" and animation.size == (480, 360) and animation.info["loop"] == 0
        delays = [frame.info["duration"] for frame in ImageSequence.Iterator(animation)]
    assert 5.5 <= sum(delays) / 1000 <= 6.05 and len(delays) > 10


def test_video_tags_are_written_without_re_encoding(published) -> None:
    run = published[0]
    info = format_info(run / "timelapse.mp4")
    tags = info["format"]["tags"]
    assert tags["title"] == "Tübingen = night; #1"
    assert tags["artist"] == "Vincent van Gogh, The Starry Night"
    assert "preset test-preset" in tags["comment"]
    datetime.fromisoformat(tags["creation_time"])  # ISO 8601
    assert [c["tags"]["title"] for c in info["chapters"]][:2] == ["Intro: the photo and the painting", "Painting"]
    assert [s["codec_type"] for s in info["streams"]].count("video") == 1
    assert int(ffprobe_video(run / "timelapse.mp4")["nb_read_frames"]) == 120  # all frames still there


def test_description_is_ready_to_paste_with_valid_chapters(published) -> None:
    text = (published[0] / "description.txt").read_text(encoding="utf-8")
    assert text.startswith("Tübingen = night; #1\n")
    assert "Painting: Vincent van Gogh, The Starry Night" in text and "Photo: photo.jpg" in text
    assert "preset test-preset" in text
    chapters = text.split("Chapters\n")[1].split("\n\n")[0].splitlines()
    expected = ["0:00 Intro: the photo and the painting", "0:10 Painting", "0:40 The finished painting"]
    assert chapters == [*expected, "0:50 Before and after"]
    starts = [int(line.split()[0].split(":")[0]) * 60 + int(line.split()[0].split(":")[1]) for line in chapters]
    assert starts[0] == 0 and min(np.diff([*starts, 60])) >= MIN_CHAPTER_SECONDS


def test_credit_and_title_survive_a_new_assemble(published) -> None:
    run = published[0]
    config = yaml.safe_load((run / "render.yaml").read_text(encoding="utf-8"))["config"]
    assert config["credits"]["painting"] == ["Vincent van Gogh, The Starry Night"]
    assert config["video"]["title"] == "Tübingen = night; #1"
    assemble_run(run, out=run / "again.mp4", overrides=LONG_VIDEO)
    tags = format_info(run / "again.mp4")["format"]["tags"]
    assert (tags["title"], tags["artist"]) == ("Tübingen = night; #1", "Vincent van Gogh, The Starry Night")


def test_boomerang_plays_forward_then_back(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", size=(96, 72))  # no video assembled
    notes: list[str] = []
    publish_run(run, boomerang=True, loop_seconds=2, loop_long_edge=96, notify=notes.append)
    frames = decode_all(run / "loop.mp4")
    assert len(frames) <= 2 * 30
    final = np.asarray(Image.open(run / "final.png").resize((96, 72)), np.float32)
    first = np.asarray(Image.open(run / "frames" / "000000.png").resize((96, 72)), np.float32)
    distance = lambda a, b: float(np.abs(a - b).mean())  # noqa: E731
    assert distance(first, final) > 20
    # Starts and ends on the photo (a seamless loop), turns on the finished painting half way.
    assert distance(frames[0], first) < 6 and distance(frames[-1], first) < 6
    assert distance(frames[len(frames) // 2], final) < 6
    # And in between it moves one way, then the other.
    towards = [distance(frame, final) for frame in frames]
    half = len(frames) // 2
    assert towards[:half] == pytest.approx(sorted(towards[:half], reverse=True), abs=3)
    assert towards[half:] == pytest.approx(sorted(towards[half:]), abs=3)
    # Without a video there is nothing to tag and no chapters, but everything else is made.
    assert any("timelapse.mp4" in note and "assemble" in note for note in notes)
    assert not (run / "timelapse.mp4").exists() and "Chapters" not in (run / "description.txt").read_text()


def test_boomerang_shots_are_a_palindrome_around_the_last_frame() -> None:
    iterations = [0, 1, 2, 4, 8, 16]
    shots = loop_shots(iterations, seconds=3, fps=10, boomerang=True, pacing="linear")
    assert len(shots) <= 30
    assert [s.first for s in shots] == [s.first for s in reversed(shots)]
    assert [s.blend for s in shots] == [s.blend for s in reversed(shots)]
    assert shots[len(shots) // 2].first == len(iterations) - 1 and shots[0].first == 0
    plain = loop_shots(iterations, seconds=3, fps=10, boomerang=False, pacing="linear")
    assert len(plain) == 30 and plain[-1].first == len(iterations) - 1 and plain[-1].second == 0  # fades back


@pytest.mark.parametrize("seconds", [0.5, 12])
def test_loop_length_is_checked_before_anything_is_written(tmp_path: Path, seconds: float) -> None:
    run = make_run(tmp_path / "run")
    with pytest.raises(UserError, match="loop length"):
        publish_run(run, loop_seconds=seconds)
    assert not (run / "thumbnail.jpg").exists()


def test_a_bad_credit_or_title_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    manifest = (run / "render.yaml").read_bytes()
    for options, message in (
        ({"credit": "two\nlines"}, "one line"),
        ({"title": "  "}, "give a title"),
        ({"title": "x" * 201}, "title: String should have at most 200 characters"),
    ):
        with pytest.raises(UserError, match=message) as error:
            publish_run(run, **options)
        assert "\n" not in str(error.value)
    assert (run / "render.yaml").read_bytes() == manifest and not (run / "thumbnail.jpg").exists()


def test_publish_command(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from timelapse_nst.publish.command import publish_command

    app = typer.Typer()
    app.command("publish")(publish_command)
    app.command("other")(lambda: None)
    runner = CliRunner()
    assert "Example: timelapse-nst publish" in runner.invoke(app, ["publish", "--help"]).output
    bad = runner.invoke(app, ["publish", str(tmp_path / "nowhere")])
    assert isinstance(bad.exception, UserError) and "run folder not found" in str(bad.exception)
    run = make_run(tmp_path / "run", size=(32, 24))
    result = runner.invoke(app, ["publish", str(run), "--loop-seconds", "1", "--boomerang", "--title", "T", "-q"])
    assert result.exit_code == 0, result.output
    assert result.output == "" and (run / "loop.gif").is_file()


def test_publishing_never_imports_torch(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", size=(32, 24))
    kit = f"publish_run(Path({str(run)!r}), loop_seconds=1, loop_long_edge=32)"
    publish = f"from pathlib import Path\nimport timelapse_nst.publish.command\nfrom timelapse_nst.publish import publish_run\n{kit}"
    assert torch_loaded_by(publish) == []
