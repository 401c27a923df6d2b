"""The notebook view, with a stand-in for IPython's display (same calls, records what it shows)."""

from __future__ import annotations

import io
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_image
from PIL import Image
from runfolder_factory import make_run

from timelapse_nst import api
from timelapse_nst.engine.loop import Step
from timelapse_nst.errors import UserError
from timelapse_nst.preview import open_preview
from timelapse_nst.preview.notebook import NotebookView, Picture
from timelapse_nst.preview.state import Ending, PreviewState
from timelapse_nst.preview.tracker import Tracker


class StandInHandle:
    def __init__(self, obj: object) -> None:
        self.shown = [obj]

    def update(self, obj: object) -> None:
        self.shown.append(obj)


class StandInDisplay:
    """``IPython.display.display`` as the view uses it: display(obj, display_id=True) -> handle."""

    def __init__(self) -> None:
        self.handles: list[StandInHandle] = []

    def __call__(self, obj: object, *, display_id: bool = False) -> StandInHandle:
        assert display_id is True, "every output must be updatable in place"
        self.handles.append(StandInHandle(obj))
        return self.handles[-1]

    @property
    def image(self) -> StandInHandle:
        return self.handles[0]

    @property
    def line(self) -> StandInHandle:
        return self.handles[1]


def pixels(picture: Picture) -> np.ndarray:
    assert picture._repr_jpeg_()[:2] == b"\xff\xd8"  # IPython shows it as image/jpeg
    return np.asarray(Image.open(io.BytesIO(picture._repr_jpeg_())).convert("RGB"), dtype=np.float32)


def difference(picture: Picture, path: Path) -> float:
    """Mean absolute difference (0..255) between a shown picture and an image file."""
    return float(np.abs(pixels(picture) - np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)).mean())


def step(iteration: int, style: float) -> Step:
    losses = {"content": 1.5, "style": style, "tv": 0.25, "total": 1.75 + style}
    return Step(iteration, 8, 0, torch.zeros(1, 3, 2, 2), losses)


def test_updates_carry_the_newest_frame_and_losses_and_only_when_they_change(tmp_path: Path):
    run = make_run(tmp_path / "run", iterations=(0, 2, 4, 6, 8), total_iterations=8, log=False)
    frames = sorted((run / "frames").iterdir())
    for frame in frames[1:]:
        frame.rename(frame.with_suffix(".hidden"))  # not captured yet
    tracker = Tracker(lambda i, total: i % 2 == 0)
    display = StandInDisplay()
    view = NotebookView(PreviewState(run, tracker), display=display, interval=3600)  # updates only when asked
    try:
        assert difference(display.image.shown[0], run / "inputs" / "content.jpg") < 6  # the photo, before any frame
        assert display.line.shown[0].text.startswith("starting")
        for i in range(1, 5):
            tracker(step(i, style=1000.0 / i))
        (run / "frames" / "000002.hidden").rename(run / "frames" / "000002.png")  # 4 is still being written
        view.refresh()
        assert difference(display.image.shown[-1], run / "frames" / "000002.png") < 6
        assert difference(display.image.shown[-1], run / "frames" / "000000.png") > 10  # really another picture
        assert "iteration 4/8" in display.line.shown[-1].text and "style 250 " in display.line.shown[-1].text
        updates = (len(display.image.shown), len(display.line.shown))
        view.refresh()
        assert (len(display.image.shown), len(display.line.shown)) == updates  # nothing new: nothing sent
        (run / "frames" / "000004.hidden").rename(run / "frames" / "000004.png")
        tracker(step(5, style=123.4))
        view.refresh()
        assert difference(display.image.shown[-1], run / "frames" / "000004.png") < 6
        assert "iteration 5/8" in display.line.shown[-1].text and "style 123.4" in display.line.shown[-1].text
        assert "<pre" in display.line.shown[-1]._repr_html_()
    finally:
        view.close()


