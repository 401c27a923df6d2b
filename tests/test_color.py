"""Colour control (color.py and the objective's colour modes): luminance-only transfer keeps the
photo's chroma, the histogram mode recolours the painting to the photo's statistics, and the
amount of colour kept can follow a schedule."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from timelapse_nst import api
from timelapse_nst.engine.color import gray, luminance, match_color, rgb_to_ycbcr, with_chroma_of, ycbcr_to_rgb
from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.objective import Objective, Scheduled
from timelapse_nst.engine.tensors import to_tensor
from timelapse_nst.errors import UserError
from timelapse_nst.images import load_image, resize_long_edge
from timelapse_nst.settings import presets
from timelapse_nst.settings.config import Layers

SAMPLES = [("tubingen.jpg", "starry_night.jpg")]


def picture(path, size=96) -> torch.Tensor:
    return to_tensor(resize_long_edge(load_image(path), size))


def moments(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = image.flatten(2)[0].double()
    return pixels.mean(1), torch.cov(pixels, correction=0)


def test_ycbcr_round_trip_and_luminance():
    image = torch.rand(1, 3, 8, 8) * 255
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(image)), image, atol=1e-3, rtol=0)
    torch.testing.assert_close(rgb_to_ycbcr(image)[:, :1], luminance(image))
    grey = torch.full((1, 3, 2, 2), 77.0)
    torch.testing.assert_close(rgb_to_ycbcr(grey)[:, 1:], torch.full((1, 2, 2, 2), 128.0))


def test_histogram_match_gives_the_photo_s_mean_and_covariance(content_path, style_path):
    photo, painting = picture(content_path), picture(style_path)
    matched = match_color(painting, photo)
    (mean_m, cov_m), (mean_p, cov_p) = moments(matched), moments(photo)
    _, cov_s = moments(painting)
    assert torch.linalg.norm(cov_s - cov_p) / torch.linalg.norm(cov_p) > 0.2  # they really differed
    assert float((mean_m - mean_p).abs().max() / mean_p.abs().max()) < 0.02
    assert float(torch.linalg.norm(cov_m - cov_p) / torch.linalg.norm(cov_p)) < 0.02
    assert matched.shape == painting.shape and matched.min() >= 0 and matched.max() <= 255


def test_chroma_amount_blends_between_the_image_and_the_photo():
    image, photo = torch.rand(1, 3, 6, 6) * 255, torch.rand(1, 3, 6, 6) * 255
    full = rgb_to_ycbcr(with_chroma_of(image, photo, 1.0))
    half = rgb_to_ycbcr(with_chroma_of(image, photo, 0.5))
    torch.testing.assert_close(full[:, 1:], rgb_to_ycbcr(photo)[:, 1:], atol=1e-3, rtol=0)
    torch.testing.assert_close(full[:, :1], luminance(image), atol=1e-3, rtol=0)  # the image's own luminance
    expected = 0.5 * rgb_to_ycbcr(photo)[:, 1:] + 0.5 * rgb_to_ycbcr(image)[:, 1:]
    torch.testing.assert_close(half[:, 1:], expected, atol=1e-3, rtol=0)
    assert torch.equal(with_chroma_of(image, photo, 0.0), image)


def test_in_luminance_mode_the_style_sees_no_colour(random_vgg, content_path, style_path):
    """At amount 1 the network sees luminance only: changing the image's chroma changes no loss but TV."""
    layers = Layers()
    features = VGGFeatures(random_vgg, [*layers.content, *layers.style])
    photo, painting = picture(content_path, 64), picture(style_path, 64)
    objective = Objective(features, layers, photo, [painting], color="luminance")
    image = torch.rand_like(photo) * 200 + 20
    recoloured = ycbcr_to_rgb(torch.cat([rgb_to_ycbcr(image)[:, :1], torch.rand_like(image[:, 1:]) * 60 + 98], 1))
    weights = Scheduled(1e5, 3e4, 1.0, color=1.0)
    a, b = objective.parts(image, weights), objective.parts(recoloured, weights)
    assert a["content"].item() == pytest.approx(b["content"].item(), rel=1e-4)
    assert a["style"].item() == pytest.approx(b["style"].item(), rel=1e-4)
    # ... while with the colour fully flowing in (amount 0) the chroma matters again.
    c, d = (
        objective.parts(image, Scheduled(1e5, 3e4, 1.0, color=0.0)),
        objective.parts(recoloured, Scheduled(1e5, 3e4, 1.0, color=0.0)),
    )
    assert abs(c["style"].item() - d["style"].item()) > 1e-3 * c["style"].item()
    assert torch.equal(gray(image)[:, 0], gray(image)[:, 2])


def test_a_luminance_render_keeps_the_photo_s_chroma(tmp_path, content_path, style_path):
    """final.png's Cb and Cr equal the photo's within one level on average (docs/colour.md's measure)."""
    config = presets.resolve(
        "classic", overrides=["size=64", "optimizer.iterations=8", "color.preserve=luminance", "capture.spacing=every"]
    )
    run = tmp_path / "run"
    api.render(content_path, style_path, out=run, config=config, weights="random", make_video=False)
    final = to_tensor(load_image(run / "final.png"))
    photo = to_tensor(resize_long_edge(load_image(content_path), 64))
    difference = (rgb_to_ycbcr(final)[:, 1:] - rgb_to_ycbcr(photo)[:, 1:]).abs().mean()
    assert difference <= 1.0, float(difference)
    # The painting did change: its luminance moved away from the photo's.
    assert (luminance(final) - luminance(photo)).abs().mean() > 1.0


def test_a_colour_schedule_lets_the_painting_s_colours_flow_in(tmp_path, content_path, style_path):
    config = presets.resolve(
        "classic",
        overrides=[
            "size=64",
            "optimizer.iterations=10",
            "color.preserve=luminance",
            "color.amount={schedule: linear, start: 1, end: 0}",
            "capture.spacing=every",
        ],
    )
    run = tmp_path / "run"
    api.render(content_path, style_path, out=run, config=config, weights="random", make_video=False)
    photo = to_tensor(resize_long_edge(load_image(content_path), 64))

    def chroma_gap(iteration: int) -> float:
        with Image.open(run / "frames" / f"{iteration:06d}.png") as frame:
            image = torch.from_numpy(np.asarray(frame, dtype=np.float32)).permute(2, 0, 1)[None]
        return float((rgb_to_ycbcr(image)[:, 1:] - rgb_to_ycbcr(photo)[:, 1:]).abs().mean())

    assert chroma_gap(0) <= 1.0  # opens in the photo's colours
    assert chroma_gap(10) > 2.0  # ends in the painting's own
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert log[0]["color"] == 1.0 and log[-1]["color"] == pytest.approx(0.1)  # the amount of each iteration


def test_preserve_color_flag_and_bad_values(tmp_path, content_path, style_path):
    assert presets.resolve("classic", overrides=["color.preserve=histogram"]).color.preserve == "histogram"
    with pytest.raises(UserError, match=r"color\.amount: .* within 0\.\.1"):
        presets.resolve("classic", overrides=["color.amount={schedule: linear, start: 1, end: 1.5}"])
