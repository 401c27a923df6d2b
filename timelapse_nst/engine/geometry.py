"""VGG19's geometry and the tile grid: pure integer arithmetic, no torch.

What the memory plan and the tiled objective both need to know about the network without
running it: the channels and stride of every layer, how far the zero padding at a tile's
edge reaches into its features, and where tiles and their context lie in an image.

A tile's ``Bounds`` are ``(top, bottom, left, right)`` in image pixels, bottom/right exclusive.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from timelapse_nst.settings.config import VGG19_LAYERS, Tiling, layer_stride

# Output channels of each block's convolutions (torchvision's vgg19().features).
_BLOCK_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}

Bounds = tuple[int, int, int, int]


def channels(layer: str) -> int:
    """Channels of a layer's output (a pool keeps its block's channels)."""
    return _BLOCK_CHANNELS[int(layer.removeprefix("conv").removeprefix("relu").removeprefix("pool")[0])]


def stride(layer: str) -> int:
    """Image pixels per feature position at ``layer``."""
    return layer_stride(layer)


def modules_up_to(layer: str) -> tuple[str, ...]:
    return VGG19_LAYERS[: VGG19_LAYERS.index(layer) + 1]


def feature_length(length: int, layer: str) -> int:
    """Feature positions along an image side of ``length`` px (each 2x2 pool floors)."""
    return length // stride(layer)


def feature_positions(height: int, width: int, layer: str) -> int:
    """Feature positions of a (height, width) image at ``layer``: its activations are channels x this."""
    return feature_length(height, layer) * feature_length(width, layer)


def border_reach(layer: str) -> int:
    """How many image pixels from a cut edge the features of ``layer`` differ from the uncut image's.

    A tile cut out of a larger image is zero-padded where its neighbours' pixels were. Each 3x3
    convolution spreads that error one feature position inwards, each 2x2 pool halves it
    (rounding up). Context of at least this many pixels around a tile makes the tile's interior
    features exactly those of the whole image (for relu5_1: 80 px; relu4_2: 40 px).
    """
    reach, step = 0, 1
    for name in modules_up_to(layer):
        if name.startswith("conv"):
            reach += 1
        elif name.startswith("pool"):
            reach, step = -(-reach // 2), step * 2
    return reach * step


def tile_overlap(tiling: Tiling, deepest: str) -> int:
    """The context read around each tile: ``tiling.overlap``, or how far the deepest layer sees."""
    return border_reach(deepest) if tiling.overlap == "auto" else int(tiling.overlap)


@dataclass(frozen=True)
class Tile:
    """One tile: the ``interior`` whose features it contributes, read with ``context`` around it."""

    interior: Bounds
    context: Bounds

    def interior_in_features(self, layer: str) -> tuple[slice, slice]:
        """Rows and columns of the interior inside the tile's own features at ``layer``.

        Exact because every interior and context edge is a multiple of the layer's stride, or
        the image's edge (where the tile's features floor exactly as the whole image's do).
        """
        s = stride(layer)
        top, bottom, left, right = self.interior
        ctop, _, cleft, _ = self.context
        return slice(top // s - ctop // s, bottom // s - ctop // s), slice(
            left // s - cleft // s, right // s - cleft // s
        )

    def interior_in_image_features(self, layer: str) -> tuple[slice, slice]:
        """Rows and columns of the interior inside the whole image's features at ``layer``."""
        s = stride(layer)
        top, bottom, left, right = self.interior
        return slice(top // s, bottom // s), slice(left // s, right // s)

    @property
    def context_pixels(self) -> int:
        top, bottom, left, right = self.context
        return (bottom - top) * (right - left)


def _spans(length: int, tile: int, align: int) -> list[tuple[int, int]]:
    """Cut ``length`` into about equal spans of at most ~``tile`` px, cuts on multiples of ``align``.

    Equal spans rather than full tiles plus a sliver: the same number of tiles carry the least
    context overhead, and no tile is so thin that its context dwarfs it.
    """
    count = max(1, math.ceil(length / tile))
    cuts = [0, *(round(length * k / count / align) * align for k in range(1, count)), length]
    cuts = sorted(set(cuts))
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def tile_grid(height: int, width: int, *, tile: int, overlap: int, align: int) -> list[Tile]:
    """Tiles covering an image, row by row; interiors partition it, contexts overlap by ``overlap``.

    ``align`` is the deepest stride in use (2^pools): interior edges on multiples of it keep every
    max-pool's 2x2 grid where it is in the whole image. The context margin is ``overlap`` rounded
    up to a multiple of ``align`` for the same reason, and stops at the image's edges.
    """
    if tile < align:
        raise ValueError(f"tile {tile} px is smaller than the deepest layer's stride ({align} px)")
    margin = -(-overlap // align) * align
    tiles = []
    for top, bottom in _spans(height, tile, align):
        for left, right in _spans(width, tile, align):
            context = (
                max(0, top - margin),
                min(height, bottom + margin),
                max(0, left - margin),
                min(width, right + margin),
            )
            tiles.append(Tile((top, bottom, left, right), context))
    return tiles
