"""The README's Python example runs as written (with random weights chosen by the environment), and
what it says decides the pixels is what the code treats so."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_readme_python_example_runs(tmp_path):
    [block] = python_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    shutil.copytree(REPO / "examples", tmp_path / "examples")  # its paths are relative to the checkout
    env = {**os.environ, "TIMELAPSE_NST_WEIGHTS": "random"}
    result = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert printed[0].split()[0] == "1" and float(printed[0].split()[1]) > 0  # the hook saw iteration 1's losses
    assert sum(1 for line in printed if re.match(r"^\d+ \S+$", line)) == 20
    run = tmp_path / "runs" / "python-example"
    assert (run / "final.png").is_file() and (run / "timelapse.mp4").is_file()
    assert any(line.endswith("final.png runs/python-example/timelapse.mp4") for line in printed)


def test_what_resume_may_change_is_what_the_readme_says():
    """The README lists what ``resume --set`` may change: exactly the keys outside the render hash."""
    from timelapse_nst.settings.config import NOT_RENDER_KEYS

    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    sentence = text.split("`resume --set` accepts only what does not decide the pixels:")[1].split(";")[0]
    assert set(re.findall(r"`(\w+)`", sentence)) == NOT_RENDER_KEYS - {"name", "description"}


def test_how_it_works_names_every_module_of_the_tree():
    """Every module is in the README's tables (by its own path, or its package's), and every path
    named there exists."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## How it works")[1].split("\n## ")[0]
    named = set(re.findall(r"`([\w/]+(?:\.py|/))`", section))
    package = REPO / "timelapse_nst"
    assert named and all((package / name).exists() for name in named), sorted(named)
    modules = [p.relative_to(package).as_posix() for p in package.rglob("*.py") if not p.name.startswith("__")]
    unnamed = [m for m in modules if m not in named and f"{m.split('/')[0]}/" not in named]
    assert not unnamed, unnamed
