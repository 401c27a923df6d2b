"""The objective of a whole image evaluated tile by tile, so that only one tile's activations live.

Style stays a property of the whole image (departure from hand-rolled tiling, where each tile
matched the style on its own and the style drifted from tile to tile, with seams): a Gram matrix
is a sum over positions, so the whole image's Gram is the sum of its tiles' Grams taken over
each tile's interior, with the interior's features computed from the tile plus ``overlap`` pixels
of context. One evaluation is

1. pass 1, no graph: every style layer's whole-image Gram, accumulated tile by tile (with
   guides, each region's: a tile adds its positions' weighted share, over the region's mass);
2. the style loss of those Grams and its gradient dL/dG (small C×C matrices);
3. TV on the whole image at once (cheap; exact across tile borders);
4. pass 2, one tile at a time with a graph: backpropagate dL/dG through the tile's Grams plus
   the tile's share of the content loss, and add the tile's input gradient into the image's.

With a context of at least ``geometry.border_reach`` of the deepest layer, interior features,
the objective and its gradient equal the untiled ones up to float rounding.
Image tensors are (1, 3, H, W), float32, 0..255, as everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from timelapse_nst.engine.geometry import Tile, channels, feature_length, stride, tile_grid
from timelapse_nst.engine.guides import GuidesAt, guided_grams
from timelapse_nst.engine.objective import Objective, Scheduled, Targets, content_loss, gram_matrix, total_variation
from timelapse_nst.settings.config import VGG19_LAYERS

Network = Callable[[torch.Tensor], dict[str, torch.Tensor]]
"""An image (1, 3, h, w) -> {layer name: activation}: ``VGGFeatures``, or the objective's view of it."""


