"""The seed's algorithm (gordicaleksa/pytorch-neural-style-transfer) as written there, timed.

fp32, NCHW, the network run to relu5_1, one ``LBFGS(max_iter=N, line_search_fn="strong_wolfe").step``,
a synchronous JPEG save in every evaluation; the same loss definitions as ours.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from timelapse_nst.settings.config import RenderConfig


# -- (b) the seed-faithful baseline ---------------------------------------------------------


@dataclass
class BaselineRun:
    seconds: float
    evaluations: int
    intervals: list[float]
    image: torch.Tensor  # final image, 0..255 (the seed's normalised image plus the mean)
    # With ``record``: each evaluation's image (0..255, as the seed saves it) and the clock when it was saved.
    images: list[torch.Tensor] = field(default_factory=list)
    saved_at: list[float] = field(default_factory=list)


class SeedVgg19:
    """The seed's Vgg19 wrapper: fp32, NCHW, run through relu5_1, returns the chosen layers."""

    def __init__(self, vgg: torch.nn.Sequential, names: Sequence[str]) -> None:
        import copy

        from torch import nn

        from timelapse_nst.settings.config import VGG19_LAYERS

        modules = copy.deepcopy(vgg[: VGG19_LAYERS.index("relu5_1") + 1])
        # The seed keeps ReLU outputs, so its in-place ReLUs are harmless there; our layer set
        # also keeps conv outputs, which an in-place ReLU would overwrite.
        self.modules = [nn.ReLU(inplace=False) if isinstance(m, nn.ReLU) else m for m in modules]
        self.names = [VGG19_LAYERS[i] for i in range(len(self.modules))]
        self.wanted = list(names)

    def __call__(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = {}
        for name, module in zip(self.names, self.modules, strict=False):
            x = module(x)
            if name in self.wanted:
                out[name] = x
        return [out[name] for name in self.wanted]


def seed_gram(x: torch.Tensor) -> torch.Tensor:
    b, ch, h, w = x.size()
    features = x.view(b, ch, w * h)
    return features.bmm(features.transpose(1, 2)) / (ch * h * w)


def seed_total_variation(y: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.sum(torch.abs(y[:, :, :, :-1] - y[:, :, :, 1:])) + torch.sum(
        torch.abs(y[:, :, :-1, :] - y[:, :, 1:, :])
    )


def run_baseline(
    vgg: torch.nn.Sequential,
    config: RenderConfig,
    content: torch.Tensor,
    style: torch.Tensor,
    iterations: int,
    dump: Path,
    *,
    between: Callable[[int], None] | None = None,
    record: bool = False,
) -> BaselineRun:
    import numpy as np
    import torch
    from PIL import Image

    from timelapse_nst.engine.features import IMAGENET_MEAN_255

    mean = torch.tensor(IMAGENET_MEAN_255).view(1, 3, 1, 1)
    content_layer = config.layers.content[0]
    style_layers = [name for name, weight in config.layers.style.items() if weight > 0]
    net = SeedVgg19(vgg, [content_layer, *style_layers])
    weights = {name: float(getattr(config.loss_weights, name).at(0, iterations)) for name in ("content", "style", "tv")}
    # 1. Targets (as the seed: normalised images, no grad).
    with torch.no_grad():
        target_content = net(content - mean)[0].squeeze(0)
        target_grams = [seed_gram(x) for x in net(style - mean)[1:]]
    optimizing = (content - mean).clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS((optimizing,), max_iter=iterations, line_search_fn="strong_wolfe")
    dump.mkdir(parents=True, exist_ok=True)
    entries: list[float] = []  # the clock as each closure was entered
    images: list[torch.Tensor] = []
    saved_at: list[float] = []
    off = 0.0  # seconds off the clock: ``between`` and the recorded copies
    began = time.perf_counter()

    def clock() -> float:
        return time.perf_counter() - began - off

    def closure() -> torch.Tensor:
        nonlocal off
        entries.append(clock())
        if between is not None:
            paused = time.perf_counter()
            between(len(entries) - 1)
            off += time.perf_counter() - paused
        if torch.is_grad_enabled():
            optimizer.zero_grad()
        # 2. The seed's build_loss.
        maps = net(optimizing)
        content_loss = torch.nn.MSELoss(reduction="mean")(target_content, maps[0].squeeze(0))
        style_loss = 0.0
        for gram_gt, gram_hat in zip(target_grams, [seed_gram(x) for x in maps[1:]], strict=False):
            style_loss += torch.nn.MSELoss(reduction="sum")(gram_gt[0], gram_hat[0])
        style_loss /= len(target_grams)
        tv_loss = seed_total_variation(optimizing)
        total = weights["content"] * content_loss + weights["style"] * style_loss + weights["tv"] * tv_loss
        if total.requires_grad:
            total.backward()
        # 3. The seed's save_and_maybe_display: a synchronous JPEG every evaluation.
        with torch.no_grad():
            pixels = optimizing.squeeze(0).cpu().detach().numpy()
            pixels = np.moveaxis(pixels, 0, 2) + np.array(IMAGENET_MEAN_255).reshape((1, 1, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype("uint8")).save(dump / f"{len(entries):04d}.jpg", quality=95)
        if record:
            saved_at.append(clock())
            paused = time.perf_counter()
            images.append((optimizing.detach() + mean).clone())
            off += time.perf_counter() - paused
        return total

    optimizer.step(closure)
    seconds = clock()
    intervals = [b - a for a, b in zip(entries, [*entries[1:], seconds], strict=False)]
    return BaselineRun(seconds, len(entries), intervals, (optimizing.detach() + mean).clone(), images, saved_at)
