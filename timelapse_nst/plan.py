"""The memory plan: the peak memory and the disk a render will take, worked out before it allocates.

Pure arithmetic from the image sizes, the layers, the activation precision, the optimiser and
the device: it runs no network and allocates no tensor, so ``timelapse-nst plan`` answers in a
moment and ``render`` can refuse a size that cannot fit before it writes anything.

What a scale holds at its peak (the backward pass of one evaluation):
- runtime: the process before the render starts (Python, torch, our modules); on a GPU nothing;
- weights: VGG19's parameters (and their low-precision copy);
- state: image-sized float32 tensors: the painting, its gradient, the optimiser's history, the
  inputs, the frame being captured, the image a checkpoint snapshots;
- targets: the content features and Gram matrices the losses compare against;
- activations: what the backward pass keeps of the network (of one tile, when tiled), plus the
  gradients alive while it runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from timelapse_nst.capture import captured_iterations
from timelapse_nst.config import Layers, Optimizer, RenderConfig
from timelapse_nst.geometry import Tile, border_reach, channels, modules_up_to, stride, tile_grid
from timelapse_nst.images import MIN_STYLE_EDGE
from timelapse_nst.scales import plan_scales

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

CPU_MARGIN = 0.10
"""Part of the available RAM left to the rest of the machine (and to page cache)."""

GPU_MARGIN = 0.05
"""Part of a GPU's free memory left for cuDNN workspaces and fragmentation."""


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


@dataclass(frozen=True)
class ScaleEstimate:
    """One scale of the render: its size, whether it is tiled, its peak memory and its frames."""

    index: int
    size: int
    height: int
    width: int
    tiled: bool
    memory: Memory
    untiled: Memory
    tiles: int
    frames: int
    frame_bytes: int


