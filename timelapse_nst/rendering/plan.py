"""The memory plan: the peak memory and the disk a render will take, worked out before it allocates.

Pure arithmetic from the image sizes, the layers, the activation precision, the optimiser and
the device: it runs no network and allocates no tensor, so ``timelapse-nst plan`` answers in a
moment and ``render`` can refuse a size that cannot fit before it writes anything.

What a scale holds is estimated in ``footprint``; here: the device's budget, which scales are
tiled, the disk, and the refusal of what cannot fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from timelapse_nst.engine.footprint import FLOAT32, Memory, checkpoint_bytes, long_edge_size, png_bytes, scale_memory
from timelapse_nst.engine.geometry import border_reach, stride, tile_grid
from timelapse_nst.images import MIN_STYLE_EDGE
from timelapse_nst.rendering.capture import captured_iterations
from timelapse_nst.settings.config import RenderConfig
from timelapse_nst.settings.scales import plan_scales

CPU_MARGIN = 0.10
"""Part of the available RAM left to the rest of the machine (and to page cache)."""

GPU_MARGIN = 0.05
"""Part of a GPU's free memory left for cuDNN workspaces and fragmentation."""


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
                scale.index,
                scale.size,
                height,
                width,
                tiled,
                memory,
                untiled,
                len(tiles) if tiled else 1,
                frames,
                frames * png_bytes(frame_w, frame_h),
            )
        )
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
    """Resident memory of this process now (psutil: VmRSS on Linux, the working set on Windows)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def available_ram() -> int:
    """RAM the system could give without swapping (psutil: MemAvailable on Linux; on macOS and
    Windows their own measure of it), on every platform."""
    import psutil

    return int(psutil.virtual_memory().available)


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
    from timelapse_nst.engine.devices import activation_dtype, pick_device

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
        config,
        content_size,
        style_sizes,
        device_type=device_type,
        element=element,
        runtime=runtime,
        budget=memory,
        decided=decided,
    )


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
