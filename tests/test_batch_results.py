"""gallery.png and compilation.mp4 from real run folders (synthetic frames, real assembly and ffmpeg)."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
from conftest import ffprobe_video, torch_loaded_by
from PIL import Image
from runfolder_factory import make_run

from timelapse_nst.assembly import assemble_run
from timelapse_nst.assembly.layouts import TEXT
from timelapse_nst.batch.results import TITLE_SECONDS, Entry, make_compilation, make_gallery

SMALL_VIDEO = {"layout": "plain", "resolution": "128x72", "duration": 1, "fps": 10, "preset": "ultrafast"}
SMALL_VIDEO |= {"intro": 0, "hold": 0.2}


def frames_of(video: Path) -> list[np.ndarray]:
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    width, height = meta["size"]
    return [np.frombuffer(data, np.uint8).reshape(height, width, 3) for data in reader]


def test_the_gallery_shows_every_finished_painting_labelled(tmp_path):
    runs = [make_run(tmp_path / name, size=size) for name, size in (("a", (64, 48)), ("b", (40, 60)), ("c", (48, 48)))]
    unfinished = make_run(tmp_path / "d", final=False)
    entries = [
        Entry("Chelsea after Hokusai", runs[0]),
        Entry("b", runs[1]),
        Entry("c", runs[2]),
        Entry("d", unfinished),
    ]
    out = make_gallery(entries, tmp_path / "gallery.png")
    sheet = np.asarray(Image.open(out).convert("RGB"))
    # Three paintings (the unfinished one is left out): 2 columns, 2 rows of 256 px cells + labels.
    assert sheet.shape == (2 * (256 + 36 + 16) + 16, 2 * (256 + 16) + 16, 3)
    cells = [(16, 16), (16 + 272, 16), (16, 16 + 308)]
    for (x, y), run in zip(cells, runs, strict=True):
        painting = np.asarray(Image.open(run / "final.png").convert("RGB"), dtype=np.int16)
        shown_height = round(painting.shape[0] * min(256 / painting.shape[0], 256 / painting.shape[1]))
        centre = sheet[y + 256 - shown_height // 2, x + 128].astype(np.int16)  # bottom-aligned in its cell
        assert np.abs(centre - painting[painting.shape[0] // 2, painting.shape[1] // 2]).max() < 40
        label = sheet[y + 256 + 4 : y + 256 + 34, x : x + 256]
        assert (np.abs(label.astype(np.int16) - TEXT).sum(-1) < 60).sum() > 20, "no label under the painting"
    empty = sheet[16 + 308 :, 16 + 272 :]  # the fourth cell: background only
    assert (empty == empty[0, 0]).all()


def test_nothing_finished_makes_no_gallery_and_no_compilation(tmp_path):
    run = make_run(tmp_path / "a", final=False)
    assert make_gallery([Entry("a", run)], tmp_path / "gallery.png") is None
    assert make_compilation([Entry("a", run)], tmp_path / "compilation.mp4") is None  # no timelapse.mp4
    assert not (tmp_path / "gallery.png").exists() and not (tmp_path / "compilation.mp4").exists()


def test_the_compilation_plays_every_timelapse_after_a_title_card_encoded_like_the_timelapses(tmp_path):
    first = make_run(tmp_path / "first", video=SMALL_VIDEO)
    # Another size and frame rate: fitted into the first one's frame, resampled to its rate.
    second = make_run(tmp_path / "second", video={**SMALL_VIDEO, "resolution": "96x96", "fps": 5, "duration": 2})
    for run in (first, second):
        assemble_run(run)
    out = make_compilation([Entry("First", first), Entry("Second", second)], tmp_path / "compilation.mp4")
    card = round(TITLE_SECONDS * 10)
    expected = card + 10 + card + 20
    info = ffprobe_video(out)
    assert info["codec_name"] == "h264" and info["profile"] == "High" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (128, 72) and info["r_frame_rate"] == "10/1"
    assert int(info["nb_read_frames"]) == expected and abs(info["duration"] - expected / 10) < 0.05
    frames = frames_of(out)
    # The title card: mostly background, bright text in the middle, the same for its whole length.
    title = frames[0].astype(np.int16)
    assert (np.abs(title - frames[card - 1]).max() < 12) and (title.max(-1) > 180).sum() > 30
    # Then the first timelapse itself, frame for frame (up to the encoder's losses).
    own = frames_of(first / "timelapse.mp4")
    for k in (0, 9):
        assert np.abs(frames[card + k].astype(np.int16) - own[k]).mean() < 6
    # The second: each of its 5 fps frames shown twice at 10 fps ...
    start = 2 * card + 10
    clip = [frame.astype(np.int16) for frame in frames[start:]]
    twice = [np.abs(clip[2 * k] - clip[2 * k + 1]).mean() for k in range(10)]
    steps = [np.abs(clip[2 * k] - clip[2 * k + 2]).mean() for k in range(4)]  # while the painting changes
    assert max(twice) < 1.0 < min(steps), (twice, steps)
    # ... and letterboxed: its square frame fitted into 128x72 between background bars.
    second_own = frames_of(second / "timelapse.mp4")
    shown = frames[start + 2]  # output frame 2 = source frame 1
    middle = shown[:, 28:100].astype(np.int16)
    fitted = np.asarray(Image.fromarray(second_own[1]).resize((72, 72), Image.Resampling.LANCZOS), dtype=np.int16)
    assert np.abs(middle - fitted).mean() < 10
    assert np.abs(shown[:, :20].astype(np.int16) - 16).max() < 12  # the side bars are the background


def test_the_batch_folder_table_and_results_work_without_torch_or_ray():
    modules = "folder, timelapse_nst.batch.table, timelapse_nst.batch.results, timelapse_nst.batch.local"
    code = f"import timelapse_nst.batch.{modules}, timelapse_nst.batch.command"
    assert torch_loaded_by(code, ("torch", "torchvision", "ray")) == []
