"""The preview's hook (Tracker) and the page state it feeds (PreviewState), without a server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from runfolder_factory import make_run

from timelapse_nst.engine.loop import Step
from timelapse_nst.preview.state import Ending, PreviewState
from timelapse_nst.preview.tracker import Tracker, newest_frame
from timelapse_nst.runfolder.folder import RunFolder

IMAGE = torch.zeros(1, 3, 4, 4)


def step(iteration: int, total: int = 10, losses: dict[str, float] | None = None) -> Step:
    if iteration == 0:
        return Step(0, total, 0, IMAGE)  # the initial image: no losses yet
    values = losses or {"content": 10.0 / iteration, "style": 100.0 / iteration, "tv": 1.0, "total": 111.0}
    return Step(iteration, total, 0, IMAGE, values)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_tracker_keeps_the_latest_step_the_loss_history_and_the_captured_frames():
    clock = Clock()
    tracker = Tracker(lambda i, total: i % 3 == 0, clock=clock)
    assert tracker.progress().iteration is None and tracker.first_iteration is None
    for i in range(8):
        tracker(step(i))
        clock.now += 0.5  # two iterations a second
    progress = tracker.progress()
    assert (progress.iteration, progress.total, progress.first_iteration) == (7, 10, 0)
    assert progress.names == ("content", "style", "tv", "total")
    assert [p[0] for p in progress.points] == [1, 2, 3, 4, 5, 6, 7]  # iteration 0 has no losses
    assert progress.points[3] == (4, 2.5, 25.0, 1.0, 111.0) == tracker.progress(3).points[0]
    assert progress.latest == progress.points[-1]
    assert progress.frames == (0, 3, 6)
    assert progress.rate == pytest.approx(2.0)
    assert progress.seconds_since_step == pytest.approx(0.5)
    later = tracker.progress(5)
    assert later.start == 5 and [p[0] for p in later.points] == [6, 7]
    assert tracker.progress(99).points == [] and tracker.progress(99).start == 7


def test_the_tracker_hook_copies_numbers_only():
    """It must not keep the image (a view of the live tensor) nor the caller's dict."""
    tracker = Tracker(lambda i, total: True)
    losses = {"content": 1.0, "style": 2.0, "tv": 3.0, "total": 6.0}
    tracker(Step(1, 5, 0, torch.ones(1, 3, 4, 4), losses))
    losses["total"] = -1.0
    assert tracker.progress().points == [(1, 1.0, 2.0, 3.0, 6.0)]
    assert not any(isinstance(value, torch.Tensor) for value in vars(tracker).values())


def test_newest_frame_is_the_newest_one_already_on_disk(tmp_path: Path):
    run = RunFolder(tmp_path)
    run.frames.mkdir()
    run.frame_path(3).write_bytes(b"png")
    assert newest_frame(run, (0, 3, 6), fallback=None) == 3  # 6 is still in the writer's queue
    run.frame_path(6).write_bytes(b"png")
    assert newest_frame(run, (0, 3, 6), fallback=None) == 6
    assert newest_frame(run, (9,), fallback=6) == 6
    assert newest_frame(run, (), fallback=None) is None


def test_the_state_shows_a_render_from_start_to_finish(tmp_path: Path):
    run = make_run(tmp_path / "run", iterations=(0,), total_iterations=10, log=False, final=False)
    tracker = Tracker(lambda i, total: i % 2 == 0)
    state = PreviewState(run, tracker)
    first = state.snapshot()
    assert first["phase"] == "starting" and first["iteration"] is None and first["total"] == 10
    assert first["frame"] == 0  # found on disk at start
    assert [(i["role"], i["name"], i["url"]) for i in first["inputs"]] == [
        ("photo", "photo.jpg", "inputs/content.jpg"),
        ("painting", "sun.png", "inputs/style.png"),
    ]
    for i in range(0, 5):
        tracker(step(i))
    (run / "frames" / "000004.png").write_bytes((run / "frames" / "000000.png").read_bytes())
    middle = state.snapshot()
    assert (middle["phase"], middle["iteration"], middle["frame"]) == ("painting", 4, 4)
    assert middle["losses"] == {"start": 0, "points": [list(p) for p in tracker.progress().points], "series": 0}
    assert middle["latest"] == [4, 2.5, 25.0, 1.0, 111.0]
    assert middle["video"] is None and middle["final"] is None
    assert state.snapshot(3)["losses"]["start"] == 3 and len(state.snapshot(3)["losses"]["points"]) == 1
    for i in range(5, 11):
        tracker(step(i))
    assert state.snapshot()["phase"] == "finishing"  # painted: final.png and the video are being made
    json.dumps(state.snapshot(), allow_nan=False)  # valid JSON for the page


