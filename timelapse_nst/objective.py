"""Gatys et al.'s objective: content loss + Gram-matrix style loss + total variation.

The loss functions are pure (tensors in, tensors out). Activations may be computed in bf16/fp16
under autocast; Gram matrices and losses are always fp32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from timelapse_nst.config import Layers
from timelapse_nst.features import VGGFeatures


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, C, C), normalised by C·H·W as in the seed."""
    n, c, h, w = features.shape
    flat = features.float().reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def content_loss(current: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(current.float(), target, reduction="mean")


def style_loss(gram: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(gram, target_gram, reduction="sum")


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Sum of absolute differences between neighbouring pixels (anisotropic TV, as in the seed)."""
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().sum()
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().sum()
    return dx + dy


class Objective:
    """The weighted loss of an image against fixed content and style targets."""

    def __init__(
        self,
        features: VGGFeatures,
        layers: Layers,
        content: torch.Tensor,
        style: torch.Tensor,
        *,
        autocast_dtype: torch.dtype | None = None,
    ) -> None:
        self.features = features
        self.content_layers = list(layers.content)
        total = sum(layers.style.values())
        self.style_layers = {name: w / total for name, w in layers.style.items() if w > 0}
        self.autocast_dtype = autocast_dtype
        self.content_image = content
        self.style_image = style
        self.content_size: tuple[int, int] = (int(content.shape[-2]), int(content.shape[-1]))
        # Targets once, without a graph.
        with torch.no_grad():
            content_acts = self._activations(content)
            style_acts = self._activations(style)
            self.content_targets = {n: content_acts[n].float() for n in self.content_layers}
            self.style_targets = {n: gram_matrix(style_acts[n]) for n in self.style_layers}

    def _activations(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.autocast_dtype is None:
            context = contextlib.nullcontext()
        else:
            context = torch.autocast(device_type=image.device.type, dtype=self.autocast_dtype)
        with context:
            return self.features(image)

    def parts(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unweighted content, style and TV losses of ``image`` (1, 3, H, W), 0..255."""
        acts = self._activations(image)
        content = sum(content_loss(acts[n], self.content_targets[n]) for n in self.content_layers)
        style = sum(w * style_loss(gram_matrix(acts[n]), self.style_targets[n])
                    for n, w in self.style_layers.items())  # fmt: skip
        return {
            "content": content / len(self.content_layers),
            "style": style,
            "tv": total_variation(image),
        }

    def __call__(
        self, image: torch.Tensor, weights: Mapping[str, float]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted total, unweighted parts)."""
        parts = self.parts(image)
        total = sum(weights[name] * value for name, value in parts.items())
        return total, parts
