"""A clip's videos from its run folder alone: stylised.mp4 and timelapse.mp4, real ffmpeg and ffprobe.

The run folders are laid out by ``clip_factory`` as the clip render lays them out (no painting):
a real source video whose white flash frame and beep start together, so sync is measurable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from clip_factory import FFMPEG, SourceClip, beep_onset, flash_times, make_clip_run, make_source_clip
from conftest import require_tool
from PIL import Image

from timelapse_nst.assembly import assemble_run, layouts
from timelapse_nst.assembly.recording import read_recording
from timelapse_nst.assembly.timeline import ClipTiming, plan
from timelapse_nst.errors import UserError
from timelapse_nst.rendering.status import video_state
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings.video import VideoSettings

FAST = {"preset": "ultrafast", "fps": 10, "resolution": "320x180"}
PLAIN = {**FAST, "layout": "plain", "intro": 0.5, "hold": 0.5, "duration": 2.0, "transition": 0.3}
AUDIO_RATE = 16000


@pytest.fixture(scope="module")
def sound_clip(tmp_path_factory: pytest.TempPathFactory) -> SourceClip:
    """3 s at 10 fps, the flash and its beep at 1.5 s."""
    return make_source_clip(tmp_path_factory.mktemp("source") / "walk.mp4")


@pytest.fixture(scope="module")
def silent_clip(tmp_path_factory: pytest.TempPathFactory) -> SourceClip:
    return make_source_clip(tmp_path_factory.mktemp("silent") / "walk.mp4", seconds=2.0, flash=0.8, audio=False)


def probe(path: Path) -> dict[str, dict]:
    """ffprobe's streams by type (frames counted) and the container's format."""
    command = [
        require_tool("ffprobe"),
        "-v",
        "error",
        "-show_streams",
        "-show_format",
        "-show_chapters",
        "-count_frames",
    ]
    result = subprocess.run(
        [*command, "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout)
    streams = {stream["codec_type"]: stream for stream in data["streams"]}
    return {**streams, "format": data["format"], "chapters": data["chapters"]}


def video_frames(path: Path) -> list[np.ndarray]:
    """Every decoded frame, RGB."""
    info = probe(path)["video"]
    raw = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, info["height"], info["width"], 3)
    return list(frames)


def sound(path: Path) -> np.ndarray:
    """The decoded sound, mono, AUDIO_RATE samples per second."""
    decode = [FFMPEG, "-v", "error", "-i", str(path), "-map", "0:a", "-ac", "1", "-ar", str(AUDIO_RATE)]
    raw = subprocess.run(
        [*decode, "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.int16).astype(np.float64)


def assert_youtube_ready(stream: dict) -> None:
    assert (stream["codec_name"], stream["profile"], stream["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert (stream["color_space"], stream["color_transfer"], stream["color_primaries"]) == ("bt709",) * 3
    assert stream["r_frame_rate"] == stream["avg_frame_rate"]  # constant frame rate


def top_level_boxes(path: Path) -> list[str]:
    boxes, data, offset = [], path.read_bytes(), 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        boxes.append(data[offset + 4 : offset + 8].decode("latin-1"))
        offset += max(size, 8)
    return boxes


# -- stylised.mp4 -----------------------------------------------------------------------------


def test_stylised_mp4_is_the_painted_clip_with_its_sound_trimmed_and_in_sync(
    tmp_path: Path, sound_clip: SourceClip
) -> None:
    # Trimmed to 0.5 .. 2.5 s: 20 frames; the flash (and the beep) at 1.5 s of the source is 1.0 s in.
    run = make_clip_run(tmp_path / "run", sound_clip, start=0.5, end=2.5)
    assemble_run(run, overrides=PLAIN)

    video = run / "stylised.mp4"
    info = probe(video)
    assert_youtube_ready(info["video"])
    assert (info["video"]["width"], info["video"]["height"]) == (64, 48)  # the painted size, one to one
    assert info["video"]["r_frame_rate"] == "10/1" and int(info["video"]["nb_read_frames"]) == 20
    assert abs(float(info["format"]["duration"]) - 2.0) <= 0.05
    audio = info["audio"]
    assert (audio["codec_name"], audio["profile"], audio["sample_rate"]) == ("aac", "LC", "48000")
    assert abs(float(audio["duration"]) - 2.0) <= 0.05
    boxes = top_level_boxes(video)
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart
    # The painted frames are the stylised PNGs (colours through BT.709 YUV and back).
    decoded = video_frames(video)
    painted = np.asarray(Image.open(run / "stylised" / "000007.png"), np.float32)
    assert np.abs(decoded[7].astype(np.float32) - painted).mean() < 6
    # In sync: the flash is frame 10 (1.0 s), and the beep starts there too.
    assert flash_times(decoded, 10) == [1.0]
    onset = beep_onset(sound(video), AUDIO_RATE)
    assert onset is not None and abs(onset - 1.0) < 0.02, onset
    assert not list(run.glob("*.partial"))


def test_a_clip_without_sound_gives_silent_videos(tmp_path: Path, silent_clip: SourceClip) -> None:
    run = make_clip_run(tmp_path / "run", silent_clip)
    timelapse = assemble_run(run, overrides=PLAIN)

    stylised = probe(run / "stylised.mp4")
    assert "audio" not in stylised and int(stylised["video"]["nb_read_frames"]) == 20
    info = probe(timelapse)
    assert "audio" not in info
    assert int(info["video"]["nb_read_frames"]) == 20 + 20  # 2 s of timelapse, then the 2 s clip


def test_a_render_under_way_gives_the_frames_painted_so_far_and_as_much_sound(
    tmp_path: Path, sound_clip: SourceClip
) -> None:
    run = make_clip_run(tmp_path / "run", sound_clip, painted=12)  # 12 of 30 frames painted
    assemble_run(run, overrides=PLAIN)

    info = probe(run / "stylised.mp4")
    assert int(info["video"]["nb_read_frames"]) == 12
    assert abs(float(info["audio"]["duration"]) - 1.2) <= 0.05


def test_an_odd_painted_size_is_padded_to_even_sides(tmp_path: Path, sound_clip: SourceClip) -> None:
    run = make_clip_run(tmp_path / "run", sound_clip, size=(63, 47), end=1.0)
    assemble_run(run, overrides=PLAIN)

    stream = probe(run / "stylised.mp4")["video"]
    assert (stream["width"], stream["height"]) == (64, 48)


# -- timelapse.mp4 ----------------------------------------------------------------------------


def test_timelapse_paints_frame_0_then_the_clip_moves_and_its_sound_comes_in(
    tmp_path: Path, sound_clip: SourceClip
) -> None:
    run = make_clip_run(tmp_path / "run", sound_clip, start=0.5, end=2.5)
    video = assemble_run(run, overrides=PLAIN)

    info = probe(video)
    assert_youtube_ready(info["video"])
    # The still timelapse (2 s: intro, painting of frame 0, hold), then the clip at its speed (2 s).
    assert int(info["video"]["nb_read_frames"]) == 40
    assert abs(float(info["format"]["duration"]) - 4.0) <= 0.05
    assert abs(float(info["audio"]["duration"]) - 4.0) <= 0.05
    titles = [chapter["tags"]["title"] for chapter in info["chapters"]]
    assert titles == ["Intro: the photo and the painting", "Painting", "The finished painting", "The painted clip"]
    assert [round(float(chapter["start_time"]), 2) for chapter in info["chapters"]][-1] == 2.0
    frames = [frame.astype(np.float32) for frame in video_frames(video)]
    # Still while frame 0 is shown finished (the hold), moving once the clip plays.
    assert np.abs(frames[19] - frames[18]).mean() < 1
    assert np.abs(frames[24] - frames[21]).mean() > 3
    # The clip's flash at 1.0 s of the clip is 3.0 s into the video; the beep starts there too.
    assert flash_times([frame.astype(np.uint8) for frame in frames], 10) == [3.0]
    wave = sound(video)
    assert np.sqrt(np.mean(wave[: 2 * AUDIO_RATE] ** 2)) < 50  # silent while frame 0 is painted
    onset = beep_onset(wave, AUDIO_RATE)
    assert onset is not None and abs(onset - 3.0) < 0.02, onset


def test_a_soundtrack_replaces_the_clip_s_sound_in_the_timelapse_only(tmp_path: Path, sound_clip: SourceClip) -> None:
    run = make_clip_run(tmp_path / "run", sound_clip, end=1.0)
    music = tmp_path / "music.wav"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=frequency=220:duration=1", str(music)], check=True
    )
    video = assemble_run(run, overrides={**PLAIN, "audio": str(music), "audio_fade_out": 0})

    wave = sound(video)
    assert np.sqrt(np.mean(wave[:AUDIO_RATE] ** 2)) > 1000  # the music plays from the start
    assert abs(len(wave) / AUDIO_RATE - 3.0) < 0.05
    assert "audio" in probe(run / "stylised.mp4")  # stylised.mp4 keeps the clip's own sound


def test_the_clip_plays_at_its_own_speed_in_a_video_of_another_frame_rate() -> None:
    settings = VideoSettings.model_validate({"fps": 30, "duration": 4, "intro": 1, "hold": 1, "pacing": "linear"})
    shots = plan([0, 10, 20], settings, clip=ClipTiming(frames=12, fps=Fraction(24000, 1001)))

    clip = [shot for shot in shots if shot.segment == "clip"]
    assert len(clip) == round(12 * 30 * 1001 / 24000)  # 0.5 s of video
    assert [shot.first for shot in clip][:6] == [0, 0, 1, 2, 3, 3]  # 23.976 fps shown at 30: some frames twice
    assert clip[-1].first == 11 and len(shots) == 120 + len(clip)
    assert [shot.segment for shot in shots[118:121]] == ["hold", "hold", "clip"]


def test_the_outro_comes_after_the_clip_and_compares_its_last_frame(tmp_path: Path, sound_clip: SourceClip) -> None:
    settings = VideoSettings.model_validate(
        {"fps": 10, "duration": 4, "outro": "wipe", "outro_duration": 1, "pacing": "linear"}
    )
    shots = plan([0, 4, 8], settings, clip=ClipTiming(frames=5, fps=Fraction(10)))
    outro = round(settings.segment_seconds()[2] * 10)
    assert len(shots) == 40 + 5 and outro > 0
    assert [shot.segment for shot in shots[-5 - outro :]] == ["clip"] * 5 + ["outro"] * outro
    assert all(shot.first == 4 for shot in shots if shot.segment == "outro")  # the clip's last frame

    run = make_clip_run(tmp_path / "run", sound_clip, end=1.0)
    video = assemble_run(run, overrides={**PLAIN, "outro": "side-by-side", "outro_duration": 0.5})
    assert int(probe(video)["video"]["nb_read_frames"]) == 20 + 10  # the outro sits inside the 2 s


# -- layouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("layout", "size"), [("showcase", (640, 360)), ("shorts", (360, 640))])
def test_the_source_clip_plays_beside_the_painted_clip(
    tmp_path: Path, sound_clip: SourceClip, layout: str, size: tuple[int, int]
) -> None:
    run = make_clip_run(tmp_path / "run", sound_clip, end=1.0, styles=2)
    overrides = {**FAST, "layout": layout, "resolution": "{}x{}".format(*size), "duration": 1.0}
    overrides |= {"intro": 0.2, "hold": 0.2}
    video = assemble_run(run, overrides=overrides)

    info = probe(video)["video"]
    assert (info["width"], info["height"]) == size  # shorts stay vertical
    frames = video_frames(video)
    assert len(frames) == 10 + 10
    layout_boxes = _boxes(run, overrides)
    for k in (2, 8):  # clip frames 2 and 8: the source and its painting, side by side, in step
        frame = frames[10 + k].astype(np.float32)
        source = _region(frame, layout_boxes["content"], (64, 48))
        painted = _region(frame, layout_boxes["painting"], (64, 48))
        expected_source = np.asarray(Image.open(run / "source" / f"{k:06d}.png"), np.float32)
        expected_painted = np.asarray(Image.open(run / "stylised" / f"{k:06d}.png"), np.float32)
        # The style insets cover the source's lower right corner in the showcase: compare the top half.
        assert np.abs(source[:20] - expected_source[:20]).mean() < 12
        assert np.abs(painted - expected_painted).mean() < 12
    # The panels move: the source at frame 8 is not the source at frame 2.
    early, late = (_region(frames[10 + k].astype(np.float32), layout_boxes["content"], (64, 48)) for k in (2, 8))
    assert np.abs(early[:20] - late[:20]).mean() > 10


def test_the_plain_layout_shows_the_painted_clip_alone(tmp_path: Path, sound_clip: SourceClip) -> None:
    run = make_clip_run(tmp_path / "run", sound_clip, end=1.0)
    frames = video_frames(assemble_run(run, overrides=PLAIN))
    # 64x48 fills the 180 px height: 240 px wide in the middle of 320.
    shown = Image.fromarray(frames[-1][:, 40:280]).resize((64, 48), Image.Resampling.BOX)
    painted = np.asarray(Image.open(run / "stylised" / "000009.png"), np.float32)
    assert np.abs(np.asarray(shown, np.float32) - painted).mean() < 8
    assert np.abs(frames[-1][:, :30].astype(np.float32) - 16).mean() < 3  # background beside it


def _boxes(run: Path, overrides: dict) -> dict[str, tuple[int, int, int, int]]:
    """Where the layout puts the photo and the painting (the layout's own geometry)."""
    settings = VideoSettings.model_validate(overrides)
    styles = tuple(Image.open(path).convert("RGB") for path in sorted((run / "inputs").glob("style*.png")))
    inputs = layouts.Inputs(
        content=Image.open(run / "source" / "000000.png").convert("RGB"),
        styles=styles,
        content_name="walk.mp4",
        style_names=tuple(f"sun{number}.png" for number in range(len(styles))),
        title=read_recording(run).content.name,
        total_iterations=16,
        clip=True,
    )
    layout = layouts.make_layout(settings.layout, settings.size, settings.background, inputs, (64, 48))
    return {"content": layout.content_box, "painting": layout.painting_box}


def _region(frame: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    left, top, width, height = box
    crop = Image.fromarray(frame[top : top + height, left : left + width].astype(np.uint8))
    return np.asarray(crop.resize(size, Image.Resampling.BOX), np.float32)


# -- assemble ---------------------------------------------------------------------------------


def test_assemble_rebuilds_both_videos_from_the_folder_alone_without_torch(
    tmp_path: Path, sound_clip: SourceClip
) -> None:
    run = make_clip_run(tmp_path / "run", sound_clip, end=1.0, video=PLAIN)
    painted = {path.name: path.read_bytes() for path in (run / "stylised").iterdir()}
    # The command, in a process where torch cannot be imported: assembly reads PNGs, never paints.
    check = (
        "import sys\n"
        "sys.modules['torch'] = None  # importing torch now fails\n"
        "from timelapse_nst.cli import main\n"
        f"sys.argv = ['timelapse-nst', 'assemble', {str(run)!r}, '--quiet']\n"
        "main()\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert int(probe(run / "stylised.mp4")["video"]["nb_read_frames"]) == 10
    assert int(probe(run / "timelapse.mp4")["video"]["nb_read_frames"]) == 20 + 10
    assert {path.name: path.read_bytes() for path in (run / "stylised").iterdir()} == painted
    assert video_state(RunFolder(run)) == "up to date"
    # A variant elsewhere leaves stylised.mp4 alone (it is already there).
    before = (run / "stylised.mp4").stat().st_mtime_ns
    shorts = assemble_run(
        run, out=tmp_path / "shorts.mp4", overrides={**FAST, "layout": "shorts", "resolution": "180x320", "duration": 1}
    )
    assert probe(shorts)["video"]["height"] > probe(shorts)["video"]["width"]
    assert (run / "stylised.mp4").stat().st_mtime_ns == before
    later = time.time() + 5  # a frame painted again after the videos were made
    os.utime(run / "stylised" / "000004.png", (later, later))
    assert video_state(RunFolder(run)) == "older than the frames (run `assemble`)"
    (run / "stylised.mp4").unlink()
    assert video_state(RunFolder(run)) == "not made yet"


def test_a_copied_clip_folder_assembles_elsewhere(tmp_path: Path, sound_clip: SourceClip) -> None:
    """No absolute path is kept: the folder moved to another machine still has its sound."""
    made = make_clip_run(tmp_path / "made", sound_clip, end=1.0)
    moved = Path(shutil.copytree(made, tmp_path / "elsewhere" / "run"))
    shutil.rmtree(made)
    assemble_run(moved, overrides=PLAIN)
    assert "audio" in probe(moved / "stylised.mp4")


@pytest.mark.parametrize("clip", ["[1, 2]", "{frames: 3, fps: [10, 1]}", "{frames: 3, fps: [10, 0], size: [64, 48]}"])
def test_a_damaged_clip_record_is_one_line(tmp_path: Path, sound_clip: SourceClip, clip: str) -> None:
    run = make_clip_run(tmp_path / "run", sound_clip, end=0.5)
    manifest = (run / "render.yaml").read_text(encoding="utf-8")
    start = manifest.index("clip:")
    (run / "render.yaml").write_text(manifest[:start] + f"clip: {clip}\n", encoding="utf-8")
    with pytest.raises(UserError) as error:
        assemble_run(run, overrides=PLAIN)
    assert "clip record is damaged" in str(error.value) and "\n" not in str(error.value)


def test_a_clip_is_published_with_its_first_frame_as_the_photo(tmp_path: Path, sound_clip: SourceClip) -> None:
    from timelapse_nst.publish import publish_run

    run = make_clip_run(tmp_path / "run", sound_clip, end=1.0)
    assemble_run(run, overrides=PLAIN)
    written = {path.name for path in publish_run(run, loop_seconds=1.0)}
    assert {"thumbnail.jpg", "loop.mp4", "description.txt", "timelapse.mp4"} <= written
    assert "Photo: walk.mp4" in (run / "description.txt").read_text(encoding="utf-8")
