"""The command line as a user meets it: help texts, one-line errors, exit codes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import command_line, torch_loaded_by

from timelapse_nst.version import __version__

COMMANDS = [
    ["render"],
    ["resume"],
    ["assemble"],
    ["status"],
    ["presets", "list"],
    ["presets", "show"],
    ["presets", "validate"],
    ["weights", "status"],
    ["weights", "fetch"],
    ["bench"],
    ["batch", "run"],
    ["batch", "status"],
]


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "timelapse_nst", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_version():
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"timelapse-nst {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = cli(*command, "--help", env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    assert "Example" in result.stdout and "timelapse-nst" in result.stdout
    # Values are named for people (PATH, N, KEY=VALUE), not Python types or braces.
    for leak in ("<bool>", "<list", "<str>", "<int>", "<path>", "{"):
        assert leak not in result.stdout, (leak, result.stdout)


@pytest.mark.parametrize("group", [(), ("presets",), ("weights",), ("batch",)], ids=lambda g: " ".join(g) or "top")
def test_group_help_shows_no_python_types(group):
    result = cli(*group, "--help", env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    assert "--help" in result.stdout and "<bool>" not in result.stdout, result.stdout


def test_render_help_names_its_arguments_like_the_readme():
    out = cli("render", "--help", env={"COLUMNS": "100"}).stdout
    assert "render [OPTIONS] CONTENT STYLE..." in out
    assert "--set" in out and "KEY=VALUE" in out and "NAME|FILE" in out


def test_presets_list_show_validate(tmp_path):
    listing = cli("presets", "list").stdout
    assert "quick-preview" in listing and "slow-reveal" in listing
    shown = cli("presets", "show", "slow-reveal").stdout
    assert "schedule: cosine" in shown and "extends" not in shown
    good = tmp_path / "good.yaml"
    good.write_text("extends: quick-preview\nsize: 96\n")
    assert cli("presets", "validate", str(good)).stdout.startswith("ok:")
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: quick-preview\nvideo:\n  layot: plain\n")
    assert_one_line_error(cli("presets", "validate", str(bad)), "bad.yaml line 3", "video.layout")


def test_bad_inputs_are_one_line_errors(tmp_path, content_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert_one_line_error(
        cli(
            "render",
            str(tmp_path / "empty.jpg"),
            str(content_path),
            "--weights",
            "random",
            "--out",
            str(tmp_path / "run"),
        ),
        "empty.jpg",
    )
    assert not (tmp_path / "run").exists()  # nothing created for a failed start
    assert_one_line_error(
        cli("render", str(content_path), str(tmp_path / "nope.png"), "--weights", "random"), "nope.png"
    )
    assert_one_line_error(
        cli("render", str(content_path), str(content_path), "--preset", "quick", "--weights", "random"),
        "did you mean 'quick-preview'",
    )
    assert_one_line_error(
        cli("render", str(content_path), str(content_path), "--weights", str(tmp_path / "w.pth")), "w.pth"
    )
    assert_one_line_error(cli("status", str(tmp_path)), "not a run folder")
    assert_one_line_error(cli("resume", str(tmp_path)), "not a run folder")


def test_offline_default_weights_error_names_both_ways_out(tmp_path, content_path, style_path, monkeypatch):
    env_cache = tmp_path / "cache"
    result = subprocess.run(
        command_line("render", str(content_path), str(style_path), "--out", str(tmp_path / "run"), "--quiet"),
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "TIMELAPSE_NST_CACHE": str(env_cache),
            "TORCH_HOME": str(tmp_path / "th"),
            "HOME": str(tmp_path),
            "https_proxy": "http://127.0.0.1:9",
            "http_proxy": "http://127.0.0.1:9",
        },
    )
    assert_one_line_error(result, "--weights PATH", "--weights random")
    assert not (tmp_path / "run").exists()


def test_refuses_a_non_empty_folder_without_a_render(tmp_path, content_path, style_path):
    (tmp_path / "keep.txt").write_text("precious")
    assert_one_line_error(
        cli("render", str(content_path), str(style_path), "--weights", "random", "--out", str(tmp_path)), "not empty"
    )
    assert (tmp_path / "keep.txt").read_text() == "precious"


def test_the_cli_starts_without_torch_and_the_api_exports_render_resume_assemble():
    assert torch_loaded_by("import timelapse_nst.cli\nfrom timelapse_nst import assemble") == []
    from timelapse_nst import assemble, render, resume

    assert callable(render) and callable(resume) and callable(assemble)


def test_too_small_for_the_network_is_a_clear_error(tmp_path, content_path, style_path):
    assert_one_line_error(
        cli(
            "render",
            str(content_path),
            str(style_path),
            "--weights",
            "random",
            "--size",
            "16",
            "--out",
            str(tmp_path / "run"),
            "--quiet",
            "--no-video",
        ),
        "16 px on the short side",
    )


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--set", "loss_weights.style=abc"], ["--set loss_weights.style=abc", "a number or a schedule"]),
        (
            ["--set", "loss_weights.style={schedule: keyframes, points: [[0, 1], [5]]}"],
            ["keyframe 2 must be [iteration, value]"],
        ),
        (["--set", "loss_weights.style={schedule: cosin, start: 1, end: 2}"], ["did you mean 'cosine'?"]),
        (["--iterations", "0"], ["--iterations 0:", "greater than or equal to 1"]),
        (["--set", "layers.style=[conv9_9]"], ["[conv9_9]", "did you mean"]),  # brackets shown, not eaten as markup
        (["--tv-weight", "-1"], ["--tv-weight -1.0: loss_weights.tv:", "must not be negative"]),
        (["--init", "nosie"], ["init: no image file nosie; did you mean 'noise'?"]),
        (["--set", "optimizer.itera\ntions=5"], ["unknown key 'optimizer.itera\\ntions'"]),  # a line break, shown
        (["--seed", str(2**64)], [f"--seed {2**64}", "less than or equal to"]),
    ],
)
def test_config_mistakes_are_one_line_errors_that_teach(tmp_path, content_path, style_path, args, fragments):
    result = cli(
        "render", str(content_path), str(style_path), "--weights", "random", "--out", str(tmp_path / "r"), *args
    )
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "r").exists()


def test_preset_files_name_duplicate_keys_and_missing_parents(tmp_path):
    twice = tmp_path / "twice.yaml"
    twice.write_text("name: twice\nsize: 64\nweights: {style: 1}\nsize: 96\n")
    assert_one_line_error(
        cli("presets", "validate", str(twice)), f"{twice} line 4", "'size' is given twice (first on line 2)"
    )
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text("name: orphan\nextends: nope.yaml\n")
    assert_one_line_error(cli("presets", "validate", str(orphan)), f"{orphan} line 2: extends:", "nope.yaml")


def test_a_weights_file_of_garbage_says_what_it_is(tmp_path, content_path, style_path):
    junk = tmp_path / "junk.pth"
    junk.write_text("hello world")
    result = cli("render", str(content_path), str(style_path), "--weights", str(junk), "--out", str(tmp_path / "r"))
    assert_one_line_error(result, "junk.pth", "not a PyTorch weights file")


def test_assemble_errors_name_the_flag(tmp_path):
    from runfolder_factory import make_run

    run = make_run(tmp_path / "run")
    assert_one_line_error(
        cli("assemble", str(run), "--duration", "-3"), "--duration -3.0: Input should be greater than 0"
    )
    assert_one_line_error(
        cli("assemble", str(run), "--codec", "h264", "--out", str(tmp_path / "x.webm")),
        "x.webm",
        "cannot hold h264 video, which needs .mp4, .mov or .mkv",
        "--codec vp9",
    )
    assert not (tmp_path / "x.webm").exists()


def test_the_cli_needs_no_click_package():
    """typer carries its own click; `click` itself is not a dependency (Ray brings it, not us)."""
    code = (
        "import sys; sys.modules['click'] = None\n"
        "from timelapse_nst.cli import app\n"
        "from typer.testing import CliRunner\n"
        "result = CliRunner().invoke(app, ['render', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize(
    ("flag", "fragment"),
    [
        (["--title", "T"], "--title only names the video"),
        (["--publish"], "--publish decides what happens after"),
        (["--masks", "sky.png,ground.png"], "--masks decides where the paint goes"),
    ],
)
def test_plan_refuses_the_render_options_that_cannot_change_a_plan(flag, fragment, content_path, style_path):
    result = cli("plan", str(content_path), str(style_path), "--size", "64", *flag)
    assert_one_line_error(result, fragment, "leave it out")


def test_loss_weight_and_init_flags_are_preset_keys_named_by_their_flags(tmp_path):
    from timelapse_nst.cli.options import PaintOptions
    from timelapse_nst.settings import presets

    options = PaintOptions(
        Path("a.jpg"), [Path("b.jpg")], content_weight=2e5, style_weight=5.0, tv_weight=0.0, init="2024: start.png"
    )
    config = presets.resolve("classic", overrides=options.overrides())
    weights = config.loss_weights
    assert (weights.content.at(0, 1), weights.style.at(0, 1), weights.tv.at(0, 1)) == (2e5, 5.0, 0.0)
    assert config.init == config.init_file == "2024: start.png"  # a path stays a path, colon and all
    labels = [override.label for override in options.overrides()]
    assert labels == ["--content-weight 200000.0", "--style-weight 5.0", "--tv-weight 0.0", "--init 2024: start.png"]
