"""Every platform: the package imports and paints where the POSIX-only parts of the standard
library are missing (Windows: no fcntl, resource, statvfs or getloadavg) and os.sysconf does
not know Linux's names (macOS has no SC_AVPHYS_PAGES)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ELSEWHERE = """
import os, sys
import psutil  # a library with its own code per platform: loaded before its Linux calls are taken away

sys.modules["fcntl"] = None  # `import fcntl` now fails, as on Windows
sys.modules["resource"] = None
del os.statvfs
del os.getloadavg


def sysconf(name):
    raise ValueError(f"unrecognized configuration name {name!r}")  # what macOS says for SC_AVPHYS_PAGES


os.sysconf = sysconf
"""


def test_a_render_runs_without_fcntl_resource_statvfs_getloadavg_and_sysconf(tmp_path, content_path, style_path):
    run = tmp_path / "run"
    argv = ["timelapse-nst", "render", str(content_path), str(style_path), "--weights", "random", "--size", "48"]
    argv += ["--iterations", "3", "--quiet", "--out", str(run), "--set", "video.resolution=160x90"]
    argv += ["--set", "video.duration=2", "--set", "video.fps=10"]
    code = ELSEWHERE + textwrap.dedent(f"""
        sys.argv = {argv!r}
        from timelapse_nst.cli import main
        try:
            main()
        except SystemExit as exit:
            assert not exit.code, exit.code
        import timelapse_nst.runfolder.folder
        assert "fcntl" not in sys.modules or sys.modules["fcntl"] is None
        from timelapse_nst.engine.devices import available_ram
        print("available", available_ram() > 0)
        from timelapse_nst.bench.report import machine_info
        print("load", machine_info("fp32")["load_average_at_start"] >= 0)  # what the benchmark records
    """)
    # A cache of its own: a lock file left by flock elsewhere would read as held to the soft lock
    # that filelock falls back to without fcntl (two kinds of lock never share a folder for real).
    env = {**os.environ, "TIMELAPSE_NST_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=200, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.split() == ["available", "True", "load", "True"]
    assert (run / "final.png").is_file() and (run / "timelapse.mp4").is_file()
    assert (run / "checkpoint.pt").is_file() and not list(run.rglob("*.partial"))