def test_a_real_render_in_a_notebook_ends_on_the_painting_and_its_last_losses(tmp_path, monkeypatch):
    """Through ``render(preview="notebook")``, with the stand-in installed as IPython.display."""
    display = StandInDisplay()
    ipython = types.ModuleType("IPython")
    ipython.display = types.ModuleType("IPython.display")  # type: ignore[attr-defined]
    ipython.display.display = display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", ipython.display)  # type: ignore[attr-defined]
    photo = make_image(tmp_path / "photo.png", (64, 48), seed=1)
    painting = make_image(tmp_path / "painting.png", (40, 40), seed=2)
    result = api.render(
        photo,
        painting,
        out=tmp_path / "run",
        preset="quick-preview",
        overrides=["size=64", "optimizer.iterations=12"],
        weights="random",
        make_video=False,
        preview="notebook",
    )
    assert len(display.handles) == 2  # one image and one line, updated in place
    assert display.image.shown[-1].caption == "final.png"
    assert difference(display.image.shown[-1], result.final) < 6  # JPEG of a noisy 64 px image: ~4
    between = display.image.shown[1:-1]  # the photo (until the first frame), then ever newer frames
    photos = [picture for picture in between if picture.caption.startswith("content")]
    frames = [picture for picture in between if not picture.caption.startswith("content")]
    assert between == photos + frames and len(photos) <= 1
    assert [p.caption for p in frames] == sorted(p.caption for p in frames)
    for picture in photos:
        assert difference(picture, result.run / "inputs" / picture.caption) < 6
    for picture in frames:
        assert difference(picture, result.run / "frames" / picture.caption) < 6
    last = json.loads((result.run / "log.jsonl").read_text().splitlines()[-1])
    text = display.line.shown[-1].text
    assert text.startswith("done: iteration 12/12")
    for name, value in last["losses"].items():
        assert f"{name} {value:.4g}" in text


def test_without_ipython_the_notebook_view_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    with pytest.raises(UserError) as error:
        api.render("photo.jpg", "painting.jpg", out=tmp_path / "run", preview="notebook")
    assert "pip install ipython" in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_outside_jupyter_the_notebook_view_says_where_it_works(tmp_path):
    run = make_run(tmp_path / "run")
    outside = lambda obj, display_id: None  # noqa: E731 -- IPython's display outside a kernel returns None
    with (
        pytest.raises(UserError, match="inside Jupyter"),
        open_preview("notebook", run, is_frame=lambda i, t: True, display=outside),
    ):
        pass


def test_a_stopped_render_says_so_in_the_line(tmp_path):
    run = make_run(tmp_path / "run", iterations=(0, 2), total_iterations=8)
    state = PreviewState(run, Tracker(lambda i, total: True))
    display = StandInDisplay()
    view = NotebookView(state, display=display, interval=3600)
    state.finish(Ending(video=False, error="stopped after iteration 2 of 8 (checkpoint saved)"))
    view.end()
    assert display.line.shown[-1].text.startswith("stopped: iteration 8/8")
    assert display.line.shown[-1].text.endswith("stopped after iteration 2 of 8 (checkpoint saved)")


class ClosedHandle(StandInHandle):
    """A handle whose output has gone (the kernel's connection to the page closed)."""

    def update(self, obj: object) -> None:
        raise ConnectionError("the output channel is closed")


def test_a_display_that_fails_stops_the_view_and_the_log_says_why(tmp_path: Path, caplog):
    import logging
    import time

    run = make_run(tmp_path / "run", iterations=(0, 2), total_iterations=8, log=False)
    tracker = Tracker(lambda i, total: i % 2 == 0)

    def closed(obj: object, *, display_id: bool = False) -> StandInHandle:
        return ClosedHandle(obj)

    caplog.set_level(logging.WARNING, logger="timelapse_nst.preview.notebook")
    view = NotebookView(PreviewState(run, tracker), display=closed, interval=0.01)
    try:
        tracker(step(2, style=5.0))  # something to show: the next update is tried, and fails
        while not caplog.records:  # pytest-timeout ends a view that never gives up
            time.sleep(0.01)
        (record,) = caplog.records
        assert record.getMessage() == (
            "the notebook preview stopped updating (ConnectionError: the output channel is closed); the render goes on"
        )
    finally:
        view.close()
