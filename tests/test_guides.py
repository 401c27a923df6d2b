"""Guided Grams: guides carried to each layer the way the network pools, each region's Gram
normalised by its mass and counted by its coverage, every style receiving gradient."""

from __future__ import annotations

import pytest
import torch

from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.guides import (
    Guides,
    LayerGuide,
    batch_guides,
    carry,
    guided_gram,
    guided_grams,
    layer_guide,
)
from timelapse_nst.engine.objective import Objective, Scheduled, gram_matrix, style_loss
from timelapse_nst.settings.config import Layers, layer_stride

LAYERS = Layers()
STYLE_LAYERS = list(LAYERS.style)


@pytest.fixture(scope="module")
def features(random_vgg):
    return VGGFeatures(random_vgg, [*LAYERS.content, *LAYERS.style]).to(memory_format=torch.channels_last)


def _image(height: int, width: int, seed: int) -> torch.Tensor:
    return torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed)) * 255


def _halves(height: int, width: int, split: int) -> torch.Tensor:
    """Two masks (2, H, W): left of column ``split`` and right of it."""
    left = torch.zeros(height, width)
    left[:, :split] = 1.0
    return torch.stack([left, 1.0 - left])


# -- carried to each layer -----------------------------------------------------------------------


def test_a_guide_has_the_shape_of_each_layer_and_keeps_its_mass(features):
    """Odd sizes floor at every pool as VGG's do; each position holds its cell's mean, so a region's
    mass (in pixels) is the same at every layer when it lies within the pooled grid."""
    image = _image(45, 70, 0)
    acts = features(image)
    weights = torch.zeros(1, 45, 70)
    weights[0, 3:30, 10:58] = 0.5  # inside the 32 x 64 px that relu5_1 (stride 16) keeps
    for name in STYLE_LAYERS:
        pooled = carry(weights, name)
        assert pooled.shape[-2:] == acts[name].shape[-2:]
        assert float(pooled.sum()) * layer_stride(name) ** 2 == pytest.approx(float(weights.sum()), rel=1e-6)


def test_pooling_is_the_cells_mean_not_a_max():
    """A region that covers a quarter of a 2x2 cell weighs 0.25 there (max-pooling would say 1 and
    swell the region by a cell at every pool)."""
    weights = torch.zeros(1, 4, 4)
    weights[0, 0, 0] = 1.0
    pooled = carry(weights, "relu2_1")
    assert pooled.tolist() == [[[0.25, 0.0], [0.0, 0.0]]]


# -- the guided Gram --------------------------------------------------------------------------


def test_a_full_guide_is_the_plain_gram_and_so_is_the_gathered_one(features):
    acts = features(_image(48, 64, 1))["relu2_1"]
    full = layer_guide(torch.ones(acts.shape[-2:]))
    assert full is not None and full.full and full.coverage == 1.0
    positions = acts.shape[-2] * acts.shape[-1]
    gathered = LayerGuide(torch.arange(positions), torch.ones(positions), float(positions), positions, acts.shape[-1])
    torch.testing.assert_close(guided_gram(acts, full), gram_matrix(acts))
    torch.testing.assert_close(guided_gram(acts, gathered), gram_matrix(acts), rtol=1e-5, atol=1e-5)


