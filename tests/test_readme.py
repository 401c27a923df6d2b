"""The README's examples run as written from a checkout: its Python example, and its command-line
examples at tiny sizes (random weights chosen by the environment, options appended to each
command), as do the command line page's (docs/cli.md); and what the docs say decides the pixels
(docs/big-paintings.md), and their module tables (docs/how-it-works.md), are what the code has."""

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
CLI_PAGE = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
RANDOM = {**os.environ, "TIMELAPSE_NST_WEIGHTS": "random"}

# Appended to each command: the last --size wins, the rest only make the video tiny and quick.
TINY = {
    "render": "--size 32 --iterations 2 --set video.resolution=320x180 --set video.duration=0.5 --set video.fps=8 "
    "--set video.preset=ultrafast --quiet",
    "clip": "--end 2.25 --fps 8",  # after a render's: two frames of the clip
    "assemble": "--resolution 720p --duration 0.5 --fps 8 --quiet",
    "publish": "--loop-seconds 1 --quiet",
    "resume": "--quiet",
    "status": "",
}


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def plain_blocks(text: str) -> list[str]:
    """The fenced blocks without a language (commands), in order; a block with one (```python,
    ```yaml) is skipped whole."""
    blocks, body, language = [], None, None
    for line in text.splitlines():
        if body is None and line.startswith("```"):
            body, language = [], line[3:].strip()
        elif body is not None and line.strip() == "```":
            if not language:
                blocks.append("\n".join(body))
            body = None
        elif body is not None:
            body.append(line)
    return blocks


def _commands(blocks: list[str]) -> list[str]:
    return [line for block in blocks for line in block.splitlines() if line.startswith("timelapse-nst ")]


def readme_commands(text: str) -> list[str]:
    """The commands of the README's first block (the one-line start) and of every block under
    "One example per use"."""
    uses = text.split("\n## One example per use\n")[1].split("\n## ")[0]
    return _commands([plain_blocks(text)[0], *plain_blocks(uses)])


def command_examples(text: str) -> list[str]:
    """The commands of the block under "Examples" (the command line page's)."""
    examples = re.search(r"\nExamples[^\n]*\n(?:[^\n]+\n)*?\n```\n(.*?)```", text, flags=re.DOTALL)
    assert examples is not None, "the page has no Examples block"
    return _commands([examples[1]])


def in_a_checkout(tmp_path: Path) -> Path:
    """The examples' paths are relative to the checkout: a copy of examples/ where they run."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    return tmp_path


def run_commands(commands: list[str], checkout: Path) -> None:
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


def check_chelsea_and_morph(checkout: Path) -> None:
    shorts = ffprobe_video(checkout / "runs" / "chelsea" / "shorts.mp4")
    assert (shorts["width"], shorts["height"]) == (720, 1280)  # --layout shorts: the named 720p turned 9:16
    assert (checkout / "runs" / "chelsea" / "timelapse.mp4").is_file()  # beside the landscape video, not over it
    morph = (checkout / "runs" / "morph" / "render.yaml").read_text(encoding="utf-8")
    assert morph.count("sha256") == 3  # the photo and both paintings


@pytest.mark.slow
def test_the_readme_command_examples_run(tmp_path):
    checkout = in_a_checkout(tmp_path)
    commands = readme_commands(README)
    assert len(commands) >= 14
    for kind in ("render", "assemble", "status", "resume", "publish"):
        assert any(command.startswith(f"timelapse-nst {kind} ") for command in commands), kind
    assert any(".mp4 " in command for command in commands) and any("--masks" in command for command in commands)
    run_commands(commands, checkout)
    check_chelsea_and_morph(checkout)
    assert (checkout / "runs" / "chelsea" / "thumbnail.jpg").is_file()  # publish made its kit
    status = subprocess.run(
        [sys.executable, "-m", "timelapse_nst", "status", "runs/chelsea"],
        cwd=checkout,
        env=RANDOM,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "— complete" in status.stdout, status.stdout


@pytest.mark.slow
def test_the_command_line_page_examples_run(tmp_path):
    """docs/cli.md's examples (the README's until it became the front page) run as written: those
    the README's test does not run already (the same command, word for word)."""
    checkout = in_a_checkout(tmp_path)
    commands = command_examples(CLI_PAGE)
    assert len(commands) >= 8 and any(" assemble " in command for command in commands)
    unseen = [command for command in commands if command not in readme_commands(README)]
    assert unseen, "docs/cli.md shows only the README's examples"
    run_commands(unseen, checkout)


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


def test_what_resume_may_change_is_what_the_docs_say():
    """docs/big-paintings.md lists what ``resume --set`` may change: exactly the keys outside the
    render hash."""
    from timelapse_nst.settings.config import NOT_RENDER_KEYS

    text = " ".join((REPO / "docs" / "big-paintings.md").read_text(encoding="utf-8").split())
    sentence = text.split("`resume --set` accepts only what does not decide the pixels:")[1].split(";")[0]
    assert set(re.findall(r"`(\w+)`", sentence)) == NOT_RENDER_KEYS - {"name", "description"}


def test_how_it_works_names_every_module_of_the_tree():
    """Every module is in the tables of docs/how-it-works.md (by its own path, or its package's),
    and every path named there exists."""
    section = (REPO / "docs" / "how-it-works.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([\w/]+(?:\.py|/))`", section))
    package = REPO / "timelapse_nst"
    assert named and all((package / name).exists() for name in named), sorted(named)
    modules = [p.relative_to(package).as_posix() for p in package.rglob("*.py") if not p.name.startswith("__")]
    unnamed = [m for m in modules if m not in named and f"{m.split('/')[0]}/" not in named]
    assert not unnamed, unnamed
