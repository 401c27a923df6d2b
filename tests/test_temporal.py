"""The temporal term of a clip's later frames and the objective that carries it."""

from __future__ import annotations

import pytest
import torch

from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.objective import Objective, Scheduled
from timelapse_nst.engine.temporal import TemporalObjective, long_term_weights, temporal_loss
from timelapse_nst.settings.config import Layers


def test_the_temporal_loss_is_the_weighted_mean_square_in_levels():
    image = torch.full((1, 3, 4, 5), 10.0)
    anchors = torch.full((1, 3, 4, 5), 13.0)
    everywhere = torch.ones(1, 1, 4, 5)
    assert float(temporal_loss(image, anchors, everywhere)) == pytest.approx(9.0)
    half = everywhere.clone()
    half[..., :2, :] = 0  # the flow check distrusts the top two rows
    assert float(temporal_loss(image, anchors, half)) == pytest.approx(4.5)  # D counts every pixel
    assert float(temporal_loss(anchors, anchors, everywhere)) == 0.0


def test_each_pixel_is_held_to_the_nearest_earlier_frame_that_saw_it():
    checks = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]]).view(3, 1, 1, 4)
    weights = long_term_weights(checks).view(3, 4)
    assert weights.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]]


def test_the_optimiser_minimises_the_temporal_term_but_the_parts_stay_the_frames_own(random_vgg):
    torch.manual_seed(0)
    features = VGGFeatures(random_vgg, ["relu1_1", "relu2_1"])
    layers = Layers(content=["relu2_1"], style={"relu1_1": 1.0})
    photo, painting = torch.rand(1, 3, 16, 16) * 255, torch.rand(1, 3, 16, 16) * 255
    scheduled = Scheduled(content=1.0, style=1.0, tv=1e-3)
    anchors = photo.clone() + 20
    weights = torch.ones(1, 1, 16, 16)
    plain = Objective(features, layers, photo, [painting])
    held = TemporalObjective(Objective(features, layers, photo, [painting]), anchors, weights, 2.0)
    image = (photo + torch.randn_like(photo)).requires_grad_(True)
    total, parts = plain.evaluate(image, scheduled)
    alone = image.grad.clone()
    image.grad = None
    held_total, held_parts = held.evaluate(image, scheduled)
    assert held_parts.keys() == parts.keys() and all(torch.equal(held_parts[k], parts[k]) for k in parts)
    temporal = float(temporal_loss(image.detach(), anchors, weights))
    assert float(held_total) == pytest.approx(float(total) + 2.0 * temporal, rel=1e-5)
    expected = alone + 2.0 * 2 * (image.detach() - anchors) / image[0].numel()
    assert torch.allclose(image.grad, expected, rtol=1e-4, atol=1e-6)
    assert held.content_size == plain.content_size and held.style_images == held.objective.style_images