def test_a_region_s_gram_is_its_own_features_over_its_own_area(features):
    """Normalised by the region's mass, not the image's: a small region's Gram is as large as a
    whole image's (neural-style-tf's omission makes it weak), and any uniform strength of the
    guide gives the same Gram."""
    acts = features(_image(48, 64, 2))["relu2_1"]  # 24 x 32 positions
    region = torch.zeros(acts.shape[-2:])
    region[:, :8] = 1.0
    guide = layer_guide(region)
    assert guide is not None and guide.coverage == pytest.approx(0.25)
    expected = gram_matrix(acts[..., :, :8].contiguous())
    torch.testing.assert_close(guided_gram(acts, guide), expected, rtol=1e-5, atol=1e-5)
    faint = layer_guide(region * 0.3)
    torch.testing.assert_close(guided_gram(acts, faint), expected, rtol=1e-5, atol=1e-5)
    assert faint.coverage == pytest.approx(0.25 * 0.3)


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
def test_guided_grams_and_their_gradient_are_the_weighted_sums(layout):
    """Soft edges (weights below 1), positions held by two guides, positions held by none and a
    full guide, in one batch: each Gram is Σ w f fᵀ / (C·m), and the hand-written backward
    (a gather into the layer's positions) agrees with finite differences."""
    generator = torch.Generator().manual_seed(11)
    features = torch.rand(1, 3, 5, 6, generator=generator, dtype=torch.float64).to(memory_format=layout)
    left = torch.zeros(5, 6, dtype=torch.float64)
    left[:, :3], left[:, 3] = 1.0, 0.4  # a soft edge
    right = torch.zeros(5, 6, dtype=torch.float64)
    right[:, 3], right[:, 4] = 0.6, 1.0  # column 3 shared with the left, column 5 held by none
    weights = [left, right, torch.ones(5, 6, dtype=torch.float64)]
    guides = [layer_guide(w) for w in weights]
    batch = batch_guides(guides)
    assert [g.full for g in guides] == [False, False, True] and batch.soft.numel() == 10

    grams = guided_grams(features, batch)
    rows = features[0].flatten(1)  # (C, positions)
    for gram, w in zip(grams, weights, strict=True):
        expected = (rows * w.flatten()) @ rows.T / (3 * float(w.sum()))
        torch.testing.assert_close(gram[0], expected)
    assert torch.autograd.gradcheck(lambda f: tuple(guided_grams(f, batch)), (features.requires_grad_(True),))


