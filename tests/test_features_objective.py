import pytest
import torch
import torch.nn.functional as F

from timelapse_nst.engine.features import IMAGENET_MEAN_255, VGGFeatures
from timelapse_nst.engine.objective import Objective, Scheduled, gram_matrix, total_variation
from timelapse_nst.settings.config import VGG19_LAYERS, Layers


def test_layer_names_follow_vgg19(random_vgg):
    assert len(VGG19_LAYERS) == len(random_vgg) == 37
    for name, module in zip(VGG19_LAYERS, random_vgg, strict=False):
        kind = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}[name.rstrip("_0123456789")]
        assert isinstance(module, kind), name


def test_network_is_cut_after_the_deepest_layer(random_vgg):
    features = VGGFeatures(random_vgg, ["conv1_1", "relu3_1"])
    assert list(features.body) == list(VGG19_LAYERS[: VGG19_LAYERS.index("relu3_1") + 1])


def test_kept_conv_output_is_not_overwritten_by_an_inplace_relu(random_vgg):
    image = torch.rand(1, 3, 24, 24) * 255
    out = VGGFeatures(random_vgg, ["conv1_1", "relu1_1"])(image)
    mean = torch.tensor(IMAGENET_MEAN_255).view(1, 3, 1, 1)
    expected = F.conv2d(image - mean, random_vgg[0].weight, random_vgg[0].bias, padding=1)
    torch.testing.assert_close(out["conv1_1"], expected)
    assert (out["conv1_1"] < 0).any()  # would be all >= 0 had the ReLU run in place on it
    torch.testing.assert_close(out["relu1_1"], expected.clamp_min(0))


def test_average_pooling_option(random_vgg):
    features = VGGFeatures(random_vgg, ["conv2_1"], pooling="avg")
    assert isinstance(features.body["pool1"], torch.nn.AvgPool2d)


def test_gram_matrix_and_total_variation_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    torch.testing.assert_close(gram_matrix(f), torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)
    image = torch.tensor([[[[0.0, 1.0], [3.0, 3.0]]]])
    assert total_variation(image).item() == 1.0 + 0.0 + 3.0 + 2.0
    # Smoothed (Charbonnier, ε = 2): √(d² + 4) − 2 per difference; 0 where flat, ~|d| − 2 where steep.
    expected = sum((d * d + 4.0) ** 0.5 - 2.0 for d in (1.0, 0.0, 3.0, 2.0))
    assert total_variation(image, 2.0).item() == pytest.approx(expected)
    steep = torch.tensor([[[[0.0, 200.0]]]])
    assert total_variation(steep, 2.0).item() == pytest.approx(198.0, abs=0.02)


def test_objective_is_zero_at_the_targets_and_weighted(random_vgg):
    content = torch.rand(1, 3, 32, 32) * 255
    objective = Objective(
        VGGFeatures(random_vgg, ["conv4_2", "conv1_1", "conv2_1"]),
        Layers(content=["conv4_2"], style=["conv1_1", "conv2_1"]),
        content,
        [content.clone()],
    )
    total, parts = objective(content, Scheduled(content=2.0, style=3.0, tv=0.5))
    assert parts["content"].item() == 0.0 and parts["style"].item() == pytest.approx(0.0, abs=1e-6)
    assert total.item() == pytest.approx(0.5 * total_variation(content).item())
    other = torch.rand(1, 3, 32, 32) * 255
    _, moved = objective(other, Scheduled(content=1.0, style=1.0, tv=1.0))
    assert moved["content"] > 0 and moved["style"] > 0


def test_bf16_activations_keep_fp32_losses(random_vgg):
    content = torch.rand(1, 3, 32, 32) * 255
    layers = Layers()
    fp32 = Objective(VGGFeatures(random_vgg, [*layers.content, *layers.style]), layers, content, [content.flip(-1)])
    bf16 = Objective(
        VGGFeatures(random_vgg, [*layers.content, *layers.style]),
        layers,
        content,
        [content.flip(-1)],
        activation_dtype=torch.bfloat16,
    )
    image = torch.rand(1, 3, 32, 32) * 255
    a = fp32.parts(image)
    b = bf16.parts(image)
    assert all(v.dtype == torch.float32 for v in b.values())
    assert b["style"].item() == pytest.approx(a["style"].item(), rel=0.05)
