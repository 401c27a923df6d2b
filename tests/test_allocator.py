"""The processes timelapse-nst owns keep the large blocks a render frees (allocator.py): freed and
taken again, a block no longer faults its pages in afresh. Each check runs in a fresh process,
as the setting is process-wide and stays."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only"
)

# Minor page faults per step of a small network's evaluation (a convolution of a 512 x 512 x 16
# activation, its Gram matrix, the backward pass: blocks of 16 MB), after warming up. Left alone,
# glibc gives those blocks back at every free and they fault in again at every take; kept, a step
# mostly faults nothing (now and then a block does not fit the space a freed one left: torch asks
# for 64-byte aligned blocks, which need a little more than the block freed).
CHURN = textwrap.dedent(
    """
    import json, resource, sys
    import torch

    torch.manual_seed(0)
    weight = torch.randn(16, 16, 3, 3, requires_grad=True)
    image = torch.randn(1, 16, 512, 512, requires_grad=True)

    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def step():
        rows = torch.nn.functional.conv2d(image, weight, padding=1).relu().flatten(1)
        (rows @ rows.T).sum().backward()
        image.grad = weight.grad = None

    def churn():
        for _ in range(5):
            step()
        before = faults()
        for _ in range(10):
            step()
        return (faults() - before) / 10
    """
)


def _run(body: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHURN + textwrap.dedent(body)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_freed_blocks_are_kept_for_the_next_evaluation():
    seen = _run(
        """
        from timelapse_nst.allocator import keep_freed_memory
        left_alone = churn()
        kept = keep_freed_memory()
        print(json.dumps({"left_alone": left_alone, "kept": kept, "churn": churn(), "again": keep_freed_memory()}))
        """
    )
    assert seen["left_alone"] > 2000, seen  # 8 MB or more given back and faulted in again each step
    assert seen["again"] == seen["kept"] >= 32 << 20
    assert seen["churn"] < seen["left_alone"] / 4, seen


def test_the_command_line_keeps_them_and_the_api_leaves_the_process_alone():
    seen = _run(
        """
        import timelapse_nst.api  # imported and a render's modules loaded: nothing changes
        from timelapse_nst.cli import main
        untouched = churn()
        sys.argv = ["timelapse-nst", "--version"]
        try:
            main()
        except SystemExit:
            pass
        from timelapse_nst.allocator import keep_freed_memory
        print(json.dumps({"api": untouched, "cli": churn(), "kept": keep_freed_memory()}))
        """
    )
    assert seen["api"] > 2000, seen
    assert seen["kept"] >= 32 << 20
    assert seen["cli"] < seen["api"] / 4, seen