def test_a_region_s_loss_counts_by_its_coverage(features):
    """Each pixel's style weight is its guide's value, as in a render over the whole image: a
    region's loss is its Gram's loss times its share of the positions."""
    content, style, image = _image(64, 64, 3), _image(64, 64, 4), _image(64, 64, 5)
    masks = _halves(64, 64, 32)[:1]  # style 1 on the left half
    guides = Guides(masks, STYLE_LAYERS, (64, 64))
    objective = Objective(features, LAYERS, content, [style], guides=guides)
    got = objective.parts(image)["style"]
    acts, target = features(objective.picture(image)), objective.targets(0.0).styles[0]  # the right half held
    expected = sum(
        w * 0.5 * style_loss(gram_matrix(acts[n][..., :, : acts[n].shape[-1] // 2].contiguous()), target[n])
        for n, w in objective.style_layers.items()
    )
    assert float(got) == pytest.approx(float(expected), rel=1e-4)
    whole = Objective(features, LAYERS, content, [style], guides=Guides(torch.ones(1, 64, 64), STYLE_LAYERS, (64, 64)))
    plain = Objective(features, LAYERS, content, [style])
    assert float(whole.parts(image)["style"]) == float(plain.parts(image)["style"])


# -- styles and regions ----------------------------------------------------------------------


def test_every_style_receives_gradient_in_its_own_region(features):
    """neural-style-pt #46: with several styles only the first one moved the image. Here each
    style's loss moves mostly its own region's pixels (the deep layers see across the border,
    so not only them), and with both on, both regions move."""
    content, image = _image(64, 96, 6), _image(64, 96, 7)
    styles = [_image(64, 96, 8), _image(64, 96, 9)]
    masks = _halves(64, 96, 48)
    objective = Objective(features, LAYERS, content, styles, guides=Guides(masks, STYLE_LAYERS, (64, 96)))

    def gradient(blend: tuple[float, float]) -> torch.Tensor:
        x = image.clone().requires_grad_(True)
        objective.parts(x, Scheduled(1.0, 1.0, 1.0, blend=blend))["style"].backward()
        return x.grad.abs().sum(1)[0]

    for style, (own, other) in enumerate(((slice(0, 48), slice(48, 96)), (slice(48, 96), slice(0, 48)))):
        grad = gradient((1.0, 0.0) if style == 0 else (0.0, 1.0))
        assert float(grad[:, own].sum()) > 2 * float(grad[:, other].sum())
    both = gradient((0.5, 0.5))
    assert float(both[:, :48].sum()) > 0 and float(both[:, 48:].sum()) > 0


def test_styles_sharing_a_mask_share_one_region_and_blend_within_it():
    masks = _halves(32, 32, 16)
    shared = Guides(torch.stack([masks[0], masks[1], masks[1]]), STYLE_LAYERS, (32, 32), styles=3)
    moment = shared.at(None)
    assert moment.style_regions == (0, 1, 1) and len(moment.region_parts) == len(moment.parts) == 2
    # A style alone in its region counts fully; two in one region share it like a blend.
    assert moment.shares((0.2, 0.6, 0.2)) == pytest.approx((1.0, 0.75, 0.25))
    assert moment.shares((0.5, 0.0, 0.0)) == pytest.approx((1.0, 0.0, 0.0))


def test_overlapping_masks_share_a_pixel_and_a_kept_pixel_belongs_to_none():
    masks = torch.ones(2, 16, 16)
    keep = torch.zeros(16, 16)
    keep[:4] = 1.0
    guides = Guides(masks.clone(), STYLE_LAYERS, (16, 16), keep=keep)
    assert len(guides.regions) == 1  # two identical masks: one region
    split = Guides(torch.stack([torch.ones(16, 16), torch.ones(16, 16) * 0.5]), STYLE_LAYERS, (16, 16), keep=keep)
    assert float(split.regions[:, 8, 8].sum()) == pytest.approx(1.0)
    assert float(split.regions[:, :4].abs().sum()) == 0.0


def test_jpeg_black_is_black():
    """A few levels of noise in a mask's black do not make a region of it."""
    mask = torch.full((1, 32, 32), 2 / 255)
    mask[0, :, :16] = 1.0
    guides = Guides(mask, STYLE_LAYERS, (32, 32))
    assert float(guides.regions[0, :, 16:].sum()) == 0.0


def test_pixels_no_style_paints_are_held_at_the_photo(features):
    """A change of variables: the picture is the photo where no mask reaches (or the keep mask
    says so), softly at soft edges; the image's gradient there is scaled by what is left free."""
    content, style, image = _image(32, 48, 10), _image(32, 48, 11), _image(32, 48, 12)
    mask = torch.zeros(1, 32, 48)
    mask[0, :, :24] = 1.0
    mask[0, :, 24:32] = 0.25  # a soft edge
    objective = Objective(features, LAYERS, content, [style], guides=Guides(mask, STYLE_LAYERS, (32, 48)))
    picture = objective.picture(image)
    torch.testing.assert_close(picture[..., :24], image[..., :24])
    torch.testing.assert_close(picture[..., 32:], content[..., 32:])
    torch.testing.assert_close(picture[..., 24:32], 0.25 * image[..., 24:32] + 0.75 * content[..., 24:32])
    x = image.clone().requires_grad_(True)
    objective.evaluate(x, Scheduled(1e5, 3e4, 1.0))
    assert float(x.grad[..., 32:].abs().max()) == 0.0 and float(x.grad[..., :24].abs().max()) > 0
    assert torch.equal(objective.present(image, 1.0), picture)


@pytest.mark.parametrize("color", ["luminance", "histogram"])
def test_colour_preservation_works_within_regions(features, color):
    """The colour modes act on the picture the regions make: the held part stays the photo in what
    the user gets (luminance puts the photo's chroma back on the photo's own luminance)."""
    content, style, image = _image(32, 48, 13), _image(32, 48, 14), _image(32, 48, 15)
    mask = torch.zeros(1, 32, 48)
    mask[0, :, :24] = 1.0
    guides = Guides(mask, STYLE_LAYERS, (32, 48))
    objective = Objective(features, LAYERS, content, [style], color=color, guides=guides)
    x = image.clone().requires_grad_(True)
    total, parts = objective.evaluate(x, Scheduled(1e5, 3e4, 1.0, color=0.5))
    assert torch.isfinite(total) and float(parts["style"]) > 0
    assert float(x.grad[..., 24:].abs().max()) == 0.0
    shown = objective.present(image, 1.0)
    assert float((shown[..., 24:] - content[..., 24:]).abs().max()) < 1.0
