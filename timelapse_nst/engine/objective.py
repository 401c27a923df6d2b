"""Gatys et al.'s objective: content loss + Gram-matrix style loss + total variation.

The loss functions are pure (tensors in, tensors out). Activations may be computed in bf16/fp16
(by a copy of the network stored in that dtype); Gram matrices and losses are always fp32.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from timelapse_nst.engine.color import match_color, match_luminance, network_view, with_chroma_of
from timelapse_nst.engine.features import VGGFeatures
from timelapse_nst.settings.config import Layers

if TYPE_CHECKING:
    from timelapse_nst.engine.guides import Guides, GuidesAt


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


def total_variation(image: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Sum over neighbouring pixels of |difference| (anisotropic TV, the seed's); with
    ``smoothing`` ε > 0, of √(d² + ε²) − ε (Charbonnier): within ε of it, and smooth at d = 0."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    if smoothing <= 0:
        return dx.abs().sum() + dy.abs().sum()
    eps2 = smoothing * smoothing
    return ((dx * dx + eps2).sqrt() - smoothing).sum() + ((dy * dy + eps2).sqrt() - smoothing).sum()


@dataclass(frozen=True)
class Scheduled:
    """The scheduled values of one iteration: the three loss weights, each style's share of the
    style loss (summing to 1), how much of the photo's colour is kept (colour modes only), and
    the moment of the reveal whose guides hold (a fraction of the render, quantised; None: none)."""

    content: float
    style: float
    tv: float
    blend: tuple[float, ...] = (1.0,)
    color: float = 1.0
    reveal: float | None = None

    def terms(self) -> dict[str, float]:
        return {"content": self.content, "style": self.style, "tv": self.tv}


@dataclass(frozen=True)
class Targets:
    """What the image is compared with: content activations and, per style, the Gram matrices."""

    content: dict[str, torch.Tensor]
    styles: tuple[dict[str, torch.Tensor], ...]


COLOR_LEVELS = 32
"""The colour amount is taken in steps of 1/32 (targets are recomputed when it moves a step):
a smooth fade for the eye, at most 33 target computations for any schedule."""


class Objective:
    """The weighted loss of an image against fixed content and style targets.

    ``styles`` are one or more paintings; ``color`` is ``config.color.preserve``; ``guides``
    (``guides.Guides``) say where each style paints, and when. Targets are computed once per
    colour level, with no graph, and kept for the current level.
    """

    def __init__(
        self,
        features: VGGFeatures,
        layers: Layers,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        *,
        activation_dtype: torch.dtype | None = None,
        color: str = "none",
        tv_smoothing: float = 0.0,
        guides: Guides | None = None,
    ) -> None:
        self.features = features
        self.guides = guides
        self.tv_smoothing = tv_smoothing  # ε of the TV optimised (config.optimizer.tv_smoothing); 0: exact
        self.content_layers = list(layers.content)
        total = sum(layers.style.values())
        self.style_layers = {name: w / total for name, w in layers.style.items() if w > 0}
        self.activation_dtype = activation_dtype
        # Activations in the low precision come from a copy of the network whose weights are
        # already in it: the same convolutions autocast would run, without re-casting 20M
        # frozen scheduled on every call (autocast caches casts only for trainable scheduled).
        self.network = features if activation_dtype is None else features.in_dtype(activation_dtype)
        self.content_image = content
        self.style_images = tuple(styles)
        self.color = color
        self.content_size: tuple[int, int] = (int(content.shape[-2]), int(content.shape[-1]))
        if color == "histogram":  # the paintings recoloured to the photo's statistics, once per scale
            self._matched = tuple(match_color(style, content) for style in self.style_images)
        elif color == "luminance":  # their luminance matched to the photo's mean and deviation
            self._matched = tuple(match_luminance(style, content) for style in self.style_images)
        self._cached: tuple[float, Targets] | None = None

    # -- colour -----------------------------------------------------------------------------
    def level(self, amount: float) -> float:
        """The colour amount in effect (quantised; 0 when no colour mode is on)."""
        return 0.0 if self.color == "none" else round(amount * COLOR_LEVELS) / COLOR_LEVELS

    def network_input(self, image: torch.Tensor, level: float) -> torch.Tensor:
        """What the network sees: the image, or in luminance mode (part of) its luminance."""
        return network_view(image, level) if self.color == "luminance" else image

    def present(self, image: torch.Tensor, amount: float) -> torch.Tensor:
        """The picture the user gets from the optimised ``image``: in luminance mode its
        luminance with the photo's chroma put back (in the scheduled amount); else itself."""
        image = self.picture(image)
        if self.color != "luminance":
            return image
        return with_chroma_of(image, self.content_image, self.level(amount)).clamp(0, 255)

    # -- regions ----------------------------------------------------------------------------
    @property
    def hold(self) -> torch.Tensor | None:
        """How much of each pixel no style paints, (1, 1, H, W) (None: every pixel is painted)."""
        return None if self.guides is None else self.guides.hold

    def picture(self, image: torch.Tensor) -> torch.Tensor:
        """The picture the objective scores: the optimised image, held at the photo where no style
        paints (a change of variables: the gradient there is scaled by 1 - hold)."""
        hold = self.hold
        return image if hold is None else torch.lerp(image, self.content_image, hold)

    # -- targets ----------------------------------------------------------------------------
    def targets(self, level: float) -> Targets:
        if self._cached is None or self._cached[0] != level:
            self._cached = (level, self._compute_targets(level))
        return self._cached[1]

    def _compute_targets(self, level: float) -> Targets:
        styles = self.style_images
        if self.color != "none" and level > 0:
            styles = tuple(level * m + (1 - level) * s for m, s in zip(self._matched, styles, strict=True))
        content = self.network_input(self.content_image, level) if self.color == "luminance" else self.content_image
        # inference mode: no graph, no autograd bookkeeping; cloned out of it because the losses
        # save the targets for the backward pass.
        with torch.inference_mode():
            content_targets = self.whole_features(content, self.content_layers)
            grams = [self.whole_grams(style, self.style_layers) for style in styles]
        return Targets(
            {n: t.clone() for n, t in content_targets.items()},
            tuple({n: g.clone() for n, g in gram.items()} for gram in grams),
        )

    def whole_features(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """An image's activations at ``layers`` in fp32, without a graph (tiled in ``tiling``)."""
        acts = self.network(image)
        return {n: acts[n].float() for n in layers}

    def whole_grams(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """An image's Gram matrix at each of ``layers``, without a graph (tiled in ``tiling``)."""
        acts = self.network(image)
        return {n: gram_matrix(acts[n]) for n in layers}

    # -- the loss ---------------------------------------------------------------------------
    def _blend(self, scheduled: Scheduled | None) -> tuple[float, ...]:
        return scheduled.blend if scheduled is not None else (1.0,) * len(self.style_images)

    def _level(self, scheduled: Scheduled | None) -> float:
        return self.level(scheduled.color if scheduled is not None else 1.0)

    def guides_at(self, scheduled: Scheduled | None) -> GuidesAt | None:
        """The regions' guides of this iteration (None: every style paints the whole canvas)."""
        return None if self.guides is None else self.guides.at(scheduled.reveal if scheduled is not None else None)

    def image_grams(
        self, acts: Mapping[str, torch.Tensor], scheduled: Scheduled | None = None
    ) -> Sequence[Mapping[str, torch.Tensor]]:
        """The image's Grams at the style layers: one set for every style, or each part's guided ones."""
        guides = self.guides_at(scheduled)
        if guides is None:
            return [{n: gram_matrix(acts[n]) for n in self.style_layers}]
        return guides.grams(acts, self.style_layers)

    def style_from_grams(
        self,
        grams: Mapping[str, torch.Tensor] | Sequence[Mapping[str, torch.Tensor]],
        scheduled: Scheduled | None = None,
    ) -> torch.Tensor:
        """The style loss (the blend-weighted mean over the styles) of an image whose Gram matrix
        at each style layer is ``grams[layer]``, or with guides ``grams[part][layer]`` (the parts of
        each style's region). One set of Grams serves every style of a region; a tiled evaluation
        builds the whole image's Grams from tiles and scores them here too. A part's loss counts by
        its coverage (guides.py)."""
        targets = self.targets(self._level(scheduled))
        guides = self.guides_at(scheduled)
        blend = self._blend(scheduled)
        if guides is None:
            whole = grams if isinstance(grams, Mapping) else grams[0]
            style = sum(
                share * sum(w * style_loss(whole[n], target[n]) for n, w in self.style_layers.items())
                for share, target in zip(blend, targets.styles, strict=True)
                if share > 0
            )
        else:
            assert not isinstance(grams, Mapping), "guided Grams come per part"
            shares = guides.shares(blend)
            style = sum(
                coef * style_loss(grams[part][n], target)
                for n, w in self.style_layers.items()
                for part, scored in zip(*guides.terms(n, w, targets.styles, shares), strict=True)
                for coef, target in scored
            )
        return style if isinstance(style, torch.Tensor) else torch.zeros((), device=self.content_image.device)

    def parts(self, image: torch.Tensor, scheduled: Scheduled | None = None) -> dict[str, torch.Tensor]:
        """Unweighted content, style (the blend-weighted mean over styles) and TV losses of
        ``image`` (1, 3, H, W), 0..255."""
        level = self._level(scheduled)
        targets = self.targets(level)
        image = self.picture(image)
        acts = self.network(self.network_input(image, level))
        content = sum(content_loss(acts[n], targets.content[n]) for n in self.content_layers)
        return {
            "content": content / len(self.content_layers),
            "style": self.style(acts, scheduled),
            "tv": total_variation(image, self.tv_smoothing),
        }

    def style(self, acts: Mapping[str, torch.Tensor], scheduled: Scheduled | None = None) -> torch.Tensor:
        """The style loss of activations ``acts`` (``style_from_grams`` of their Grams). With guides,
        each layer's Grams and losses are one node (``GuidesAt.style_loss``): the same sum."""
        guides = self.guides_at(scheduled)
        if guides is None:
            return self.style_from_grams(self.image_grams(acts, scheduled), scheduled)
        targets = self.targets(self._level(scheduled)).styles
        style = guides.style_loss(acts, self.style_layers, targets, self._blend(scheduled))
        return style if style is not None else torch.zeros((), device=self.content_image.device)

    def seed_parts(self, image: torch.Tensor, parts: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``parts`` of ``image`` as the seed scores them: its exact TV in place of a smoothed one."""
        if self.tv_smoothing <= 0:
            return dict(parts)
        with torch.no_grad():
            return {**parts, "tv": total_variation(self.picture(image))}

    def __call__(self, image: torch.Tensor, scheduled: Scheduled) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted total, unweighted parts)."""
        parts = self.parts(image, scheduled)
        terms = scheduled.terms()
        total = sum(terms[name] * value for name, value in parts.items())
        return total, parts

    def evaluate(self, image: torch.Tensor, scheduled: Scheduled) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(weighted total, unweighted parts), detached, with the gradient added into ``image.grad``.

        What the optimiser calls: the tiled objective (``tiling.TiledObjective``) does the same
        tile by tile, so the loop never knows which one it has.
        """
        total, parts = self(image, scheduled)
        total.backward()
        return total.detach(), {name: value.detach() for name, value in parts.items()}