class TiledObjective(Objective):
    """The objective of ``Objective``, evaluated (and its targets computed) tile by tile.

    ``tile``: the interior's edge in pixels (tiles are spread evenly, so some are a little
    smaller or, by up to the pooling grid, larger); ``overlap``: the context around each tile.
    ``evaluate`` (what the optimiser calls) and the targets are tiled; ``parts`` and calling the
    objective still run the whole image at once (for scoring a painting that fits).
    """

    def __init__(self, *args: Any, tile: int, overlap: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tile, self.overlap = tile, overlap
        self.align = stride(max(self.features.layers, key=VGG19_LAYERS.index))  # the pooling grid
        self._grids: dict[tuple[int, int], list[Tile]] = {}

    def tiles(self, image: torch.Tensor) -> list[Tile]:
        height, width = int(image.shape[-2]), int(image.shape[-1])
        if (height, width) not in self._grids:
            self._grids[height, width] = tile_grid(
                height, width, tile=self.tile, overlap=self.overlap, align=self.align
            )
        return self._grids[height, width]

    def whole_features(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        return tiled_features(self.network, image, layers, self.tiles(image))

    def whole_grams(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        return tiled_grams(self.network, image, layers, self.tiles(image))

    def evaluate(self, image: torch.Tensor, scheduled: Scheduled) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return evaluate_tiled(self, image, scheduled, self.tiles(image))


def crop(image: torch.Tensor, tile: Tile) -> torch.Tensor:
    top, bottom, left, right = tile.context
    return image[..., top:bottom, left:right]


def _interior(activation: torch.Tensor, tile: Tile, layer: str) -> torch.Tensor:
    rows, cols = tile.interior_in_features(layer)
    return activation[..., rows, cols]


def _positions(shape: torch.Size, layer: str) -> int:
    return feature_length(shape[-2], layer) * feature_length(shape[-1], layer)


def _partial_gram(interior: torch.Tensor, whole_positions: int) -> torch.Tensor | None:
    """The interior's share of the whole image's Gram (normalised by the whole image's C·H·W)."""
    positions = interior.shape[-2] * interior.shape[-1]
    if positions == 0:  # a sliver thinner than this layer's stride has no positions here
        return None
    return gram_matrix(interior) * (positions / whole_positions)


def _tile_grams(
    activation: torch.Tensor, tile: Tile, layer: str, shape: torch.Size, guides: GuidesAt | None
) -> list[tuple[int, torch.Tensor]]:
    """The tile's share of the whole image's Gram at ``layer``, or with guides each part's that
    has positions in the tile: (part, (1, C, C)) pairs."""
    if guides is None:
        share = _partial_gram(_interior(activation, tile, layer), _positions(shape, layer))
        return [] if share is None else [(0, share)]
    rows, cols = tile.interior_in_image_features(layer)
    own_rows, own_cols = tile.interior_in_features(layer)
    if own_rows.stop <= own_rows.start or own_cols.stop <= own_cols.start:
        return []  # a sliver thinner than this layer's stride has no positions here
    origin = (rows.start - own_rows.start, cols.start - own_cols.start)
    slots, batch = guides.in_tile(layer, tile, (rows, cols, origin, int(activation.shape[-1])))
    return (
        list(zip(slots, guided_grams(activation, batch, interior=(own_rows, own_cols)), strict=True)) if slots else []
    )


def _add_grams(
    sums: Sequence[dict[str, torch.Tensor]],
    acts: Mapping[str, torch.Tensor],
    tile: Tile,
    shape: torch.Size,
    guides: GuidesAt | None = None,
) -> None:
    for name in dict.fromkeys(name for layers in sums for name in layers):
        for part, share in _tile_grams(acts[name].detach(), tile, name, shape, guides):
            sums[part][name].add_(share)


def _zero_grams(image: torch.Tensor, layers: Iterable[str], guides: GuidesAt | None) -> list[dict[str, torch.Tensor]]:
    """Zero (1, C, C) sums: one set, or one per part for the layers it reaches now."""
    regions = [set(layers)] if guides is None else [set(layers) & set(part) for part in guides.parts]
    return [
        {name: torch.zeros((1, channels(name), channels(name)), device=image.device) for name in layers if name in own}
        for own in regions
    ]


def tiled_grams(
    network: Network, image: torch.Tensor, layers: Iterable[str], tiles: Sequence[Tile]
) -> dict[str, torch.Tensor]:
    """The whole image's Gram at each of ``layers``, tile by tile, without a graph. (1, C, C) fp32."""
    return tiled_region_grams(network, image, list(layers), tiles, None)[0]


def tiled_region_grams(
    network: Network, image: torch.Tensor, layers: Sequence[str], tiles: Sequence[Tile], guides: GuidesAt | None
) -> list[dict[str, torch.Tensor]]:
    """Each part's guided Gram (one set without ``guides``) from tiles, without a graph."""
    sums = _zero_grams(image, layers, guides)
    with torch.no_grad():
        for tile in tiles:
            _add_grams(sums, network(crop(image, tile)), tile, image.shape, guides)
    return sums


def tiled_features(
    network: Network, image: torch.Tensor, layers: Iterable[str], tiles: Sequence[Tile]
) -> dict[str, torch.Tensor]:
    """The whole image's activations at ``layers`` (fp32), stitched from tile interiors, no graph."""
    out = {
        name: torch.empty(
            (1, channels(name), *(feature_length(n, name) for n in image.shape[-2:])), device=image.device
        )
        for name in layers
    }
    with torch.no_grad():
        for tile in tiles:
            acts = network(crop(image, tile))
            for name, whole in out.items():
                rows, cols = tile.interior_in_image_features(name)
                whole[..., rows, cols] = _interior(acts[name], tile, name).float()
    return out


def evaluate_tiled(
    objective: Objective, image: torch.Tensor, scheduled: Scheduled, tiles: Sequence[Tile]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(weighted total, unweighted parts) of ``image``, its gradient added into ``image.grad``.

    The same values as ``objective.evaluate(image, scheduled)``, with the peak memory of one
    tile. ``image`` is a leaf requiring grad; returned tensors are detached.
    """
    hold = objective.hold
    if hold is None:
        return _evaluate_picture(objective, image, scheduled, tiles)
    # Regions held at the photo: evaluate the picture, then carry its gradient to the image.
    picture = objective.picture(image.detach()).requires_grad_(True)
    total, parts = _evaluate_picture(objective, picture, scheduled, tiles)
    assert picture.grad is not None
    step = picture.grad * (1.0 - hold)
    if image.grad is None:
        image.grad = step
    else:
        image.grad += step
    return total, parts


def _evaluate_picture(
    objective: Objective, image: torch.Tensor, scheduled: Scheduled, tiles: Sequence[Tile]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``evaluate_tiled`` of the picture the objective scores (see ``Objective.picture``)."""
    level = objective.level(scheduled.color)
    targets = objective.targets(level)
    guides = objective.guides_at(scheduled)
    terms = scheduled.terms()

    def network(x: torch.Tensor) -> dict[str, torch.Tensor]:
        return objective.network(objective.network_input(x, level))

    *others, last = tiles
    # 1. Pass 1: whole-image Grams (one set serves every style of a region). The last tile keeps
    #    its graph, so pass 2 starts with it: one forward fewer, the same peak memory.
    grams = tiled_region_grams(network, image.detach(), list(objective.style_layers), others, guides)
    patch, acts = _forward(network, image, last)
    _add_grams(grams, acts, last, image.shape, guides)
    # 2. Style loss of the whole image, and dL/dG at every style layer (C×C matrices).
    leaves = [{name: gram.requires_grad_(True) for name, gram in region.items()} for region in grams]
    with torch.enable_grad():
        style = objective.style_from_grams(leaves, scheduled)
        gram_grads = _gram_gradients(terms["style"] * style, leaves)
        # 3. TV of the whole image, straight into image.grad.
        tv = total_variation(image, objective.tv_smoothing)
        (terms["tv"] * tv).backward()
    # 4. Pass 2: one tile at a time, each with its graph, the last tile first.
    content = _backward(objective, targets, image, last, patch, acts, gram_grads, terms["content"], guides)
    del patch, acts
    for tile in others:
        patch, acts = _forward(network, image, tile)
        content = content + _backward(
            objective, targets, image, tile, patch, acts, gram_grads, terms["content"], guides
        )
        del patch, acts
    parts = {"content": content, "style": style.detach(), "tv": tv.detach()}
    total = sum(terms[name] * value for name, value in parts.items())
    return total, parts


def _gram_gradients(style: torch.Tensor, leaves: Sequence[Mapping[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    flat = [(region, name, leaf) for region, layers in enumerate(leaves) for name, leaf in layers.items()]
    grads: list[torch.Tensor | None] = [None] * len(flat)
    if style.requires_grad:  # else every style's share is 0 at this iteration
        grads = list(torch.autograd.grad(style, [leaf for _, _, leaf in flat], allow_unused=True))
    out: list[dict[str, torch.Tensor]] = [{} for _ in leaves]
    for (region, name, leaf), grad in zip(flat, grads, strict=True):
        out[region][name] = torch.zeros_like(leaf) if grad is None else grad
    return out


def _forward(network: Network, image: torch.Tensor, tile: Tile) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A tile cut from the image as a leaf of its own, and its activations with a graph."""
    patch = crop(image.detach(), tile).clone().requires_grad_(True)
    with torch.enable_grad():
        return patch, network(patch)


def _backward(
    objective: Objective,
    targets: Targets,
    image: torch.Tensor,
    tile: Tile,
    patch: torch.Tensor,
    acts: Mapping[str, torch.Tensor],
    gram_grads: Sequence[Mapping[str, torch.Tensor]],
    content_weight: float,
    guides: GuidesAt | None = None,
) -> torch.Tensor:
    """Backpropagate the tile's share of the objective into ``image.grad``; returns its content share."""
    outputs, grads = [], []
    with torch.enable_grad():
        for name in dict.fromkeys(name for layers in gram_grads for name in layers):
            for part, share in _tile_grams(acts[name], tile, name, image.shape, guides):
                outputs.append(share)
                grads.append(gram_grads[part][name])
        content = _content_share(objective.content_layers, targets, acts, tile)
        if content.requires_grad:
            outputs.append(content_weight * content)
            grads.append(torch.ones_like(content))
        if outputs:
            torch.autograd.backward(outputs, grads)
    if patch.grad is not None:
        top, bottom, left, right = tile.context
        assert image.grad is not None
        image.grad[..., top:bottom, left:right] += patch.grad
    return content.detach()


def _content_share(
    layers: Sequence[str], targets: Targets, acts: Mapping[str, torch.Tensor], tile: Tile
) -> torch.Tensor:
    """The tile's share of the content loss, a mean over the whole image's features.

    ``content_loss`` is a mean over the interior; times the interior's share of the elements,
    the tiles' shares add up to the whole image's mean.
    """
    shares = []
    for name in layers:
        target = targets.content[name]
        interior = _interior(acts[name], tile, name)
        if interior.numel():
            rows, cols = tile.interior_in_image_features(name)
            shares.append(content_loss(interior, target[..., rows, cols]) * (interior.numel() / target.numel()))
    device = next(iter(targets.content.values())).device
    return sum(shares, start=torch.zeros((), device=device)) / len(layers)
