"""Tiled evaluation of the objective: the same objective and gradient as the untiled one."""

from __future__ import annotations

import pytest
import torch

from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.geometry import border_reach, stride, tile_grid
from timelapse_nst.engine.guides import Guides
from timelapse_nst.engine.objective import Objective, Scheduled
from timelapse_nst.engine.tensors import to_tensor
from timelapse_nst.engine.tiling import TiledObjective, evaluate_tiled, tiled_features, tiled_grams, tiled_region_grams
from timelapse_nst.images import load_image, resize_long_edge
from timelapse_nst.settings.config import Layers
from timelapse_nst.settings.regions import Reveal

SEED_LAYERS = Layers(content=["relu4_2"], style=["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
WEIGHTS = Scheduled(content=1.0e5, style=3.0e4, tv=1.0)


# -- the grid ----------------------------------------------------------------------------------


def test_border_reach_follows_the_convolutions_and_pools():
    assert border_reach("conv1_1") == 1
    assert border_reach("relu1_2") == 2
    assert border_reach("relu2_1") == 2 * 2  # pool1 halves 2 -> 1, conv2_1 adds 1, at stride 2
    assert border_reach("relu4_2") == 40
    assert border_reach("relu5_1") == 80


@pytest.mark.parametrize(("height", "width", "tile"), [(200, 328, 64), (37, 100, 16), (64, 64, 512)])
def test_tile_interiors_partition_the_image_on_the_pooling_grid(height, width, tile):
    align, overlap = 16, 40
    tiles = tile_grid(height, width, tile=tile, overlap=overlap, align=align)
    covered = torch.zeros(height, width, dtype=torch.int32)
    for t in tiles:
        top, bottom, left, right = t.interior
        covered[top:bottom, left:right] += 1
        for edge, limit in ((top, 0), (left, 0), (bottom, height), (right, width)):
            assert edge % align == 0 or edge == limit
        ctop, cbottom, cleft, cright = t.context
        assert (ctop, cleft) == (max(0, top - 48), max(0, left - 48))  # 40 rounded up to the grid
        assert (cbottom, cright) == (min(height, bottom + 48), min(width, right + 48))
        assert bottom - top <= tile + align and right - left <= tile + align
    assert bool((covered == 1).all())


def test_a_tile_smaller_than_the_deepest_stride_is_refused():
    with pytest.raises(ValueError, match="smaller than the deepest layer's stride"):
        tile_grid(64, 64, tile=8, overlap=16, align=16)


# -- features and Grams from tiles -------------------------------------------------------------


def test_features_and_grams_from_tiles_equal_the_whole_images(random_vgg):
    """With the border reach as context, interiors carry exactly the whole image's features,
    also where the image's sides are no multiple of the stride (the last tiles floor alike)."""
    layers = ["relu2_1", "relu3_1", "relu4_1"]
    network = VGGFeatures(random_vgg, layers)
    image = torch.rand(1, 3, 75, 141, generator=torch.Generator().manual_seed(0)) * 255
    tiles = tile_grid(75, 141, tile=32, overlap=border_reach("relu4_1"), align=stride("relu4_1"))
    assert len(tiles) == 3 * 5
    whole = network(image)
    stitched = tiled_features(network, image, layers, tiles)
    grams = tiled_grams(network, image, layers, tiles)
    for name in layers:
        torch.testing.assert_close(stitched[name], whole[name], rtol=1e-5, atol=1e-4)
        features = whole[name].flatten(2)
        expected = features @ features.transpose(1, 2) / features[0].numel()
        torch.testing.assert_close(grams[name], expected, rtol=1e-5, atol=1e-5)


# -- the objective -----------------------------------------------------------------------------


def _images(content_path, style_path, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A photo and a painting at ``size`` px, and a painting part way (the photo plus noise)."""
    content = to_tensor(resize_long_edge(load_image(content_path), size))
    style = to_tensor(resize_long_edge(load_image(style_path), size))
    noise = torch.randn(content.shape, generator=torch.Generator().manual_seed(1)) * 20
    return content, style, content + noise


@pytest.fixture(scope="module")
def features(random_vgg):
    return VGGFeatures(random_vgg, [*SEED_LAYERS.content, *SEED_LAYERS.style]).to(memory_format=torch.channels_last)


@pytest.fixture(scope="module")
def scene(features, content_path, style_path):
    """256 px, the seed's layers, fp32: the objective and its untiled value and gradient."""
    content, style, image = _images(content_path, style_path, 256)
    objective = Objective(features, SEED_LAYERS, content, [style])
    return objective, image, _untiled(objective, image)


def _untiled(
    objective: Objective, image: torch.Tensor, weights: Scheduled = WEIGHTS
) -> tuple[float, dict[str, float], torch.Tensor]:
    x = image.clone().requires_grad_(True)
    total, parts = objective.evaluate(x, weights)
    return float(total), {k: float(v) for k, v in parts.items()}, x.grad


def _tiled(
    objective: Objective, image: torch.Tensor, *, overlap: int, tile: int = 128, weights: Scheduled = WEIGHTS
) -> tuple[float, dict[str, float], torch.Tensor]:
    x = image.clone().requires_grad_(True)
    tiles = tile_grid(*image.shape[-2:], tile=tile, overlap=overlap, align=16)
    assert len(tiles) == 4  # 2 x 2 tiles (the photo is 4:3)
    total, parts = evaluate_tiled(objective, x, weights, tiles)
    assert not total.requires_grad
    return float(total), {k: float(v) for k, v in parts.items()}, x.grad


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


@pytest.mark.parametrize("overlap", [64, 80])
def test_tiled_objective_and_gradient_equal_the_untiled(scene, overlap):
    """The bounds (1%, cosine 0.99) at 256 px in 128 px tiles; with the border reach
    (80 px for relu5_1) as context the two agree to float rounding."""
    objective, image, (total, parts, grad) = scene
    tiled_total, tiled_parts, tiled_grad = _tiled(objective, image, overlap=overlap)
    assert tiled_total == pytest.approx(total, rel=0.01)
    assert _cosine(tiled_grad, grad) >= 0.99
    exact = overlap >= border_reach("relu5_1")
    assert tiled_total == pytest.approx(total, rel=1e-5 if exact else 1e-4)
    for name in parts:
        assert tiled_parts[name] == pytest.approx(parts[name], rel=1e-5 if exact else 1e-4)
    error = float((tiled_grad - grad).norm() / grad.norm())
    assert error < (1e-5 if exact else 0.02)


def test_without_context_tiles_would_not_agree(scene):
    """The check above can fail: tiles cut without context change the features near their edges."""
    objective, image, (total, _, grad) = scene
    tiled_total, _, tiled_grad = _tiled(objective, image, overlap=0)
    assert abs(tiled_total - total) / total > 0.01 and _cosine(tiled_grad, grad) < 0.99


def test_bf16_activations_tiled_agree_too(features, content_path, style_path):
    content, style, image = _images(content_path, style_path, 128)
    objective = Objective(features, SEED_LAYERS, content, [style], activation_dtype=torch.bfloat16)
    total, _, grad = _untiled(objective, image)
    tiled_total, _, tiled_grad = _tiled(objective, image, overlap=80, tile=64)
    assert tiled_total == pytest.approx(total, rel=1e-4)
    assert _cosine(tiled_grad, grad) >= 0.9999


def test_gradient_is_added_into_an_existing_one_like_backward(random_vgg):
    layers = Layers(content=["relu2_2"], style=["relu1_1", "relu2_1"])
    image = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(2)) * 255
    objective = Objective(VGGFeatures(random_vgg, ["relu2_2", "relu1_1", "relu2_1"]), layers, image, [image.flip(-1)])
    tiles = tile_grid(40, 56, tile=16, overlap=border_reach("relu2_2"), align=2)
    x = (image * 0.9).requires_grad_(True)
    evaluate_tiled(objective, x, WEIGHTS, tiles)
    once = x.grad.clone()
    evaluate_tiled(objective, x, WEIGHTS, tiles)
    torch.testing.assert_close(x.grad, 2 * once)


def test_several_styles_share_one_gram_per_layer(features, content_path, style_path):
    """Tiling scores whole-image Grams through the objective's own style_from_grams: with
    several styles and a blend it agrees with the untiled objective as with one style."""
    content, style, image = _images(content_path, style_path, 128)
    objective = Objective(features, SEED_LAYERS, content, [style, torch.full_like(style, 200.0)])
    weights = Scheduled(content=1.0e5, style=3.0e4, tv=1.0, blend=(0.3, 0.7))
    total, parts, grad = _untiled(objective, image, weights)
    single = _untiled(Objective(features, SEED_LAYERS, content, [style]), image)
    assert parts["style"] != pytest.approx(single[1]["style"], rel=0.02)  # the blend counts
    tiled_total, tiled_parts, tiled_grad = _tiled(objective, image, overlap=80, tile=64, weights=weights)
    assert tiled_parts["style"] == pytest.approx(parts["style"], rel=1e-5)
    assert tiled_total == pytest.approx(total, rel=1e-5)
    assert _cosine(tiled_grad, grad) >= 0.99999


@pytest.mark.parametrize("color", ["none", "luminance"])
def test_tiled_objective_computes_its_targets_tile_by_tile_too(features, content_path, style_path, color):
    """TiledObjective: targets (content features, Grams of a style image of another size) and
    the evaluation all from tiles; luminance mode's network view is applied tile by tile."""
    content, _, image = _images(content_path, style_path, 128)
    style = to_tensor(resize_long_edge(load_image(style_path), 112))
    args = (features, SEED_LAYERS, content, [style])
    weights = Scheduled(content=1.0e5, style=3.0e4, tv=1.0, color=0.5)
    untiled, tiled = Objective(*args, color=color), TiledObjective(*args, color=color, tile=48, overlap=80)
    level = untiled.level(weights.color)
    for name, target in untiled.targets(level).content.items():
        torch.testing.assert_close(tiled.targets(level).content[name], target, rtol=1e-5, atol=1e-3)
    for name, gram in untiled.targets(level).styles[0].items():
        torch.testing.assert_close(tiled.targets(level).styles[0][name], gram, rtol=1e-4, atol=1e-4)
    assert len(tiled.tiles(image)) == 3 * 2 and len(tiled.tiles(style)) == 3 * 2
    x, y = image.clone().requires_grad_(True), image.clone().requires_grad_(True)
    total, _ = untiled.evaluate(x, weights)
    tiled_total, _ = tiled.evaluate(y, weights)
    assert float(tiled_total) == pytest.approx(float(total), rel=1e-5)
    assert _cosine(y.grad, x.grad) >= 0.99999


def _guides(height: int, width: int, case: str) -> tuple[Guides, float | None]:
    """Two styles on soft halves (a ramp across the middle), a kept block, and a reveal mid-way."""
    ramp = ((torch.arange(width, dtype=torch.float32) - 0.4 * width) / (0.25 * width)).clamp(0, 1)
    right = ramp.expand(height, width)
    masks = torch.stack([1.0 - right, right])
    keep = torch.zeros(height, width)
    keep[10:40, 90:120] = 1.0
    if case == "masks":
        return Guides(masks, SEED_LAYERS.style, (height, width), styles=2), None
    reveal = Reveal(kind="sweep", angle=30, edge=0.2)
    return Guides(masks, SEED_LAYERS.style, (height, width), keep=keep, reveal=reveal, styles=2), 0.3


@pytest.mark.parametrize("case", ["masks", "masks, keep and reveal"])
def test_guided_objective_tiled_equals_the_untiled(features, content_path, style_path, case):
    """Each tile adds its positions' share of each region's guided Gram (over the region's whole
    mass): the whole image's guided Grams, the objective and its gradient are the untiled ones."""
    content, style, image = _images(content_path, style_path, 128)
    height, width = content.shape[-2:]
    guides, clock = _guides(height, width, case)
    objective = Objective(features, SEED_LAYERS, content, [style, style.flip(-1)], guides=guides)
    weights = Scheduled(content=1.0e5, style=3.0e4, tv=1.0, blend=(0.5, 0.5), reveal=clock)
    moment = objective.guides_at(weights)
    assert moment is not None and len(moment.region_parts) == 2
    tiles = tile_grid(height, width, tile=64, overlap=80, align=16)
    picture = objective.picture(image)
    whole = moment.grams(features(picture), SEED_LAYERS.style)
    from_tiles = tiled_region_grams(features, picture, list(SEED_LAYERS.style), tiles, moment)
    for region, layers in enumerate(whole):
        assert from_tiles[region].keys() == layers.keys()
        for name, gram in layers.items():
            torch.testing.assert_close(from_tiles[region][name], gram, rtol=1e-4, atol=1e-5)
    total, parts, grad = _untiled(objective, image, weights)
    tiled_total, tiled_parts, tiled_grad = _tiled(objective, image, overlap=80, tile=64, weights=weights)
    assert parts["style"] > 0
    for name in parts:
        assert tiled_parts[name] == pytest.approx(parts[name], rel=1e-5)
    assert tiled_total == pytest.approx(total, rel=1e-5)
    assert _cosine(tiled_grad, grad) >= 0.99999
    if case != "masks":  # the kept block and what no mask covers get no gradient, tiled or not
        assert float(tiled_grad[..., 10:40, 90:120].abs().max()) == 0.0
