"""render(..., publish=True) and the `final:` options through a real (tiny, random-weight) render."""

from __future__ import annotations

import functools
import struct
from pathlib import Path

from conftest import FAST_VIDEO, ffprobe_video
from PIL import Image

from timelapse_nst import render

SMALL = ["size=48", "optimizer.iterations=4", *FAST_VIDEO]
paint = functools.partial(render, preset="quick-preview", weights="random")


def bit_depth(path: Path) -> int:
    data = path.read_bytes()
    assert data[12:16] == b"IHDR"
    return struct.unpack(">B", data[24:25])[0]


def test_render_publishes_and_rewrites_final_png_when_its_format_changes(tmp_path, content_path, style_path):
    run, notes = tmp_path / "run", []
    credit = "Vincent van Gogh, The Starry Night"
    result = paint(content_path, style_path, out=run, overrides=SMALL, publish=True, credit=credit, notify=notes.append)
    names = {path.name for path in result.published}
    assert names == {"timelapse.mp4", "thumbnail.jpg", "loop.mp4", "loop.gif", "description.txt"}
    assert ffprobe_video(run / "loop.mp4")["duration"] <= 10
    assert "Vincent van Gogh, The Starry Night" in (run / "description.txt").read_text(encoding="utf-8")
    assert bit_depth(run / "final.png") == 8
    with Image.open(run / "final.png") as final:
        assert "icc_profile" in final.info
    frames = sorted((run / "frames").iterdir())
    stamps = [path.stat().st_mtime_ns for path in frames]

    # The same render with 16-bit final.png asked for: not repainted, final.png written anew.
    notes.clear()
    paint(content_path, style_path, out=run, overrides=[*SMALL, "final.bit_depth=16"], notify=notes.append)
    assert any("already complete" in note for note in notes)
    assert [path.stat().st_mtime_ns for path in sorted((run / "frames").iterdir())] == stamps
    assert bit_depth(run / "final.png") == 16
    with Image.open(run / "final.png") as final:
        assert final.size == (48, 36) and "icc_profile" in final.info


def test_a_rerun_after_publish_keeps_its_title_credits_and_tags(tmp_path, content_path, style_path):
    """render; publish --title --credit; the same render again: continued, nothing published is lost."""
    import yaml

    from timelapse_nst.publish import publish_run
    from timelapse_nst.publish.metadata import read_video

    run = tmp_path / "run"
    again = {"out": run, "preset": "quick-preview", "overrides": SMALL, "weights": "random"}
    render(content_path, style_path, **again)
    publish_run(run, title="My Title", credit="Painter P")
    published = {name: (run / name).read_bytes() for name in ("timelapse.mp4", "render.yaml", "description.txt")}
    notes = []
    result = render(content_path, style_path, **again, notify=notes.append)
    assert any("continuing it" in note for note in notes) and any("up to date" in note for note in notes)
    config = yaml.safe_load((run / "render.yaml").read_text(encoding="utf-8"))["config"]
    assert config["video"]["title"] == "My Title" and config["credits"]["painting"] == ["Painter P"]
    assert {name: (run / name).read_bytes() for name in published} == published  # not re-encoded, not rewritten
    tags = read_video(result.video).tags
    assert tags["title"] == "My Title" and "Painter P" in tags["description"] and "creation_time" in tags

    # A title given anew wins; the credit nobody changed stays.
    render(content_path, style_path, **{**again, "overrides": [*SMALL, "video.title=Second"]})
    config = yaml.safe_load((run / "render.yaml").read_text(encoding="utf-8"))["config"]
    assert config["video"]["title"] == "Second" and config["credits"]["painting"] == ["Painter P"]
    assert read_video(run / "timelapse.mp4").tags["title"] == "Second"
