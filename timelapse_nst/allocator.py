"""What the C allocator does with the memory a render frees, in the processes timelapse-nst owns.

Every evaluation of a render allocates and frees the same large blocks: activations, their
gradients, the fp32 copies the Grams are taken from, a region's gathered rows. Left to itself,
glibc's malloc hands blocks of that size back to the system (``munmap``, or trimming its heap's
top) and asks for them again at the next evaluation, so each of their pages faults in afresh and
is zeroed by the kernel. A 256 px evaluation made 1,300 to 5,800 such faults (5 to 23 MB), two
masked styles the most (docs/regions.md, "What it costs").

``keep_freed_memory()`` sets glibc's two thresholds so that blocks up to 32 MB come from its heap
and up to 256 MB freed at the heap's top is kept for the next evaluation: after the first few
evaluations, ~150 faults per 256 px evaluation. It changes the whole process and cannot be undone
(glibc's adaptive thresholds, once set, stay fixed), so only the processes timelapse-nst owns
call it: the command line and the batch workers. The Python API leaves the caller's process as
it found it; a notebook may call this itself. Elsewhere (macOS, Windows, musl) it does nothing:
those allocators have other policies.
"""

from __future__ import annotations

import ctypes
import platform
import sys

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
BLOCKS = 32 << 20
"""Blocks up to this size come from the heap (larger ones are mapped and unmapped as before):
the size up to which glibc's own threshold would adapt, and the most glibc before 2.35 accepts."""
KEPT = 256 << 20
"""Freed memory kept at the heap's top before it is given back. Larger thresholds (1 GiB for
both) fault no less at 256 px and raised a 1024 px render's peak memory by 13% (this: 3%)."""

_kept: int | None = None


def keep_freed_memory() -> int:
    """Have glibc's malloc keep the large blocks a render frees: the largest block size it now
    keeps, in bytes (0 where nothing changed). Once per process; later calls return the same."""
    global _kept
    if _kept is None:
        _kept = _set_thresholds()
    return _kept


def _set_thresholds() -> int:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return 0
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return 0
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return BLOCKS if mallopt(M_MMAP_THRESHOLD, BLOCKS) and mallopt(M_TRIM_THRESHOLD, KEPT) else 0
