"""The README's examples run as written from a checkout: its Python example, and its command-line
examples at tiny sizes (random weights chosen by the environment, options appended to each
command); and what it says decides the pixels, and its module tables, are what the code has."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ffprobe_video

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
RANDOM = {**os.environ, "TIMELAPSE_NST_WEIGHTS": "random"}

# Appended to each command: the last --size wins, the rest only make the video tiny and quick.
TINY = {
    "render": "--size 32 --iterations 2 --set video.resolution=320x180 --set video.duration=0.5 --set video.fps=8 "
    "--set video.preset=ultrafast --quiet",
    "clip": "--end 2.25 --fps 8",  # after a render's: two frames of the clip
    "assemble": "--resolution 720p --duration 0.5 --fps 8 --quiet",
}


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def command_examples(text: str) -> list[str]:
    """The commands of the first block (the one-line start) and of the block under "Examples"."""
    blocks = re.findall(r"```\n(.*?)```", text, flags=re.DOTALL)
    examples = re.search(r"\nExamples[^\n]*\n(?:[^\n]+\n)*?\n```\n(.*?)```", text, flags=re.DOTALL)
    assert examples is not None, "the README has no Examples block"
    lines = [*blocks[0].splitlines(), *examples[1].splitlines()]
    return [line for line in lines if line.startswith("timelapse-nst ")]


def in_a_checkout(tmp_path: Path) -> Path:
    """The examples' paths are relative to the checkout: a copy of examples/ where they run."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    return tmp_path


@pytest.mark.slow
def test_the_readme_command_examples_run(tmp_path):
    checkout = in_a_checkout(tmp_path)
    commands = command_examples(README)
    assert len(commands) >= 8 and any(" assemble " in command for command in commands)
    for command in commands:
        words = shlex.split(command)
        named = [path for word in words for path in word.split(",") if path.startswith("examples/")]  # --masks A,B
        assert all((checkout / path).is_file() for path in named), command
        argv = [sys.executable, "-m", "timelapse_nst", *words[1:], *shlex.split(TINY[words[1]])]
        if words[1] == "render" and words[2].endswith(".mp4"):
            argv += shlex.split(TINY["clip"])
        if "--masks" in words or "--regions" in words:
            argv += ["--size", "64"]  # a region must cover a cell of the deepest style layer (16 px)
        result = subprocess.run(argv, cwd=checkout, env=RANDOM, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}\n{result.stderr}"
    shorts = ffprobe_video(checkout / "runs" / "chelsea" / "shorts.mp4")
    assert (shorts["width"], shorts["height"]) == (720, 1280)  # --layout shorts: the named 720p turned 9:16
    assert (checkout / "runs" / "chelsea" / "timelapse.mp4").is_file()  # beside the landscape video, not over it
    morph = (checkout / "runs" / "morph" / "render.yaml").read_text(encoding="utf-8")
    assert morph.count("sha256") == 3  # the photo and both paintings


def test_the_readme_python_example_runs(tmp_path):
    [block] = python_blocks(README)
    checkout = in_a_checkout(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", block], cwd=checkout, env=RANDOM, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert printed[0].split()[0] == "1" and float(printed[0].split()[1]) > 0  # the hook saw iteration 1's losses
    assert sum(1 for line in printed if re.match(r"^\d+ \S+$", line)) == 20
    run = checkout / "runs" / "python-example"
    assert (run / "final.png").is_file()
    assert any(line.endswith("final.png runs/python-example/timelapse.mp4") for line in printed)
    # the shorts cut goes to its own file: the landscape timelapse.mp4 stays as render made it
    landscape, shorts = ffprobe_video(run / "timelapse.mp4"), ffprobe_video(run / "shorts.mp4")
    assert landscape["width"] > landscape["height"] and shorts["width"] < shorts["height"]


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
