"""Deterministic torch for the length of a render, and the caller's torch left as it was.

A render sets the global RNG and thread count (so that a resumed render computes what the
uninterrupted one would have) and, on CUDA, asks for deterministic kernels: cuDNN's autotuner
picks convolution algorithms by timing them, and cuBLAS splits reductions by workspace, so two
runs (or a run and its resume) could round differently. All of it is put back afterwards, so the
process a render runs in (a notebook, a batch worker) keeps its own RNG, threads and settings.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# cuBLAS is deterministic only with a fixed workspace per stream (NVIDIA's cuBLAS docs, "Results
# reproducibility"); torch refuses deterministic matmuls on CUDA without this variable.
CUBLAS_WORKSPACE = ":4096:8"


@contextmanager
def deterministic_torch() -> Iterator[None]:
    """Inside: deterministic kernels where torch has them (CUDA); after: the caller's RNG (CPU and
    CUDA), thread count, algorithm flags and CUBLAS_WORKSPACE_CONFIG, exactly as they were."""
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    flags = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.utils.deterministic.fill_uninitialized_memory,  # type: ignore[attr-defined]
    )
    workspace = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    # warn_only: an op without a deterministic kernel runs anyway (a render never fails for it);
    # its warning is torch's note to developers, not something the user can act on.
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    # Deterministic mode also fills every new tensor with NaN before an op writes it: a pass over
    # each allocation (4-5% of a 256 px evaluation on a 2-core CPU) that only guards code reading
    # memory it never wrote, which ours does not (resume identity is tested).
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have a deterministic implementation.*")
            yield
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[2], flags[3]
        torch.utils.deterministic.fill_uninitialized_memory = flags[4]  # type: ignore[attr-defined]
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = workspace
