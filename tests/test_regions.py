"""A style per region, kept regions and paint that spreads, end to end (seeded random weights,
64 px): each region takes its own painting's style, a kept region stays the photo, a sweep paints
left before right, a stopped render resumes byte for byte, and bad region inputs are one line
before anything is written."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from conftest import ffprobe_video
from PIL import Image

from timelapse_nst import api
from timelapse_nst.assembly.pipeline import assemble_run
from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.guides import Guides
from timelapse_nst.engine.objective import Objective
from timelapse_nst.engine.tensors import to_tensor
from timelapse_nst.errors import UserError
from timelapse_nst.images import load_image, resize_long_edge, resize_style
from timelapse_nst.rendering.regions import colour_map
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings import presets
from timelapse_nst.settings.config import Layers

SIZE = 64  # tubingen at 64 px: 64 x 48


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, content_path, style_path):
    """The photo, two paintings of different colours (the second is the first with red and blue
    swapped), and masks of the left and right halves drawn at another size than the photo's."""
    folder = tmp_path_factory.mktemp("region-inputs")
    second = folder / "swapped.png"
    Image.fromarray(np.asarray(load_image(style_path))[..., ::-1].copy()).save(second)
    left = np.zeros((150, 200), np.uint8)
    left[:, :100] = 255
    Image.fromarray(left).save(folder / "left.png")
    Image.fromarray(255 - left).save(folder / "right.png")
    keep = np.zeros((48, 64), np.uint8)
    keep[16:32, 24:40] = 255  # a block in the middle
    Image.fromarray(keep).save(folder / "keep.png")
    return {"content": content_path, "a": style_path, "b": second, "folder": folder}


def config(*extra: str):
    return presets.resolve(
        "classic",
        overrides=[f"size={SIZE}", "capture.spacing=every", "checkpoint.every_iterations=4", *extra],
    )


def photo(content: Path) -> np.ndarray:
    return np.asarray(resize_long_edge(load_image(content), SIZE), dtype=np.float64)


def pixels(path: Path) -> np.ndarray:
    return np.asarray(load_image(path), dtype=np.float64)


# -- a style per region ------------------------------------------------------------------------