@dataclass(frozen=True)
class Plan:
    """Memory and disk of a whole render on one device (``element``: bytes per activation)."""

    device: str
    element: int
    runtime: int
    budget: int
    scales: tuple[ScaleEstimate, ...]
    checkpoint_bytes: int
    final_bytes: int

    @property
    def peak(self) -> int:
        return max(scale.memory.total for scale in self.scales)

    @property
    def fits(self) -> bool:
        return self.peak <= self.budget

    @property
    def disk(self) -> int:
        """Frames, the final painting and two checkpoints (the current and the previous)."""
        return sum(s.frame_bytes for s in self.scales) + self.final_bytes + 2 * self.checkpoint_bytes


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
    if optimizer.name == "lbfgs":
        return 2 * optimizer.history_size + 2  # (s, y) pairs, the direction, the previous gradient
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
    content = sum(channels(n) * (height // stride(n)) * (width // stride(n)) * FLOAT32 for n in layers.content)
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
        saved += sum(channels(n) * (height // stride(n)) * (width // stride(n)) * FLOAT32 for n in layers.content)
    return saved


def backward_bytes(height: int, width: int, layers: Layers, *, element: int, pooling: str = "max") -> int:
    """The evaluation's peak: what the forward pass keeps plus the gradients alive in the backward."""
    largest = max(channels(n) * (height // stride(n)) * (width // stride(n)) for n in modules_up_to(layers.deepest()))
    saved = saved_bytes(height, width, layers, element=element, pooling=pooling)
    return saved + BACKWARD_GRADIENTS * largest * element


def inference_bytes(height: int, width: int, layers: Layers, *, element: int) -> int:
    """A forward pass without a graph (targets, tiled pass 1): the kept outputs and two live layers."""
    kept = set(layers.content) | set(layers.style)
    total, largest = 0, 0
    for name in modules_up_to(layers.deepest()):
        size = channels(name) * (height // stride(name)) * (width // stride(name)) * element
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


def frame_edge(config: RenderConfig) -> int:
    """The long edge frames are stored at, at most: ``capture.max_size``, else the video's long side."""
    return config.capture.max_size or max(config.video.size)


def overlap_pixels(config: RenderConfig) -> int:
    """The context around each tile: ``tiling.overlap``, or how far the deepest layer sees."""
    overlap = config.tiling.overlap
    return border_reach(config.layers.deepest()) if overlap == "auto" else int(overlap)


def make_plan(
    config: RenderConfig,
    content_size: tuple[int, int],
    style_sizes: Sequence[tuple[int, int]],
    *,
    device_type: str,
    element: int,
    runtime: int,
    budget: int,
    decided: Sequence[bool] | None = None,
) -> Plan:
    """Memory and disk of every scale of a render, and which scales are tiled.

    ``content_size``/``style_sizes``: (width, height) of the input images. ``tiling.mode``
    ``on`` tiles every scale, ``auto`` exactly the scales whose untiled peak exceeds ``budget``;
    ``decided`` (one flag per scale, as a render recorded them) overrides ``auto``'s choice.
    """
    deepest = config.layers.deepest()
    plans = plan_scales(config)
    captured = set(captured_iterations(plans[-1].last, config.capture))
    common = {"layers": config.layers, "optimizer": config.optimizer, "pooling": config.pooling}
    common.update(element=element, device_type=device_type, runtime=runtime)
    estimates = []
    for scale in plans:
        width, height = long_edge_size(content_size, scale.size)
        style_edge = max(MIN_STYLE_EDGE, round(config.style_scale * scale.size))
        styles = [long_edge_size(size, style_edge) for size in style_sizes]
        untiled = scale_memory(height, width, styles, **common)
        tiles = tile_grid(height, width, tile=config.tiling.tile, overlap=overlap_pixels(config), align=stride(deepest))
        tiled = {"on": True, "off": False, "auto": untiled.total > budget}[config.tiling.mode]
        if decided is not None and config.tiling.mode == "auto" and len(decided) == len(plans):
            tiled = decided[scale.index]
        memory = scale_memory(height, width, styles, **common, tiles=tiles) if tiled else untiled
        frames = sum(1 for i in range(0 if scale.index == 0 else scale.first, scale.last + 1) if i in captured)
        frame_w, frame_h = long_edge_size((width, height), min(scale.size, frame_edge(config)))
        estimates.append(
            ScaleEstimate(
                scale.index, scale.size, height, width, tiled, memory, untiled, len(tiles) if tiled else 1,
                frames, frames * png_bytes(frame_w, frame_h),
            )
        )  # fmt: skip
    width, height = long_edge_size(content_size, config.size)
    return Plan(
        device=device_type,
        element=element,
        runtime=runtime,
        budget=budget,
        scales=tuple(estimates),
        checkpoint_bytes=checkpoint_bytes(width * height, config.optimizer),
        final_bytes=png_bytes(width, height),
    )


# -- what this machine has --------------------------------------------------------------------


def process_memory() -> int:
    """Resident memory of this process now (Linux: VmRSS; elsewhere its peak so far)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def available_ram() -> int:
    """RAM the kernel could give without swapping (Linux: MemAvailable), else the free pages."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def memory_budget(device: torch.device, *, runtime: int) -> int:
    """Bytes a render on ``device`` may use at its peak, on the scale the plan counts them.

    CUDA: the device's free memory less ``GPU_MARGIN`` (the plan counts device memory only).
    CPU (and Apple's unified memory): this process's memory now plus the available RAM less
    ``CPU_MARGIN`` (the plan counts the whole process, ``runtime`` included).
    """
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * (1 - GPU_MARGIN))
    return runtime + int(available_ram() * (1 - CPU_MARGIN))


# -- a render on this machine ------------------------------------------------------------------


def plan_render(
    config: RenderConfig,
    content_size: tuple[int, int],
    style_sizes: Sequence[tuple[int, int]],
    *,
    memory: int | None = None,
    decided: Sequence[bool] | None = None,
) -> Plan:
    """The plan of a render on the device ``config.device`` picks here, for its free memory.

    ``memory``: the bytes the render may take at its peak instead (the whole process on the
    CPU; the device's memory on a GPU, which then need not exist here). ``decided``: see
    ``make_plan``.
    """
    from timelapse_nst.devices import activation_dtype, pick_device

    if memory is not None and config.device in ("cuda", "mps"):
        device_type = config.device
        element = FLOAT32 if config.precision == "fp32" else 2  # a GPU's auto is bf16 or fp16
    else:
        device = pick_device(config.device)
        device_type = device.type
        element = FLOAT32 if activation_dtype(config.precision, device) is None else 2
    runtime = 0 if device_type == "cuda" else process_memory()
    if memory is None:
        memory = memory_budget(device, runtime=runtime)
    return make_plan(
        config, content_size, style_sizes, device_type=device_type, element=element, runtime=runtime,
        budget=memory, decided=decided,
    )  # fmt: skip


def largest_size(
    config: RenderConfig, plan: Plan, content_size: tuple[int, int], style_sizes: Sequence[tuple[int, int]]
) -> int | None:
    """The largest ``size`` (long edge, at most ``config.size``) whose plan fits ``plan``'s budget
    on its device; None when not even 16 px fits."""

    def fits(size: int) -> bool:
        candidate = RenderConfig.model_validate({**config.model_dump(mode="json"), "size": size})
        machine = {"device_type": plan.device, "element": plan.element, "runtime": plan.runtime, "budget": plan.budget}
        return make_plan(candidate, content_size, style_sizes, **machine).fits

    low, high = 16, config.size
    if not fits(low):
        return None
    while low < high:  # the peak grows with the size: bisect
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def refuse_if_too_large(
    config: RenderConfig, plan: Plan, content_size: tuple[int, int], style_sizes: Sequence[tuple[int, int]]
) -> None:
    """One ``UserError`` line when the render cannot fit, naming the largest size that does."""
    from timelapse_nst.errors import UserError

    if plan.fits:
        return
    worst = max(plan.scales, key=lambda scale: scale.memory.total)
    how = f"tiled in {worst.tiles}" if worst.tiled else "untiled"
    need = (
        f"a {config.size} px painting needs about {gib(plan.peak)} at its peak ({worst.size} px, {how}); "
        f"{gib(plan.budget)} is available on the {plan.device}"
    )
    if config.tiling.mode == "off":
        tiled = RenderConfig.model_validate({**config.model_dump(mode="json"), "tiling": {"mode": "auto"}})
        fits = largest_size(tiled, plan, content_size, style_sizes)
        if fits == config.size:
            raise UserError(f"{need}: tiling would fit it: --set tiling.mode=auto")
    fits = largest_size(config, plan, content_size, style_sizes)
    if fits is None:
        raise UserError(f"{need}, and not even a 16 px painting fits: free some memory")
    raise UserError(f"{need}: the largest size that fits is {fits} px (--size {fits})")


def gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def describe(plan: Plan) -> list[str]:
    """The plan as text lines: one per scale, then disk and the verdict (what `plan` prints)."""
    precision = "fp32" if plan.element == FLOAT32 else "16-bit"
    lines = [
        f"device {plan.device} ({precision} activations), {gib(plan.budget)} available to the render",
        f"{'scale':>5}  {'size':>11}  {'tiled':<10}  {'peak memory':>11}  {'frames':>6}  {'frames on disk':>14}",
    ]
    for scale in plan.scales:
        tiled = f"yes, {scale.tiles}" if scale.tiled else "no"
        size = f"{scale.width}x{scale.height}"
        lines.append(
            f"{scale.index + 1:>5}  {size:>11}  {tiled:<10}  {gib(scale.memory.total):>11}  {scale.frames:>6}  "
            f"{gib(scale.frame_bytes):>14}"
        )
    lines.append(
        f"disk: {gib(plan.disk)} (frames {gib(sum(s.frame_bytes for s in plan.scales))}, "
        f"checkpoints 2 x {gib(plan.checkpoint_bytes)}, final.png {gib(plan.final_bytes)})"
    )
    verdict = "fits" if plan.fits else "does NOT fit"
    lines.append(f"peak memory {gib(plan.peak)} of {gib(plan.budget)}: {verdict}")
    return lines


def plan_record(plan: Plan) -> dict[str, Any]:
    """What render.yaml records of the plan: which scales are tiled, so that a resume keeps
    auto's choice and computes what the uninterrupted render would have. (Only that: estimates
    vary with the free memory of the moment, and render.yaml stays byte-identical on resume.)"""
    return {"tiled": [scale.tiled for scale in plan.scales]}


def recorded_tiling(manifest: Mapping[str, Any]) -> list[bool] | None:
    """The per-scale tiling a render recorded in render.yaml (None: recorded nothing)."""
    tiled = (manifest.get("plan") or {}).get("tiled")
    return [bool(flag) for flag in tiled] if isinstance(tiled, list) else None


def is_out_of_memory(error: BaseException) -> bool:
    """A device that could not allocate: CUDA's OutOfMemoryError, or the CPU allocator's refusal
    (rare on Linux, where the kernel's OOM killer usually ends the process instead)."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
