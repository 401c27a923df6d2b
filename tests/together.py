"""Start several Python processes that do one thing at the same moment (a start gate of files).

Each process runs ``prepare`` (imports: the slow part, done at its own pace), says it is ready
by making a file, and waits until the gate opens; the gate opens when every one is ready, so
their ``act`` parts race each other as two workers started together would.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_GATE = """
import os as _os, sys as _sys, time as _time
from pathlib import Path as _Path
_gate = _Path(_sys.argv[1])
(_gate / f"ready-{_os.getpid()}").touch()
while not (_gate / "open").exists():
    _time.sleep(0.001)
"""


def start_together(
    prepare: str,
    act: str,
    gate: Path,
    *,
    args: Sequence[Sequence[str]],
    env: Mapping[str, str] | None = None,
) -> list[subprocess.Popen]:
    """One process per entry of ``args`` (its ``sys.argv[2:]``); returns them once the gate is open."""
    gate.mkdir(parents=True, exist_ok=True)
    code = textwrap.dedent(prepare) + _GATE + textwrap.dedent(act)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(gate), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=None if env is None else dict(env),
        )
        for extra in args
    ]
    while len(list(gate.glob("ready-*"))) < len(processes):  # pytest-timeout ends a hang
        failed = [p for p in processes if p.poll() is not None]
        if failed:
            for process in processes:
                process.kill()
            details = [p.communicate()[1][-2000:] for p in failed]
            raise AssertionError(f"a process did not reach the start gate: {details}")
        time.sleep(0.01)
    (gate / "open").touch()
    return processes


def outputs(processes: Sequence[subprocess.Popen], timeout: float = 240) -> list[str]:
    """Each process's stdout, once all have exited with 0 (else their stderr, in the failure)."""
    results = [process.communicate(timeout=timeout) for process in processes]
    failures = [(p.returncode, err[-2000:]) for p, (_, err) in zip(processes, results, strict=True) if p.returncode]
    assert not failures, failures
    return [out for out, _ in results]
