"""Gatys et al.'s objective: content loss + Gram-matrix style loss + total variation.

The loss functions are pure (tensors in, tensors out). Activations may be computed in bf16/fp16
(by a copy of the network stored in that dtype); Gram matrices and losses are always fp32.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from timelapse_nst.config import Layers
from timelapse_nst.features import VGGFeatures


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, C, C) in fp32, normalised by C·H·W as in the seed.

    Any dtype and memory format in; the activations are read in place (no layout copy).
    """
    return _Gram.apply(features)


class _Gram(torch.autograd.Function):
    """The Gram matrix with a hand-written backward: one matrix product instead of autograd's
    two (it differentiates F and Fᵀ separately) plus their sum, and in the activations' own
    dtype and layout, so bf16 channels_last activations get bf16 channels_last gradients."""

    @staticmethod
    def forward(ctx: Any, features: torch.Tensor) -> torch.Tensor:
        _n, c, h, w = features.shape
        flat = features.flatten(2)  # (N, C, HW): a view in NCHW and channels_last alike
        # fp32 even for bf16 activations: the style loss is a small difference of large Grams,
        # which bf16's 8-bit mantissa would drown.
        flat32 = flat.to(torch.promote_types(flat.dtype, torch.float32))
        ctx.save_for_backward(features)
        return torch.bmm(flat32, flat32.transpose(1, 2)).div_(c * h * w)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (features,) = ctx.saved_tensors
        n, c, h, w = features.shape
        # d(F Fᵀ)/dF applied to G' is (G' + G'ᵀ) F; computed at the activations' precision,
        # like the rest of the backward pass through the network.
        sym = ((grad + grad.transpose(1, 2)) / (c * h * w)).to(features.dtype)
        flat = features.flatten(2)
        if features.is_contiguous(memory_format=torch.channels_last) and not features.is_contiguous():
            # (HW, C) rows: Fᵀ S is (S F)ᵀ for a symmetric S, written straight into channels_last.
            rows = torch.bmm(flat.transpose(1, 2), sym)
            return rows.view(n, h, w, c).permute(0, 3, 1, 2)
        return torch.bmm(sym, flat).view(n, c, h, w)


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
        activation_dtype: torch.dtype | None = None,
    ) -> None:
        self.features = features
        self.content_layers = list(layers.content)
        total = sum(layers.style.values())
        self.style_layers = {name: w / total for name, w in layers.style.items() if w > 0}
        self.activation_dtype = activation_dtype
        # Activations in the low precision come from a copy of the network whose weights are
        # already in it: the same convolutions autocast would run, without re-casting 20M
        # frozen weights on every call (autocast caches casts only for trainable weights).
        self._network = features if activation_dtype is None else features.in_dtype(activation_dtype)
        self.content_image = content
        self.style_image = style
        self.content_size: tuple[int, int] = (int(content.shape[-2]), int(content.shape[-1]))
        # Targets once, with no graph and no autograd bookkeeping; cloned out of inference mode
        # because the losses save them for the backward pass.
        with torch.inference_mode():
            content_acts = self._network(content)
            style_acts = self._network(style)
            content_targets = {n: content_acts[n].float() for n in self.content_layers}
            style_targets = {n: gram_matrix(style_acts[n]) for n in self.style_layers}
        self.content_targets = {n: t.clone() for n, t in content_targets.items()}
        self.style_targets = {n: t.clone() for n, t in style_targets.items()}

    def parts(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unweighted content, style and TV losses of ``image`` (1, 3, H, W), 0..255."""
        acts = self._network(image)
        content = sum(content_loss(acts[n], self.content_targets[n]) for n in self.content_layers)
        style = sum(w * style_loss(gram_matrix(acts[n]), self.style_targets[n]) for n, w in self.style_layers.items())
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
