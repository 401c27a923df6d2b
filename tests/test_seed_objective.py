"""We paint what the seed paints: its objective, written here independently, against our logs.

The seed (gordicaleksa/pytorch-neural-style-transfer) keeps torchvision's in-place ReLUs, so the
slice it calls conv4_2 hands back relu4_2 and its style slices end at relu1_1 .. relu5_1. This
file re-implements its losses the way its code computes them (nothing imported from our
objective or features) and checks our first logged losses and our gradients against it.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from timelapse_nst import api
from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.engine.loop import scheduled_at
from timelapse_nst.engine.objective import Objective, gram_matrix
from timelapse_nst.settings import presets

MEAN = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)  # the seed's IMAGENET_MEAN_255; std 1


class SeedVgg19(nn.Module):
    """The seed's Vgg19: six slices of torchvision's features, in-place ReLUs kept."""

    def __init__(self, features: nn.Sequential) -> None:
        super().__init__()
        features = copy.deepcopy(features)
        bounds = [(0, 2), (2, 7), (7, 12), (12, 21), (21, 22), (22, 30)]  # its offset of 1 included
        self.slices = nn.ModuleList(nn.Sequential(*[features[i] for i in range(a, b)]) for a, b in bounds)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for piece in self.slices:
            x = piece(x)
            outputs.append(x)  # slice 5's conv4_2 output is overwritten in place by relu4_2
        return outputs  # relu1_1, relu2_1, relu3_1, relu4_1, "conv4_2", relu5_1


def seed_gram(x: torch.Tensor) -> torch.Tensor:
    b, ch, h, w = x.size()
    features = x.view(b, ch, w * h)
    return features.bmm(features.transpose(1, 2)) / (ch * h * w)


def seed_losses(net: SeedVgg19, image: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> dict:
    """The seed's build_loss on 0..255 images (it works on image - mean)."""
    with torch.no_grad():
        target_content = net(content - MEAN)[4].squeeze(0)
        style_maps = net(style - MEAN)
        target_grams = [seed_gram(style_maps[i]) for i in (0, 1, 2, 3, 5)]
    optimizing = (image - MEAN).clone().requires_grad_(True)
    maps = net(optimizing)
    content_loss = nn.MSELoss(reduction="mean")(target_content, maps[4].squeeze(0))
    style_loss = 0.0
    for gram_gt, gram_hat in zip(target_grams, [seed_gram(maps[i]) for i in (0, 1, 2, 3, 5)], strict=True):
        style_loss += nn.MSELoss(reduction="sum")(gram_gt[0], gram_hat[0])
    style_loss /= len(target_grams)
    y = optimizing
    tv_loss = torch.sum(torch.abs(y[:, :, :, :-1] - y[:, :, :, 1:])) + torch.sum(
        torch.abs(y[:, :, :-1, :] - y[:, :, 1:, :])
    )
    total = 1e5 * content_loss + 3e4 * style_loss + 1.0 * tv_loss
    total.backward()
    losses = {
        name: float(value.detach())
        for name, value in (("content", content_loss), ("style", style_loss), ("tv", tv_loss), ("total", total))
    }
    return {**losses, "grad": optimizing.grad.detach().clone()}


@pytest.fixture(scope="module")
def seed_net(random_vgg):
    return SeedVgg19(random_vgg)


@pytest.mark.parametrize("init", ["content", "noise"])
def test_our_first_logged_losses_are_the_seeds(tmp_path, random_vgg, seed_net, content_path, style_path, init):
    """A real render (fp32, the default layers and weights) logs, for the image of its first
    iteration, what the seed computes for that image (log line N holds the losses of image N)."""
    config = presets.resolve(
        "classic", overrides=["size=64", "optimizer.iterations=1", "precision=fp32", f"init={init}"]
    )
    assert config.layers.content == ["relu4_2"] and list(config.layers.style) == [f"relu{i}_1" for i in range(1, 6)]
    start = {}
    objectives = []

    def keep_start(step):
        if step.iteration == 1:
            start["image"] = step.image.clone()

    api.render(
        content_path,
        style_path,
        out=tmp_path / "run",
        config=config,
        weights="random",
        make_video=False,
        hooks=[keep_start],
    )
    line = json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])
    assert line["iteration"] == 1 and line["losses_of"] == 1
    logged = line["losses"]
    content, style = _inputs(tmp_path / "run")
    seed = seed_losses(seed_net, start["image"], content, style)
    for name in ("content", "style", "tv", "total"):
        assert logged[name] == pytest.approx(seed[name], rel=1e-4, abs=1e-9), name
    # The gradient the project's objective gives at that image points where the seed's does.
    features = VGGFeatures(random_vgg, [*config.layers.content, *config.layers.style])
    objectives.append(Objective(features, config.layers, content, [style]))
    image = start["image"].clone().requires_grad_(True)
    total, _ = objectives[0](image, scheduled_at(config, 0, 1))
    total.backward()
    cosine = torch.nn.functional.cosine_similarity(image.grad.flatten(), seed["grad"].flatten(), dim=0)
    assert cosine >= 0.9999, float(cosine)


def _inputs(run):
    """The content and style tensors exactly as the render prepared them (from the run folder)."""
    from timelapse_nst.engine.tensors import to_tensor
    from timelapse_nst.images import load_image, resize_long_edge, resize_style
    from timelapse_nst.runfolder.folder import RunFolder

    folder = RunFolder(run)
    manifest = folder.read_manifest()
    content_file, [style_file] = folder.input_files(manifest)
    size = manifest["config"]["size"]
    content = resize_long_edge(load_image(content_file.path), size)
    style = resize_style(load_image(style_file.path), content.size, manifest["config"]["style_scale"])
    return to_tensor(content), to_tensor(style)


@pytest.mark.parametrize("channels_last", [False, True])
def test_the_hand_written_gram_backward_is_exact(channels_last):
    features = torch.randn(2, 5, 4, 3, dtype=torch.float64)
    if channels_last:
        features = features.contiguous(memory_format=torch.channels_last)
    features.requires_grad_(True)
    assert torch.autograd.gradcheck(gram_matrix, (features,), eps=1e-6, atol=1e-8)
