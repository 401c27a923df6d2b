"""Which device and which activation precision a render uses."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from timelapse_nst.errors import UserError


def pick_device(name: str) -> torch.device:
    """``auto`` prefers CUDA, then Apple's MPS, then the CPU; an explicit choice must exist."""
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if (name == "cuda" and not cuda) or (name == "mps" and not mps):
        raise UserError(f"device '{name}' is not available here; use --device auto or cpu")
    return torch.device(name)


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """AVX-512 BF16 or AMX: where bf16 convolutions are really faster than fp32 on a CPU."""
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
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
