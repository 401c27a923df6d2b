"""The memory plan: the peak memory and the disk a render will take, worked out before it allocates.

Pure arithmetic from the image sizes, the layers, the activation precision, the optimiser and
the device: it runs no network and allocates no tensor, so ``timelapse-nst plan`` answers in a
moment and ``render`` can refuse, before it writes anything, what cannot fit.

Each question is asked once, of the module that knows: the device, its precision and its memory
(``devices.machine``); what each scale holds and writes, untiled and tiled (``footprint``, which
asks the geometry for the tiles). Here: which scales are tiled, the disk against what is free,
and the one-line refusals.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from timelapse_nst.engine import devices
from timelapse_nst.engine.devices import Machine
from timelapse_nst.engine.footprint import Memory, ScaleFootprint, png_bytes, scale_footprint
from timelapse_nst.errors import UserError, option, setting
from timelapse_nst.rendering.capture import captured_iterations
from timelapse_nst.settings.config import RenderConfig
from timelapse_nst.settings.scales import plan_scales


@dataclass(frozen=True)
class ScaleEstimate:
    """One scale of the render: its size, whether it is tiled, its peak memory and its frames."""

    index: int
    size: int
    footprint: ScaleFootprint
    tiled: bool
    frames: int

    @property
    def memory(self) -> Memory:
        """Its peak memory, as it runs: tiled or not."""
        return self.footprint.tiled if self.tiled else self.footprint.untiled

    @property
    def tiles(self) -> int:
        return self.footprint.tiles if self.tiled else 1

    @property
    def frame_bytes(self) -> int:
        """All of its frames' PNGs."""
        return self.frames * self.footprint.frame_bytes


@dataclass(frozen=True)
class Plan:
    """Memory and disk of a whole render of ``config`` on one ``machine``.

    ``disk_free``: the free space where the run folder ``out`` goes (None: not asked); the folder
    already holds ``disk_held`` bytes of this render. ``folder`` and ``weights`` say, for
    ``timelapse-nst plan``, what the run folder holds and where the weights come from.
    """

    config: RenderConfig
    content_size: tuple[int, int]
    style_sizes: tuple[tuple[int, int], ...]
    machine: Machine
    scales: tuple[ScaleEstimate, ...]
    out: Path | None = None
    disk_free: int | None = None
    disk_held: int = 0
    folder: str | None = None
    weights: str | None = None
    folder_refused: bool = False

    @property
    def peak(self) -> int:
        return max(scale.memory.total for scale in self.scales)

    @property
    def fits(self) -> bool:
        """The peak memory fits the budget."""
        return self.peak <= self.machine.budget

    @property
    def fits_if_tiled(self) -> bool:
        """Tiling the scales that need it (``tiling.mode: auto``) would fit the budget."""
        budget = self.machine.budget
        return all(min(s.footprint.untiled.total, s.footprint.tiled.total) <= budget for s in self.scales)

    @property
    def checkpoint_bytes(self) -> int:
        return self.scales[-1].footprint.checkpoint_bytes  # the full-size scale's are the largest

    @property
    def final_bytes(self) -> int:
        full_size = self.scales[-1].footprint
        return png_bytes(full_size.width, full_size.height)

    @property
    def disk(self) -> int:
        """Frames, the final painting and two checkpoints (the current and the previous)."""
        return sum(s.frame_bytes for s in self.scales) + self.final_bytes + 2 * self.checkpoint_bytes

    @property
    def disk_fits(self) -> bool:
        return self.disk_free is None or self.disk - self.disk_held <= self.disk_free

    @property
    def starts(self) -> bool:
        """``render`` with the same arguments would start: memory, disk and run folder allow it."""
        return self.fits and self.disk_fits and not self.folder_refused

    @property
    def record(self) -> dict[str, Any]:
        """What render.yaml records of the plan, so that a resume computes what the uninterrupted
        render would have: which scales are tiled (auto's choice) and the activations' precision.
        (Only that: estimates vary with the free memory of the moment, and render.yaml stays
        byte-identical on resume.)"""
        return {"tiled": [scale.tiled for scale in self.scales], "activations": self.machine.activations}


def plan_render(
    config: RenderConfig,
    content_size: tuple[int, int],
    style_sizes: Sequence[tuple[int, int]],
    *,
    machine: Machine | None = None,
    memory: int | None = None,
    elsewhere: bool = False,
    decided: Sequence[bool] | None = None,
    out: Path | None = None,
) -> Plan:
    """The plan of a render on the device ``config.device`` picks here, for its free memory.

    ``content_size``/``style_sizes``: (width, height) of the input images. ``memory``: the bytes
    the render may take at its peak instead (the whole process on the CPU; the device's memory
    on a GPU, which with ``elsewhere`` need not be here). ``machine``: plan for that machine
    (the device is not asked). ``tiling.mode`` ``on`` tiles every scale, ``auto`` exactly the
    scales whose untiled peak exceeds the budget; ``decided`` (one flag per scale, as a render
    recorded them) overrides ``auto``'s choice. ``out``: the run folder, whose free disk is asked.
    """
    # 1. The device, its precision and its memory: asked once.
    here = machine or devices.machine(config.device, config.precision, memory=memory, elsewhere=elsewhere)
    # 2. Each scale's bytes, untiled and tiled, and which iterations become its frames.
    scales = plan_scales(config)
    captured = set(captured_iterations(scales[-1].last, config.capture))
    counts = {"element": here.element, "device_type": here.device, "runtime": here.runtime}
    estimates = []
    for scale in scales:
        footprint = scale_footprint(config, scale.size, content_size, style_sizes, **counts)
        # 3. Tiled where the mode says so; auto: where the untiled peak exceeds the budget.
        tiled = {"on": True, "off": False, "auto": footprint.untiled.total > here.budget}[config.tiling.mode]
        if decided is not None and config.tiling.mode == "auto" and len(decided) == len(scales):
            tiled = decided[scale.index]
        frames = sum(1 for i in range(0 if scale.index == 0 else scale.first, scale.last + 1) if i in captured)
        estimates.append(ScaleEstimate(scale.index, scale.size, footprint, tiled, frames))
    free = None if out is None else free_disk(out)
    return Plan(config, tuple(content_size), tuple(style_sizes), here, tuple(estimates), out=out, disk_free=free)