def test_the_state_of_a_resumed_render_starts_with_the_logged_history(tmp_path: Path):
    run = make_run(tmp_path / "run", iterations=(0, 1, 2, 3), total_iterations=8)  # log lines 1..8
    tracker = Tracker(lambda i, total: True)
    state = PreviewState(run, tracker)
    assert state.snapshot()["losses"]["points"] == []  # nothing before the first step (the log may be cut back)
    tracker(step(4, 8, {"content": 1.0, "style": 2.0, "tv": 3.0, "total": 6.0}))  # resumed after iteration 3
    snapshot = state.snapshot()
    points = snapshot["losses"]["points"]
    assert [p[0] for p in points] == [1, 2, 3, 4]  # log lines 4..8 were the killed run's: not shown
    assert snapshot["names"] == ["content", "style", "tv", "total"]
    logged = json.loads((run / "log.jsonl").read_text().splitlines()[0])["losses"]
    assert points[0][1:] == [logged[name] for name in snapshot["names"]]
    assert points[3][1:] == [1.0, 2.0, 3.0, 6.0]
    assert state.snapshot(2)["losses"] == {"start": 2, "points": points[2:], "series": 0}
    assert state.snapshot(4)["losses"] == {"start": 4, "points": [], "series": 0}


def test_an_already_finished_render_shows_its_log_its_painting_and_its_video(tmp_path: Path):
    run = make_run(tmp_path / "run", iterations=(0, 4), total_iterations=4)
    (run / "timelapse.mp4").write_bytes(b"not really a video")
    state = PreviewState(run, Tracker(lambda i, total: True))
    state.finish(Ending(video=True))
    snapshot = state.snapshot()
    assert (snapshot["phase"], snapshot["iteration"], snapshot["frame"]) == ("done", 4, 4)
    assert len(snapshot["losses"]["points"]) == 4
    assert snapshot["final"] == "final.png"
    assert snapshot["video"].startswith("timelapse.mp4?v=")


def test_a_stopped_render_says_why_and_offers_no_video(tmp_path: Path):
    run = make_run(tmp_path / "run", iterations=(0,), total_iterations=4)
    (run / "timelapse.mp4").write_bytes(b"an older video")
    state = PreviewState(run, Tracker(lambda i, total: True))
    state.finish(Ending(video=False, error="stopped after iteration 2 of 4 (checkpoint saved)"))
    snapshot = state.snapshot()
    assert snapshot["phase"] == "stopped" and snapshot["video"] is None
    assert snapshot["message"] == "stopped after iteration 2 of 4 (checkpoint saved)"


def test_the_inputs_are_listed_with_their_own_names_once_render_yaml_names_them(tmp_path: Path):
    run = make_run(tmp_path / "run")
    manifest = (run / "render.yaml").read_bytes()
    (run / "render.yaml").unlink()  # a new render copies its inputs first, then writes render.yaml
    state = PreviewState(run, Tracker(lambda i, total: True))
    assert state.snapshot()["inputs"] == []
    (run / "render.yaml").write_bytes(manifest)
    assert [entry["name"] for entry in state.snapshot()["inputs"]] == ["photo.jpg", "sun.png"]
    assert state.input_file("content.jpg") == run / "inputs" / "content.jpg"
    assert state.input_file("other.jpg") is None


def test_several_paintings_are_listed_in_render_yaml_order_and_only_they_are_served(tmp_path: Path):
    run = make_run(tmp_path / "run")
    manifest = yaml.safe_load((run / "render.yaml").read_text())
    first = manifest["inputs"]["styles"][0]
    (run / "inputs" / "style.png").rename(run / "inputs" / "style-2.png")
    (run / "inputs" / "style-1.png").write_bytes((run / "inputs" / "style-2.png").read_bytes())
    manifest["inputs"]["styles"] = [
        {**first, "file": "inputs/style-2.png", "name": "wave.png"},
        {**first, "file": "inputs/style-1.png", "name": "starry.png"},
        {**first, "file": "../outside.png", "name": "escape.png"},  # never followed out of the folder
    ]
    (tmp_path / "outside.png").write_bytes(b"not yours")
    (run / "render.yaml").write_text(yaml.safe_dump(manifest))
    state = PreviewState(run, Tracker(lambda i, total: True))
    assert [(i["role"], i["name"], i["url"]) for i in state.inputs()] == [
        ("photo", "photo.jpg", "inputs/content.jpg"),
        ("painting", "wave.png", "inputs/style-2.png"),
        ("painting", "starry.png", "inputs/style-1.png"),
    ]
    assert state.input_file("style-1.png") == run / "inputs" / "style-1.png"
    assert state.input_file("outside.png") is None
