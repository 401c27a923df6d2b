"""Which device and activation precision a render uses, and how much memory it may take there."""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from timelapse_nst.engine.footprint import FLOAT32
from timelapse_nst.errors import UserError, setting

CPU_MARGIN = 0.10
"""Part of the available RAM left to the rest of the machine (and to page cache)."""

GPU_MARGIN = 0.05
"""Part of a GPU's free memory left for cuDNN workspaces and fragmentation."""


@dataclass(frozen=True)
class Machine:
    """Where a render runs, as the memory plan counts it: the device type, the activations'
    precision, what the process holds before the render (0 on a GPU) and the peak it may reach."""

    device: str  # "cpu", "cuda" or "mps"
    activations: str  # "fp32", "bf16", "fp16"; "16-bit" for a GPU planned from elsewhere
    runtime: int
    budget: int

    @property
    def element(self) -> int:
        """Bytes per activation."""
        return FLOAT32 if self.activations == "fp32" else 2


def machine(name: str, precision: str, *, memory: int | None = None, elsewhere: bool = False) -> Machine:
    """The device questions, asked once: which device ``name`` picks here, its activations for
    ``precision``, and the bytes a render may take there (``memory`` when given).

    ``elsewhere``: with ``memory`` and a GPU ``name``, plan for that GPU without it being here
    (its ``auto`` precision is 16-bit: bf16 or fp16, whichever it supports).
    """
    if elsewhere and memory is not None and name in ("cuda", "mps"):
        activations = "16-bit" if precision == "auto" else precision
        return Machine(name, activations, runtime=0 if name == "cuda" else process_memory(), budget=memory)
    device = pick_device(name)
    activations = precision_name(activation_dtype(precision, device))
    runtime = 0 if device.type == "cuda" else process_memory()
    budget = memory if memory is not None else memory_budget(device, runtime=runtime)
    return Machine(device.type, activations, runtime, budget)


def pick_device(name: str) -> torch.device:
    """``auto`` prefers CUDA, then Apple's MPS, then the CPU; an explicit choice must exist."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        auto, cpu = (setting("device", value, flag="--device") for value in ("auto", "cpu"))
        raise UserError(f"device '{name}' is not available here; use {auto} or {cpu}")
    return torch.device(name)


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX: the CPUs where bf16 convolutions *can* be faster than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))


def activation_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype VGG activations are computed in (None = plain fp32). Grams and losses stay fp32.

    No autocast runs: the network is copied once into this dtype (see ``VGGFeatures.in_dtype``).
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type == "cpu":
            raise UserError("precision fp16 is for GPUs; on the CPU use bf16 or fp32")
        return torch.float16
    # auto
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16() and cpu_bf16_pays():
        return torch.bfloat16
    return None


BF16_MUST_SAVE = 0.2
"""bf16 is chosen on a CPU only where it takes at most 80% of fp32's time: a native bf16 flag is
not enough (on one AVX-512 BF16 Xeon, bf16 VGG convolutions took 1.7x fp32's time; on an EPYC
with the same flag, 0.58x)."""


@lru_cache(maxsize=1)
def cpu_bf16_pays() -> bool:
    """Whether bf16 VGG convolutions beat fp32 on this CPU: measured once per machine (about a
    second), kept in the cache folder keyed by CPU, torch version and threads, so that every
    render on this machine makes the same choice (a render records its own in render.yaml)."""
    from timelapse_nst.engine.weights import cache_dir

    key = f"{cpu_name()}|torch {torch.__version__}|{torch.get_num_threads()} threads|{platform.machine()}"
    path = cache_dir() / "cpu-precision.json"
    try:
        return _cached_choice(path, key)
    except OSError:  # no cache folder can be made: measured now, and again next time
        return bool(_measured_choice()["bf16_pays"])


def _cached_choice(path: Path, key: str) -> bool:
    """The recorded choice for ``key``, else measured and recorded. Under the cache's lock, so
    workers starting together measure once and never lose each other's entries."""
    import json

    from timelapse_nst.atomic import exclusive, write_atomic

    with exclusive(path):
        try:
            known = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = {}
        if not isinstance(known, dict):
            known = {}
        if isinstance(known.get(key), dict) and isinstance(known[key].get("bf16_pays"), bool):
            return bool(known[key]["bf16_pays"])
        known[key] = _measured_choice()
        try:
            write_atomic(path, json.dumps(known, indent=1).encode("utf-8"))
        except OSError:
            pass  # an unwritable cache: measured again next time, nothing lost
    return bool(known[key]["bf16_pays"])


def _measured_choice() -> dict[str, Any]:
    fp32, bf16 = measure_conv_seconds()
    return {"bf16_pays": bf16 <= (1 - BF16_MUST_SAVE) * fp32, "fp32_s": round(fp32, 5), "bf16_s": round(bf16, 5)}


def measure_conv_seconds(rounds: int = 5) -> tuple[float, float]:
    """(fp32, bf16) seconds of a forward and backward pass through two VGG-sized 3x3
    convolutions (64 -> 128 -> 128 channels, 96x96, channels_last): the best of ``rounds``
    interleaved runs each, after a warm-up."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 64, 96, 96, generator=generator).contiguous(memory_format=torch.channels_last)
    weights = [
        torch.randn(128, 64, 3, 3, generator=generator) * 0.05,
        torch.randn(128, 128, 3, 3, generator=generator) * 0.05,
    ]
    best = {torch.float32: float("inf"), torch.bfloat16: float("inf")}
    for _ in range(rounds + 1):
        for dtype in best:
            image = x.to(dtype).requires_grad_(True)
            w1, w2 = (w.to(dtype).contiguous(memory_format=torch.channels_last) for w in weights)
            started = time.perf_counter()
            out = torch.nn.functional.conv2d(
                torch.relu(torch.nn.functional.conv2d(image, w1, padding=1)), w2, padding=1
            )
            out.float().sum().backward()
            best[dtype] = min(best[dtype], time.perf_counter() - started)
    return best[torch.float32], best[torch.bfloat16]


def cpu_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def precision_name(dtype: torch.dtype | None) -> str:
    return {dtype: name for name, dtype in _DTYPES.items()}[dtype]


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


def recorded_activation_dtype(manifest: Mapping[str, Any], precision: str, device: torch.device) -> torch.dtype | None:
    """The activation dtype a render chose when it started (render.yaml's ``plan.activations``),
    so that a resume computes what the uninterrupted render would have; decided now if none."""
    name = (manifest.get("plan") or {}).get("activations")
    if isinstance(name, str) and name in _DTYPES:
        return _DTYPES[name]
    return activation_dtype(precision, device)