def free_disk(folder: Path) -> int | None:
    """Bytes free on the file system that holds ``folder``, or will (its nearest existing parent);
    None where the platform cannot tell (then the disk is not checked up front)."""
    existing = folder.absolute()
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    usage = getattr(shutil, "disk_usage", None)  # statvfs on POSIX, GetDiskFreeSpaceEx on Windows
    try:
        return None if usage is None else int(usage(existing).free)
    except OSError:
        return None


def largest_size(plan: Plan) -> int | None:
    """The largest ``size`` (long edge, at most the plan's) whose plan fits ``plan``'s budget on
    its machine; None when not even 16 px fits."""

    def fits(size: int) -> bool:
        candidate = RenderConfig.model_validate({**plan.config.model_dump(mode="json"), "size": size})
        return plan_render(candidate, plan.content_size, plan.style_sizes, machine=plan.machine).fits

    low, high = 16, plan.config.size
    if not fits(low):
        return None
    while low < high:  # the peak grows with the size: bisect
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def refuse_what_cannot_fit(plan: Plan, *, disk: bool = True) -> None:
    """One ``UserError`` line when the render cannot fit: in memory (naming the largest size that
    does), or, with ``disk``, on the disk where its run folder goes (the estimate and what is free)."""
    if not plan.fits:
        raise UserError(_memory_refusal(plan))
    if disk and not plan.disk_fits:
        raise UserError(
            f"the render needs about {gib(plan.disk - plan.disk_held)} of disk ({_disk_parts(plan)}); "
            f"{gib(plan.disk_free or 0)} is free at {plan.out}: free some space or choose another {option('out')}"
        )


def _memory_refusal(plan: Plan) -> str:
    config = plan.config
    worst = max(plan.scales, key=lambda scale: scale.memory.total)
    how = f"tiled in {worst.tiles}" if worst.tiled else "untiled"
    need = (
        f"a {config.size} px painting needs about {gib(plan.peak)} at its peak ({worst.size} px, {how}); "
        f"{gib(plan.machine.budget)} is available on the {plan.machine.device}"
    )
    if config.tiling.mode == "off" and plan.fits_if_tiled:
        return f"{need}: tiling would fit it: {setting('tiling.mode', 'auto')}"
    fits = largest_size(plan)
    if fits is None:
        return f"{need}, and not even a 16 px painting fits: free some memory"
    return f"{need}: the largest size that fits is {fits} px ({option('size', fits)})"


def gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def describe(plan: Plan) -> list[str]:
    """The plan as text lines: one per scale, then disk, weights, run folder and the verdicts
    (what `plan` prints)."""
    precision = "fp32" if plan.machine.activations == "fp32" else "16-bit"
    lines = [
        f"device {plan.machine.device} ({precision} activations), {gib(plan.machine.budget)} available to the render",
        f"{'scale':>5}  {'size':>11}  {'tiled':<10}  {'peak memory':>11}  {'frames':>6}  {'frames on disk':>14}",
    ]
    for scale in plan.scales:
        tiled = f"yes, {scale.tiles}" if scale.tiled else "no"
        size = f"{scale.footprint.width}x{scale.footprint.height}"
        lines.append(
            f"{scale.index + 1:>5}  {size:>11}  {tiled:<10}  {gib(scale.memory.total):>11}  {scale.frames:>6}  "
            f"{gib(scale.frame_bytes):>14}"
        )
    lines.append(f"disk: {gib(plan.disk)} ({_disk_parts(plan)})")
    lines += [f"weights: {plan.weights}"] if plan.weights is not None else []
    lines += [f"run folder: {plan.folder}"] if plan.folder is not None else []
    if plan.disk_free is not None:
        held = f" (it holds {gib(plan.disk_held)} of them already)" if plan.disk_held else ""
        verdict = "fits" if plan.disk_fits else "does NOT fit"
        lines.append(f"free disk there: {gib(plan.disk_free)} for {gib(plan.disk)}{held}: {verdict}")
    verdict = "fits" if plan.fits else "does NOT fit"
    lines.append(f"peak memory {gib(plan.peak)} of {gib(plan.machine.budget)}: {verdict}")
    return lines


def _disk_parts(plan: Plan) -> str:
    frames = gib(sum(s.frame_bytes for s in plan.scales))
    return f"frames {frames}, checkpoints 2 x {gib(plan.checkpoint_bytes)}, final.png {gib(plan.final_bytes)}"


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