def test_each_region_takes_its_own_painting_s_style(tmp_path, inputs, random_vgg):
    """Style A's loss over region A (and B's over B) of a two-region render is far below the
    other painting's there, and close to what a render of the whole image in that style reaches."""
    settings = config("optimizer.iterations=40", "capture.every=1000")
    masks = [inputs["folder"] / "left.png", inputs["folder"] / "right.png"]
    kwargs = {"weights": "random", "make_video": False}
    api.render(
        inputs["content"], [inputs["a"], inputs["b"]], out=tmp_path / "two", config=settings, masks=masks, **kwargs
    )
    for name in ("a", "b"):
        api.render(inputs["content"], inputs[name], out=tmp_path / name, config=settings, **kwargs)

    layers = Layers()
    features = VGGFeatures(random_vgg, [*layers.content, *layers.style])
    content = to_tensor(resize_long_edge(load_image(inputs["content"]), SIZE))
    height, width = content.shape[-2:]
    half = torch.zeros(1, height, width)
    half[..., : width // 2] = 1.0
    regions = {"a": half, "b": 1.0 - half}

    def style_loss(image: Path, style: str, region: torch.Tensor | None) -> float:
        painting = to_tensor(resize_style(load_image(inputs[style]), (width, height), 1.0))
        guides = None if region is None else Guides(region, list(layers.style), (height, width))
        objective = Objective(features, layers, content, [painting], guides=guides)
        with torch.no_grad():
            acts = features(to_tensor(load_image(image)))
            return float(objective.style_from_grams(objective.image_grams(acts)))

    final = tmp_path / "two" / "final.png"
    for own, other in (("a", "b"), ("b", "a")):
        mine = style_loss(final, own, regions[own])
        assert mine < 0.1 * style_loss(final, other, regions[own])
        whole = style_loss(tmp_path / own / "final.png", own, None)
        assert mine == pytest.approx(whole, rel=0.5)


# -- kept, revealed, resumed ------------------------------------------------------------------

REVEALED = ["optimizer.iterations=30", "reveal.kind=left-to-right", "reveal.steps=10"]


def _render(inputs, out: Path, hooks=(), masks=("left.png", "right.png")) -> None:
    folder = inputs["folder"]
    api.render(
        inputs["content"],
        [inputs["a"], inputs["b"]],
        out=out,
        config=config(*REVEALED),
        weights="random",
        make_video=False,
        masks=[folder / name for name in masks],
        keep=folder / "keep.png",
        reveal="left-to-right",
        hooks=hooks,
    )


@pytest.fixture(scope="module")
def revealed(tmp_path_factory, inputs):
    """Two styles on two halves, a kept block, swept in from the left: 30 iterations, every one a frame."""
    out = tmp_path_factory.mktemp("revealed") / "run"
    _render(inputs, out)
    return out


def _distance(image: np.ndarray, reference: np.ndarray, columns: slice) -> float:
    return float(np.abs(image[:, columns] - reference[:, columns]).mean())


def test_a_sweep_paints_the_left_before_the_right_and_all_of_it_by_the_end(revealed, inputs):
    reference = photo(inputs["content"])
    left, right = slice(0, 21), slice(43, 64)
    frames = sorted((revealed / "frames").glob("*.png"))
    assert len(frames) == 31
    for frame in frames[8:15]:  # the middle of the sweep (it spans iterations 0..20)
        image = pixels(frame)
        assert _distance(image, reference, left) > 1.5 * _distance(image, reference, right), frame.name
    final = pixels(revealed / "final.png")
    painted = _distance(final, reference, left)
    assert painted > 8 and _distance(final, reference, right) > 0.5 * painted
    log = [json.loads(line) for line in (revealed / "log.jsonl").read_text().splitlines()]
    assert sum(entry["losses"]["style"] > 0 for entry in log) >= 25  # nothing painted before the front


def test_a_kept_region_stays_the_photo(revealed, inputs):
    reference = photo(inputs["content"])[16:32, 24:40]
    for path in [revealed / "final.png", *sorted((revealed / "frames").glob("*.png"))[::5]]:
        assert float(np.abs(pixels(path)[16:32, 24:40] - reference).max()) <= 2.0, path.name


def test_masks_and_a_reveal_resume_byte_for_byte(tmp_path, revealed, inputs):
    def ctrl_c(step):  # a real SIGINT mid-sweep
        if step.iteration == 13:
            os.kill(os.getpid(), signal.SIGINT)

    stopped = tmp_path / "stopped"
    with pytest.raises(api.Interrupted, match="after iteration 13 of 30"):
        _render(inputs, stopped, hooks=[ctrl_c])
    api.resume(stopped, make_video=False)

    def files(run: Path) -> dict[str, bytes]:
        names = ["final.png", "log.jsonl", *(f"frames/{p.name}" for p in sorted((run / "frames").glob("*.png")))]
        names += [f"inputs/{p.name}" for p in sorted((run / "inputs").iterdir())]
        return {name: (run / name).read_bytes() for name in names}

    assert files(stopped) == files(revealed)


def test_a_run_folder_refuses_the_same_render_with_other_masks(revealed, inputs):
    """The same photo, paintings and config with the masks swapped is another render: refused,
    naming the masks, and the folder it would have continued is left as it was."""
    before = {path: path.read_bytes() for path in sorted(revealed.rglob("*")) if path.is_file()}
    with pytest.raises(
        UserError, match=r"holds a different render: the masks \(left.png, right.png → right.png, left.png\)"
    ):
        _render(inputs, revealed, masks=("right.png", "left.png"))
    assert {path: path.read_bytes() for path in sorted(revealed.rglob("*")) if path.is_file()} == before


def test_the_video_shows_the_paint_spreading(tmp_path, revealed, inputs):
    """The timelapse of the sweep, painting alone at its own size, linear in time: its frames from
    the middle of the sweep are painted on the left before the right, its last one all over."""
    run = tmp_path / "run"
    shutil.copytree(revealed, run)
    video = assemble_run(
        run,
        overrides={"layout": "plain", "resolution": "64x48", "fps": 10, "duration": 3.1, "preset": "ultrafast"}
        | {"intro": 0, "hold": 0, "transition": 0, "pacing": "linear", "crossfade": False},
    )
    stream = ffprobe_video(video)
    assert (stream["codec_name"], stream["pix_fmt"], int(stream["nb_read_frames"])) == ("h264", "yuv420p", 31)
    reader = imageio_ffmpeg.read_frames(str(video))
    meta = next(reader)
    assert meta["size"] == (64, 48)
    frames = [np.frombuffer(raw, np.uint8).reshape(48, 64, 3).astype(np.float64) for raw in reader]
    reference = photo(inputs["content"])
    left, right = slice(0, 21), slice(43, 64)
    for number in range(8, 15):  # iterations 8..14 of 30: the middle of the sweep
        frame = frames[number]
        assert _distance(frame, reference, left) > 1.5 * _distance(frame, reference, right), number
    painted = _distance(frames[-1], reference, left)
    assert painted > 8 and _distance(frames[-1], reference, right) > 0.5 * painted


# -- bad input --------------------------------------------------------------------------------


def _bad_inputs(folder: Path) -> dict[str, Path]:
    black = folder / "black.png"
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(black)
    Image.fromarray(np.full((48, 64), 255, np.uint8)).save(folder / "white.png")
    not_an_image = folder / "notes.png"
    not_an_image.write_text("a sky mask, to be drawn")
    tiny = np.zeros((48, 64), np.uint8)
    tiny[4:10, 4:10] = 255
    Image.fromarray(tiny).save(folder / "tiny.png")
    purple = np.zeros((48, 64, 3), np.uint8)
    purple[:, :32] = (255, 0, 0)
    purple[:, 32:] = (0, 255, 0)
    purple[:20, 40:] = (128, 0, 128)
    Image.fromarray(purple).save(folder / "purple-map.png")
    (folder / "drawn.png").mkdir()  # a folder with an image's name
    named = {"black": black, "notes": not_an_image, "tiny": folder / "tiny.png", "map": folder / "purple-map.png"}
    return {**named, "white": folder / "white.png", "drawn": folder / "drawn.png"}


BAD = [
    ({"masks": ["left"]}, [], "--masks has 1 mask(s) for 2 style image(s)"),
    ({"masks": ["left", "black"]}, [], "mask 2 (black.png) is empty (all black)"),
    ({"masks": ["left", "right", "left"]}, [], "--masks has 3 mask(s) for 2 style image(s)"),
    ({"masks": ["left", "notes"]}, [], ("mask 2 of --masks: ", "notes.png' is not an image file")),
    ({"masks": ["drawn", "right"]}, [], ("mask 1 of --masks: ", "drawn.png' is a directory, not an image file")),
    ({"keep": "notes"}, [], ("--keep: ", "notes.png' is not an image file")),
    ({"masks": ["left", "right"], "regions": "map"}, [], "give --masks or --regions (a colour map), not both"),
    ({"regions": "map"}, ["regions.colors=[red, green, blue]"], "regions.colors has 3 colour(s) for 2 style image(s)"),
    ({"masks": ["left", "tiny"]}, [], "mask 2 (tiny.png) is too small for relu4_1 at 64 px"),
    ({"regions": "map"}, [], "colour map purple-map.png: #800080 (16% of it) matches no style"),
    ({"reveal": "diagonal"}, [], "--reveal diagonal: unknown kind; kinds: left-to-right"),
    ({"reveal": "left-to-right"}, ["reveal.between=[0.6, 0.2]"], "the reveal must end after it starts"),
    ({"keep": "white", "masks": ["left", "right"]}, [], "mask 1 (left.png) lies entirely under the keep mask"),
    ({}, ["reveal.kind=order"], "reveal kind order needs a grey paint-order image: --reveal FILE"),
    ({}, ["reveal.kind=regions"], "reveal kind regions reveals each style's region in turn: give --masks"),
    (
        {"masks": ["left", "right"]},
        ["reveal.kind=regions", "reveal.regions=[[0, 0.5]]"],
        "reveal.regions has 1 span(s) for 2 style image(s)",
    ),
    (
        {"masks": ["left", "right"]},
        ["reveal.kind=regions", "reveal.regions=[[0.5, 0.2], [0.2, 0.6]]"],
        "the reveal of region 1 must end after it starts",
    ),
]


@pytest.mark.parametrize(("given", "overrides", "expected"), BAD)
def test_bad_region_inputs_are_refused_before_anything_is_written(tmp_path, inputs, given, overrides, expected):
    files = {**_bad_inputs(tmp_path), **{n: inputs["folder"] / f"{n}.png" for n in ("left", "right")}}
    kwargs = {key: [files[n] for n in value] if key == "masks" else value for key, value in given.items()}
    for key in ("regions", "keep"):
        if key in kwargs:
            kwargs[key] = files[kwargs[key]]
    out = tmp_path / "run"
    with pytest.raises(UserError) as refused:
        api.render(
            inputs["content"],
            [inputs["a"], inputs["b"]],
            out=out,
            preset="classic",
            overrides=[f"size={SIZE}", *overrides],
            weights="random",
            **kwargs,
        )
    message = str(refused.value)
    fragments = (expected,) if isinstance(expected, str) else expected
    assert all(fragment in message for fragment in fragments) and "\n" not in message, message
    assert not out.exists()


def test_a_bad_mask_on_the_command_line_is_one_line_and_exit_2(tmp_path, inputs):
    black = _bad_inputs(tmp_path)["black"]
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "timelapse_nst",
        "render",
        str(inputs["content"]),
        str(inputs["a"]),
        str(inputs["b"]),
    ]
    masks = f"{inputs['folder'] / 'left.png'},{black}"  # both read: the second is the bad one
    command += ["--masks", masks, "--reveal", "center-out", "--weights", "random", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "mask 2 (black.png) is empty (all black)" in errors[0], result.stderr
    assert not out.exists()


# -- the colour map ---------------------------------------------------------------------------


def test_a_colour_map_and_a_paint_order_image_are_inputs_of_the_run(tmp_path, inputs):
    """--regions and --reveal FILE from Python: both copied into inputs/ and hashed, the reveal's
    kind recorded as order; the paint (dark first: the bottom) reaches the top last."""
    colours = np.zeros((30, 40, 3), np.uint8)
    colours[:, :20] = (255, 0, 0)
    colours[:, 20:] = (0, 255, 0)
    Image.fromarray(colours).save(tmp_path / "map.png")
    rows = np.linspace(255, 0, 48).astype(np.uint8)[:, None].repeat(64, axis=1)  # dark at the bottom
    Image.fromarray(rows).save(tmp_path / "order.png")
    out = tmp_path / "run"
    api.render(
        inputs["content"],
        [inputs["a"], inputs["b"]],
        out=out,
        config=config("optimizer.iterations=12"),
        weights="random",
        make_video=False,
        regions=tmp_path / "map.png",
        reveal=str(tmp_path / "order.png"),
    )
    manifest = RunFolder(out).read_manifest()
    assert manifest["config"]["reveal"]["kind"] == "order"
    for key, copy, source in (
        ("regions", "inputs/regions.png", "map.png"),
        ("paint_order", "inputs/paint-order.png", "order.png"),
    ):
        [entry] = manifest["inputs"][key]
        assert entry["file"] == copy and (out / copy).read_bytes() == (tmp_path / source).read_bytes()
    reference = photo(inputs["content"])
    middle = pixels(out / "frames" / "000004.png")
    assert _distance_rows(middle, reference, slice(32, 48)) > 2 * _distance_rows(middle, reference, slice(0, 16))


def _distance_rows(image: np.ndarray, reference: np.ndarray, rows: slice) -> float:
    return float(np.abs(image[rows] - reference[rows]).mean())


def test_a_colour_map_gives_a_mask_per_style_despite_noise_and_soft_edges():
    rng = np.random.default_rng(0)
    pixels = np.zeros((40, 60, 3), np.float64)
    pixels[:, :30] = (255, 0, 0)
    pixels[:, 30:] = (0, 255, 0)
    pixels[:, 29] = (128, 128, 0)  # an anti-aliased edge column
    pixels[:10, :10] = 0  # black: no style
    noisy = (pixels + rng.integers(-12, 12, pixels.shape)).clip(0, 255).astype(np.uint8)  # JPEG-like
    red, green = colour_map(Image.fromarray(noisy), ("#ff0000", "#00ff00"), "map.png")
    assert red[:, 10:29].min() == 1 and red[:, 30:].max() == 0 and red[:10, :10].max() == 0
    assert green[:, 30:].min() == 1 and green[:, :29].max() == 0
    with pytest.raises(UserError, match=r"map\.png has no #0000ff region"):
        colour_map(Image.fromarray(noisy), ("#ff0000", "#00ff00", "#0000ff"), "map.png")
