"""Themes: the gallery look (frames, matte, shadow, wall) and the untouched flat default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import decode
from PIL import Image
from runfolder_factory import make_run, painting_of, photo

from timelapse_nst.assembly import assemble_run, layouts, themes
from timelapse_nst.assembly.comparison import Comparison
from timelapse_nst.settings.video import VideoSettings

PAINTING = painting_of(photo((96, 72)))
INPUTS = layouts.Inputs(
    content=photo((96, 72)),
    styles=(Image.new("RGB", (40, 50), (20, 60, 160)),),
    content_name="photo.jpg",
    style_names=("sun.png",),
    title="A title",
    total_iterations=100,
)


def pixels(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, width, height = box
    return np.asarray(image.crop((left, top, left + width, top + height)), np.int16)


@pytest.mark.parametrize(("name", "size"), [("showcase", (640, 360)), ("shorts", (360, 640)), ("showcase", (160, 90))])
def test_gallery_frames_hold_the_painting_inside_a_matte_on_a_wall(name: str, size: tuple[int, int]) -> None:
    layout = layouts.make_layout(name, size, "#101010", INPUTS, PAINTING.size, theme="gallery")
    fitted = PAINTING.resize(layout.fit(PAINTING.size))
    frame = layout.frame(fitted, 50)

    assert frame.size == size and frame.mode == "RGB"
    box = layout.painting_box
    assert abs(fitted.width - box[2]) <= 1 and abs(fitted.height - box[3]) <= 1  # fit() rounds
    at = (box[0] + (box[2] - fitted.width) // 2, box[1] + (box[3] - fitted.height) // 2)
    assert np.array_equal(pixels(frame, (*at, *fitted.size)), np.asarray(fitted, np.int16))  # untouched
    border = layout.theme.border(layout._scale)
    assert border > 0
    # Inside the frame, around the opening: the warm white matte.
    matte = pixels(frame, (box[0], box[1] - border // 2, box[2], 1))
    assert matte.mean() > 200 and np.ptp(matte.mean(axis=-1)) < 12
    # Everything stays on the canvas: the frame with its border fits in the picture.
    assert box[0] - border >= 0 and box[1] - border >= 0
    assert box[0] + box[2] + border <= size[0] and box[1] + box[3] + border <= size[1]


def test_gallery_wall_is_lit_from_above_and_textured() -> None:
    wall = np.asarray(themes.Gallery().wall((640, 360), "#101010"), np.float32)
    top_centre, bottom_corner = wall[20:60, 280:360].mean(), wall[320:360, 0:40].mean()
    assert top_centre > bottom_corner + 15  # a pool of warm light, darker towards the corners
    assert (wall[..., 0] >= wall[..., 2]).mean() > 0.95  # warm: red over blue
    assert wall[100:140, 300:340].std() > 0.5  # plaster, not a flat fill that bands in video
    assert np.array_equal(wall, np.asarray(themes.Gallery().wall((640, 360), "#101010"), np.float32))  # same wall


def test_gallery_frame_casts_a_shadow_below_not_above() -> None:
    canvas = Image.new("RGB", (400, 400), (120, 120, 120))
    themes.Gallery().frame(canvas, (150, 150, 100, 100), 1.0)
    border = themes.Gallery().border(1.0)
    grey = np.asarray(canvas, np.int16)[..., 0]
    below, above = grey[250 + border + 6, 200], grey[150 - border - 6, 200]
    assert below < above - 10 and above > 100


def test_a_video_frame_costs_a_copy_and_a_paste_not_a_redraw() -> None:
    layout = layouts.make_layout("showcase", (640, 360), "#101010", INPUTS, PAINTING.size, theme="gallery")
    calls: list[str] = []
    layout.theme.wall = lambda *args: calls.append("wall")  # type: ignore[method-assign]
    layout.theme.frame = lambda *args: calls.append("frame")  # type: ignore[method-assign]
    fitted = PAINTING.resize(layout.fit(PAINTING.size))
    for iteration in range(3):
        layout.frame(fitted, iteration)
    layout.intro()
    assert calls == []


def test_gallery_intro_waits_with_a_blank_canvas_in_the_frame() -> None:
    layout = layouts.make_layout("showcase", (640, 360), "#101010", INPUTS, PAINTING.size, theme="gallery")
    blank = pixels(layout.intro(), layout.painting_box)
    assert np.all(blank == np.array(themes.Gallery.placeholder, np.int16))


@pytest.mark.parametrize("mode", ["wipe", "side-by-side"])
def test_gallery_outro_frames_the_pictures(mode: str) -> None:
    comparison = Comparison((640, 360), "#101010", photo((96, 72)), PAINTING, mode, theme="gallery")
    image = comparison.frame(0.25)
    assert image.size == (640, 360)
    corner = np.asarray(image, np.int16)[:8, :8]
    assert corner.std() > 0 or corner.mean() > 30  # the wall, not the flat #101010
    assert (np.asarray(image, np.int16).mean(axis=-1) > 200).sum() > 2000  # a matte around each picture


def test_flat_is_the_default_and_draws_no_frames() -> None:
    assert VideoSettings().theme == "flat"
    default = layouts.make_layout("showcase", (640, 360), "#203040", INPUTS, PAINTING.size)
    flat = layouts.make_layout("showcase", (640, 360), "#203040", INPUTS, PAINTING.size, theme="flat")
    fitted = PAINTING.resize(default.fit(PAINTING.size))
    assert default.painting_box == flat.painting_box
    assert default.frame(fitted, 10).tobytes() == flat.frame(fitted, 10).tobytes()
    # Straight on the background colour: no wall, no matte, no shadow.
    assert np.all(np.asarray(default.frame(fitted, 10))[-4:, :] == (0x20, 0x30, 0x40))
    left, top, width, _ = default.painting_box
    edge = np.asarray(default.frame(fitted, 10), np.int16)[top - 3, left : left + width]
    assert np.all(edge == (0x20, 0x30, 0x40))
    comparison = Comparison((640, 360), "#203040", photo((96, 72)), PAINTING, "wipe")
    assert tuple(np.asarray(comparison.frame(0.0))[0, 0]) == (0x20, 0x30, 0x40)


def test_assemble_with_the_gallery_theme(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    video = {"layout": "showcase", "theme": "gallery", "resolution": "640x360", "duration": 1.5}
    path = assemble_run(run, overrides={**video, "intro": 0.3, "hold": 0.5, "fps": 10, "preset": "ultrafast"})
    frame = decode(path, seek=("-ss", "1.35"), frames=1).reshape(360, 640, 3).astype(np.float32)
    layout = layouts.make_layout("showcase", (640, 360), "#101010", INPUTS, (64, 48), theme="gallery")
    left, top, width, height = layout.painting_box
    shown = Image.fromarray(frame[top : top + height, left : left + width].astype(np.uint8)).resize((64, 48))
    final = np.asarray(Image.open(run / "final.png"), np.float32)
    assert np.abs(np.asarray(shown, np.float32) - final).mean() < 10  # the painting, in its frame
    assert frame[:10, 300:340].mean() > 40  # the lit wall, not the #101010 background
