"""What a user sees while a render runs: a readable bar at 80 columns in a terminal, plain lines
in a log, and the whole number of iterations said before painting starts."""

from __future__ import annotations

import os
import pty
import re
import subprocess

import pytest
from conftest import command_line

from timelapse_nst.settings import presets
from timelapse_nst.settings.scales import describe_iterations

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def render_args(content_path, style_path, out) -> list[str]:
    small = ["--weights", "random", "--size", "48", "--iterations", "6", "--no-video"]
    return command_line("render", str(content_path), str(style_path), *small, "--out", str(out))


def test_in_an_80_column_terminal_count_rate_and_time_left_stay_readable(tmp_path, content_path, style_path):
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "LINES": "24", "TERM": "xterm-256color"}
    process = subprocess.Popen(
        render_args(content_path, style_path, tmp_path / "run"),
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed: the render is over
            break
        if not data:
            break
        chunks.append(data)
    process.wait(timeout=120)
    os.close(leader)
    assert process.returncode == 0
    screen = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r", "\n")
    bars = [row for row in screen.splitlines() if row.startswith("painting")]
    assert bars, screen
    last = bars[-1]
    assert len(last) <= 80 and "…" not in last, last
    assert re.search(r" 6/6 ", last) and "it/s" in last and "left" in last, last
    assert re.search(r"^\s+total \S+ = content \S+ \+ style \S+ \+ tv \S+", screen, re.MULTILINE), screen


def test_without_a_terminal_it_prints_plain_lines(tmp_path, content_path, style_path):
    result = subprocess.run(
        render_args(content_path, style_path, tmp_path / "run"), capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    lines = [row for row in result.stderr.splitlines() if row.startswith("painting")]
    assert lines and lines[-1].startswith("painting: iteration 6/6 (100%), ") and "total" in lines[-1], result.stderr
    # the weighted terms, which add up to the total (to the three digits shown)
    total, *terms = (
        float(x) for x in re.search(r"total (\S+) = content (\S+) \+ style (\S+) \+ tv (\S+)$", lines[-1]).groups()
    )
    assert sum(terms) == pytest.approx(total, rel=0.01), lines[-1]
    assert "\x1b[" not in result.stderr  # no cursor movement in a log
    assert "rendering 6 iterations at 48 px" in result.stderr  # the total, said before painting


def test_the_total_names_every_scale():
    config = presets.resolve(
        "high-detail", overrides=["optimizer.iterations=12", "scales={start: 0.25, factor: 1.4142, iterations: 150}"]
    )
    assert describe_iterations(config) == "612 iterations: 4 scales of 150 (256, 362, 512, 724 px) + 12 at 1024 px"
    assert describe_iterations(presets.resolve("classic")) == "1000 iterations at 512 px"
