"""What a render holds in memory and writes to disk, in bytes: pure arithmetic, no tensors.

What a scale holds at its peak (the backward pass of one evaluation):
- runtime: the process before the render starts (Python, torch, our modules); on a GPU nothing;
- weights: VGG19's parameters (and their low-precision copy);
- state: image-sized float32 tensors: the painting, its gradient, the optimiser's history, the
  inputs, the frame being captured, the image a checkpoint snapshots;
- targets: the content features and Gram matrices the losses compare against;
- activations: what the backward pass keeps of the network (of one tile, when tiled), plus the
  gradients alive while it runs.

``scale_footprint`` answers all of it for one scale of a render, untiled and tiled; the memory
plan (``rendering/plan.py``) adds the device, the budget and the decision to tile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from timelapse_nst.engine.geometry import (
    Tile,
    channels,
    feature_positions,
    modules_up_to,
    stride,
    tile_grid,
    tile_overlap,
)
from timelapse_nst.images import MIN_STYLE_EDGE
from timelapse_nst.settings.config import Layers, Optimizer, RenderConfig

FLOAT32 = 4
INDEX = 8  # max-pool indices are int64
RGB = 3

WORKSPACE = 128 * 2**20
"""Besides tensors: oneDNN's primitive cache and scratch buffers and the allocator's arenas after
the first evaluations (CPU); cuDNN's workspace (GPU). Measured 100-160 MB on the CPU at 0.2-3
megapixels, fp32 and bf16."""

BACKWARD_GRADIENTS = 2
"""Gradients alive at once during the backward pass, in units of the largest activation: the
one flowing in and the one being produced (measured: 1.9-2.1x at 3 megapixels, fp32)."""


@dataclass(frozen=True)
class Memory:
    """Estimated peak bytes of one scale, by what holds them.

    An optimisation step (``activations`` of the network, one tile's when tiled, and the step's
    image-sized ``temporaries``) and the writing of a checkpoint (``checkpoint``) never run at
    once: the peak is the larger of the two on top of what stays.
    """

    runtime: int
    weights: int
    state: int
    targets: int
    activations: int
    temporaries: int
    checkpoint: int

    @property
    def total(self) -> int:
        step = self.activations + self.temporaries
        return self.runtime + self.weights + self.state + self.targets + max(step, self.checkpoint)


# -- sizes --------------------------------------------------------------------------------


def long_edge_size(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """(width, height) of an image of ``size`` scaled to ``long_edge`` (as ``images.resize_long_edge``)."""
    width, height = size
    scale = long_edge / max(width, height)
    if width >= height:
        return long_edge, max(1, round(height * scale))
    return max(1, round(width * scale)), long_edge


def png_bytes(width: int, height: int) -> int:
    """An uncompressed RGB PNG (compress_level 0, the frames' default): an upper bound for others."""
    raw = height * (width * RGB + 1)  # one filter byte per row
    return raw + 5 * math.ceil(raw / 65535) + 1024  # zlib's stored blocks, headers


# -- memory by part -------------------------------------------------------------------------


def _conv_params(layers: Iterable[str]) -> int:
    total, previous = 0, RGB
    for name in layers:
        if name.startswith("conv"):
            total += previous * channels(name) * 9 + channels(name)
            previous = channels(name)
    return total


def weights_bytes(layers: Layers, *, element: int, device_type: str) -> int:
    """All of VGG19's convolutions in fp32 (on the CPU), the ones in use on the device, their low copy."""
    used = _conv_params(modules_up_to(layers.deepest()))
    low = used * element if element != FLOAT32 else 0
    if device_type == "cpu":
        return _conv_params(modules_up_to("conv5_4")) * FLOAT32 + low
    return used * FLOAT32 + low


def _history_images(optimizer: Optimizer) -> int:
    """Image-sized tensors in the optimiser's state."""
    if optimizer.name == "lbfgs" and optimizer.line_search == "none":  # bounded L-BFGS (lbfgs.py)
        return 2 * optimizer.history_size + 3  # (s, y) pairs, z, the direction, the kept gradient
    if optimizer.name == "lbfgs":
        return 2 * optimizer.history_size + 2  # torch's: (s, y) pairs, the direction, the previous gradient
    return 2  # Adam's two moments


def state_bytes(pixels: int, style_pixels: int, optimizer: Optimizer) -> int:
    """Image-sized fp32 tensors that stay: painting, gradient, inputs (the paintings: ``style_pixels``
    in all), the optimiser's state."""
    painting, inputs = 2, 2  # the pixels and their gradient; the content and the initial image
    return (painting + inputs + _history_images(optimizer)) * pixels * RGB * FLOAT32 + style_pixels * RGB * FLOAT32


def step_bytes(pixels: int) -> int:
    """Image-sized temporaries of an optimiser step and a frame capture (beside the evaluation)."""
    # flat gradient, y, s, the two-loop's q; TV's two differences; to_uint8's float copies
    return (4 + 2 + 3) * pixels * RGB * FLOAT32


def checkpoint_bytes(pixels: int, optimizer: Optimizer) -> int:
    """A checkpoint's file: the optimiser's state and the image (fp32)."""
    return (_history_images(optimizer) + 1) * pixels * RGB * FLOAT32


def targets_bytes(height: int, width: int, layers: Layers) -> int:
    """Content features (fp32) and one Gram per style layer, twice (target and current)."""
    content = sum(channels(n) * feature_positions(height, width, n) * FLOAT32 for n in layers.content)
    grams = sum(2 * channels(n) ** 2 * FLOAT32 for n in layers.style)
    return content + grams


def saved_bytes(height: int, width: int, layers: Layers, *, element: int, pooling: str = "max") -> int:
    """What a forward pass through the network and the losses keeps for the backward, for an (h, w) input.

    A convolution's output is kept by the ReLU after it (in place: the next convolution keeps
    the same tensor), and once more when a loss keeps the conv output itself (a Gram always; the
    content loss in fp32, while in low precision it keeps an fp32 copy); a max-pool keeps its
    output and its int64 indices.
    """
    modules = modules_up_to(layers.deepest())
    saved = RGB * element * height * width
    h, w = height, width
    for index, name in enumerate(modules):
        if name.startswith("pool"):
            h, w = h // 2, w // 2
            saved += channels(name) * h * w * (element + (INDEX if pooling == "max" else 0))
        elif name.startswith("conv"):
            by_relu = index + 1 < len(modules)
            by_loss = name in layers.style or (name in layers.content and element == FLOAT32)
            saved += channels(name) * h * w * element * (int(by_relu) + int(by_loss))
    if element != FLOAT32:
        saved += sum(channels(n) * feature_positions(height, width, n) * FLOAT32 for n in layers.content)
    return saved


def backward_bytes(height: int, width: int, layers: Layers, *, element: int, pooling: str = "max") -> int:
    """The evaluation's peak: what the forward pass keeps plus the gradients alive in the backward."""
    largest = max(channels(n) * feature_positions(height, width, n) for n in modules_up_to(layers.deepest()))
    saved = saved_bytes(height, width, layers, element=element, pooling=pooling)
    return saved + BACKWARD_GRADIENTS * largest * element


def inference_bytes(height: int, width: int, layers: Layers, *, element: int) -> int:
    """A forward pass without a graph (targets, tiled pass 1): the kept outputs and two live layers."""
    kept = set(layers.content) | set(layers.style)
    total, largest = 0, 0
    for name in modules_up_to(layers.deepest()):
        size = channels(name) * feature_positions(height, width, name) * element
        largest = max(largest, size)
        if name in kept:
            total += size
    return total + 2 * largest


# -- one scale, one render --------------------------------------------------------------------


def scale_memory(
    height: int,
    width: int,
    styles: Sequence[tuple[int, int]],
    *,
    layers: Layers,
    optimizer: Optimizer,
    pooling: str,
    element: int,
    device_type: str,
    runtime: int,
    tiles: list[Tile] | None = None,
) -> Memory:
    """Peak memory of one scale with a (height, width) painting, untiled or with ``tiles``.

    ``styles``: (width, height) of each painting at this scale. ``element``: bytes per
    activation (4 fp32, 2 bf16/fp16). ``runtime``: bytes the process holds before the render
    (0 on a GPU). Tiled, the style targets are computed in tiles alike.
    """
    if tiles is None:
        step = backward_bytes(height, width, layers, element=element, pooling=pooling)
        setup = max(inference_bytes(h, w, layers, element=element) for w, h in [(width, height), *styles])
    else:
        top, bottom, left, right = max(tiles, key=lambda t: t.context_pixels).context
        tile_h, tile_w = bottom - top, right - left
        # A tile's graph, plus its patch and gradient and the interior gradients of pass 2.
        step = backward_bytes(tile_h, tile_w, layers, element=element, pooling=pooling)
        step += inference_bytes(tile_h, tile_w, layers, element=element) // 2 + 2 * RGB * FLOAT32 * tile_h * tile_w
        setup = inference_bytes(tile_h, tile_w, layers, element=element)
    return Memory(
        runtime=runtime,
        weights=weights_bytes(layers, element=element, device_type=device_type),
        state=state_bytes(height * width, sum(w * h for w, h in styles), optimizer),
        targets=targets_bytes(height, width, layers),
        activations=WORKSPACE + max(step, setup),
        temporaries=step_bytes(height * width),
        # A checkpoint streams the state to its file: only the snapshot's copy of the image, in
        # the host's memory (on a GPU it takes none of the device's).
        checkpoint=0 if device_type == "cuda" else height * width * RGB * FLOAT32,
    )


@dataclass(frozen=True)
class ScaleFootprint:
    """One scale of a render in bytes: its painting's size, its peak memory untiled and tiled
    (in ``tiles`` tiles), one frame's PNG, and a checkpoint's file at this size."""

    width: int
    height: int
    untiled: Memory
    tiled: Memory
    tiles: int
    frame_bytes: int
    checkpoint_bytes: int


def scale_footprint(
    config: RenderConfig,
    size: int,
    content_size: tuple[int, int],
    style_sizes: Sequence[tuple[int, int]],
    *,
    element: int,
    device_type: str,
    runtime: int,
) -> ScaleFootprint:
    """What a scale of ``size`` px (long edge) holds and writes, for (width, height) input images."""
    width, height = long_edge_size(content_size, size)
    style_edge = max(MIN_STYLE_EDGE, round(config.style_scale * size))  # as images.resize_style
    styles = [long_edge_size(painting, style_edge) for painting in style_sizes]
    deepest = config.layers.deepest()
    overlap = tile_overlap(config.tiling, deepest)
    tiles = tile_grid(height, width, tile=config.tiling.tile, overlap=overlap, align=stride(deepest))
    common = {"layers": config.layers, "optimizer": config.optimizer, "pooling": config.pooling}
    common.update(element=element, device_type=device_type, runtime=runtime)
    frame_width, frame_height = long_edge_size((width, height), min(size, config.frame_edge()))
    return ScaleFootprint(
        width,
        height,
        untiled=scale_memory(height, width, styles, **common),
        tiled=scale_memory(height, width, styles, **common, tiles=tiles),
        tiles=len(tiles),
        frame_bytes=png_bytes(frame_width, frame_height),
        checkpoint_bytes=checkpoint_bytes(width * height, config.optimizer),
    )
