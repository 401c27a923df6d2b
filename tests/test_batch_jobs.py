"""The jobs file: a list, a matrix, both; names; paths relative to the file; errors with file, line and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_image

from timelapse_nst.batch import BatchFolder, load_jobs
from timelapse_nst.batch.jobs import generated_name, safe_name
from timelapse_nst.errors import UserError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A jobs folder with pictures beside it and in a sub-folder."""
    (tmp_path / "photos").mkdir()
    make_image(tmp_path / "photos" / "cat.png", seed=1)
    make_image(tmp_path / "photos" / "dog.png", seed=2)
    make_image(tmp_path / "wave.png", seed=3)
    make_image(tmp_path / "starry night.png", seed=4)
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "jobs.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(UserError) as caught:
        load_jobs(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_list_and_a_matrix_resolve_to_named_jobs_with_paths_relative_to_the_file(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # relative to the jobs file, not to where we are
    path = write(
        folder,
        """\
set: [size=64, seed=3]
num_cpus: 2
jobs:
  - name: cat-wave
    content: photos/cat.png
    style: wave.png
    preset: classic
    set: [loss_weights.style=1e5]
    title: "Chelsea: after Hokusai"
    num_cpus: 1
  - content: photos/dog.png
    style: [wave.png, starry night.png]
    preset: quick-preview
matrix:
  content: [photos/cat.png, photos/dog.png]
  style: [wave.png, starry night.png]
""",
    )
    plan = load_jobs(path)
    names = [job.name for job in plan.jobs]
    # The matrix's cat+wave collides with the named job: it gets a suffix, never a silent overwrite.
    assert names == [
        "cat-wave",
        "dog-wave+starry-night",
        "cat-wave-2",
        "cat-starry-night",
        "dog-wave",
        "dog-starry-night",
    ]
    first, morph = plan.jobs[0], plan.jobs[1]
    assert first.content == str(folder / "photos" / "cat.png") and first.style == str(folder / "wave.png")
    assert first.set == ["size=64", "seed=3", "loss_weights.style=1e5"]  # shared first: the job's own win
    assert first.overrides()[-1] == 'video.title="Chelsea: after Hokusai"' and first.label == "Chelsea: after Hokusai"
    assert first.num_cpus == 1 and morph.num_cpus == 2 and morph.num_gpus is None
    assert morph.style == [str(folder / "wave.png"), str(folder / "starry night.png")]  # a list stays a list
    assert {job.preset for job in plan.jobs[2:]} == {"classic"} and plan.max_retries == 3
    assert all(Path(job.content).is_absolute() for job in plan.jobs)


def test_a_matrix_of_several_presets_names_them_and_the_file_preset_is_the_default(folder):
    preset = folder / "mine.yaml"
    preset.write_text("extends: quick-preview\nsize: 40\n")
    path = write(
        folder,
        "preset: mine.yaml\njobs: [{content: photos/cat.png, style: wave.png}]\n"
        "matrix: {content: [photos/cat.png], style: [wave.png], preset: [classic, quick-preview]}\n",
    )
    plan = load_jobs(path)
    assert [job.name for job in plan.jobs] == ["cat-wave", "cat-wave-classic", "cat-wave-quick-preview"]
    assert plan.jobs[0].preset == str(preset) and plan.jobs[1].preset == "classic"


def test_the_resolved_jobs_are_recorded_in_batch_yaml_and_read_back(folder, tmp_path):
    plan = load_jobs(write(folder, "jobs: [{content: photos/cat.png, style: [wave.png], title: Cat}]\n"))
    batch = BatchFolder(tmp_path / "out")
    batch.prepare()
    batch.write_manifest(plan, plan.jobs, weights="random", runner="local")
    assert batch.read_jobs() == plan.jobs
    text = batch.manifest.read_text()
    assert "runs/cat-wave" in text and str(folder / "wave.png") in text and "weights: random" in text


def test_a_job_s_credits_reach_its_render_config_and_batch_yaml(folder, tmp_path):
    from timelapse_nst.settings import presets

    plan = load_jobs(
        write(
            folder,
            "jobs:\n"
            "  - {content: photos/cat.png, style: wave.png, title: Cat,\n"
            '     credits: {photo: "Jane Doe, CC BY 4.0", painting: "Hokusai, The Great Wave"}}\n'
            '  - {content: photos/dog.png, style: wave.png, credits: "Hokusai: Wave"}\n',
        )
    )
    cat, dog = plan.jobs
    config = presets.resolve(cat.preset, overrides=cat.overrides())
    assert config.credits.photo == "Jane Doe, CC BY 4.0" and config.credits.painting == ["Hokusai, The Great Wave"]
    assert config.video.title == "Cat"  # the title still comes last
    assert presets.resolve(dog.preset, overrides=dog.overrides()).credits.painting == ["Hokusai: Wave"]
    batch = BatchFolder(tmp_path / "out")
    batch.prepare()
    batch.write_manifest(plan, plan.jobs, weights="random", runner="local")
    assert batch.read_jobs() == plan.jobs
    bad = write(folder, "jobs: [{content: photos/cat.png, style: wave.png, credits: {photograph: x}}]\n")
    message = error_of(bad)
    assert "jobs.yaml line 1" in message and "photograph" in message


def test_the_example_series_in_the_readme_is_a_valid_jobs_file():
    from conftest import EXAMPLES

    plan = load_jobs(EXAMPLES / "series.yaml")
    assert [job.name for job in plan.jobs] == ["tubingen-starry-night", "tubingen-own-colours", "starry_night-tubingen"]
    assert all(Path(job.content).is_file() for job in plan.jobs)


def test_names_from_files_are_safe_folder_names():
    assert safe_name("Mona Lisa (1503)") == "Mona-Lisa-1503"
    assert safe_name("../../etc/passwd") == "etc-passwd"
    assert safe_name("...") == "job"
    assert (
        generated_name("a/Starry Night.JPG", ["x/y/Wave*1.png", "z.png"], "my preset.yaml")
        == "Starry-Night-Wave-1+z-my-preset"
    )
    assert len(safe_name("x" * 500)) == 80


# Each: the jobs file, then what its one-line error must say (file and line come first).
BAD = [
    (
        "jobs:\n  - content: photos/cat.png\n    style: wave.png\n    pressets: classic\n",
        ["jobs.yaml line 4", "unknown key 'jobs.0.pressets'", "did you mean 'jobs.0.preset'?"],
    ),
    ("matrx:\n  content: [photos/cat.png]\n", ["jobs.yaml line 1", "unknown key 'matrx'", "did you mean 'matrix'?"]),
    (
        "jobs:\n  - content: photos/cat.png\n    style: wave.png\n  - content: photos/cow.png\n    style: wave.png\n",
        ["jobs.yaml line 4", "jobs.1.content", "the content file photos/cow.png", "does not exist"],
    ),
    (
        "matrix:\n  content: [photos/cat.png]\n  style:\n    - [wave.png, nope.png]\n",
        ["jobs.yaml line 4", "matrix.style.0.1", "nope.png", "does not exist"],
    ),
    (
        "set:\n  - size=64\n  - loss_weights.styl=3\njobs:\n  - {content: photos/cat.png, style: wave.png}\n",
        ["jobs.yaml line 3", "job 'cat-wave'", "set loss_weights.styl=3", "did you mean 'loss_weights.style'?"],
    ),
    (
        "jobs:\n  - content: photos/cat.png\n    style: wave.png\n    set:\n      - seed=1\n      - size=huge\n",
        ["jobs.yaml line 6", "set size=huge", "size", "valid integer"],
    ),
    (
        "jobs:\n  - content: photos/cat.png\n    style: wave.png\n    preset: quick\n",
        ["jobs.yaml line 4", "jobs.0.preset", "did you mean 'quick-preview'?"],
    ),
    (
        "jobs:\n  - {name: a, content: photos/cat.png, style: wave.png}\n  - {name: a, content: photos/dog.png, style: wave.png}\n",
        ["jobs.yaml line 3", "jobs.1.name", "'a' is already used by the job at", "line 2"],
    ),
    (
        "jobs:\n  - {name: 'my job/1', content: photos/cat.png, style: wave.png}\n",
        ["jobs.yaml line 2", "jobs.0.name", "not a usable folder name"],
    ),
    ("jobs:\n  - {content: photos/cat.png, style: []}\n", ["jobs.0.style", "at least one style image"]),
    ("jobs:\n  - {content: photos/cat.png, style: 3}\n", ["jobs.0.style", "valid string"]),
    ("jobs:\n  - {content: photos/cat.png}\n", ["jobs.0.style", "Field required"]),
    (
        "max_retries: -1\njobs: [{content: photos/cat.png, style: wave.png}]\n",
        ["line 1", "max_retries", "greater than or equal to 0"],
    ),
    (
        "jobs:\n  - {content: photos/cat.png, style: wave.png, num_cpus: 0}\n",
        ["line 2", "jobs.0.num_cpus", "greater than 0"],
    ),
    ("jobs: []\n", ["no jobs", "'jobs:'", "'matrix:'"]),
    ("- just\n- a list\n", ["a jobs file must be a mapping"]),
    ("jobs: [\n", ["jobs.yaml line", "expected"]),
    # YAML that would overflow or hang a reader: a value inside itself, aliases that expand to billions
    ("jobs: &all [{content: photos/cat.png, style: wave.png, set: *all}]\n", ["line 1", "a value contains itself"]),
    (
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}' if i > 1 else '*a'] * 10)}]\n" for i in range(1, 7))
        + "jobs: *a6\n",
        ["more than 100,000 values once its aliases are expanded"],
    ),
]


@pytest.mark.parametrize(("text", "fragments"), BAD, ids=range(len(BAD)))
def test_bad_jobs_files_are_one_line_errors_with_file_line_and_key(folder, text, fragments):
    message = error_of(write(folder, text))
    assert message.startswith(str(folder / "jobs.yaml")), message
    for fragment in fragments:
        assert fragment in message, message


def cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess:
    code = (
        f"import sys; {prelude}from timelapse_nst.cli import main; sys.argv = ['timelapse-nst', *sys.argv[1:]]; main()"
    )
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_bad_input_on_the_command_line_is_one_line_and_exit_2_before_anything_runs(folder, tmp_path):
    jobs = write(folder, "jobs:\n  - {content: photos/cat.png, style: wave.png, set: [optimizer.iteratons=3]}\n")
    # `batch [OPTIONS] JOBS.yaml` is short for `batch run [OPTIONS] JOBS.yaml`.
    result = cli("batch", "--workers", "2", str(jobs), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "did you mean 'optimizer.iterations'?" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing ran, nothing was created
    # A folder that holds something else is refused, never written into.
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    good = write(folder, "jobs: [{content: photos/cat.png, style: wave.png}]\n")
    result = cli("batch", "run", str(good), "--out", str(other), "--weights", "random")
    assert (
        result.returncode == 2
        and "holds no batch" in result.stderr
        and sorted(other.iterdir()) == [other / "notes.txt"]
    )
    result = cli("batch", "status", str(other))
    assert result.returncode == 2 and "not a batch folder" in result.stderr


def test_ray_missing_is_one_line_that_says_how_to_install_it(folder, tmp_path):
    jobs = write(folder, "jobs: [{content: photos/cat.png, style: wave.png}]\n")
    # sys.modules["ray"] = None makes `import ray` fail as it does where Ray is not installed.
    result = cli(
        "batch", str(jobs), "--ray", "auto", "--out", str(tmp_path / "out"), prelude="sys.modules['ray'] = None; "
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "pip install 'timelapse-nst[ray]'" in result.stderr


def test_resources_default_to_one_gpu_each_else_the_cpus_of_a_node(folder):
    from timelapse_nst.batch import _tasks

    plan = load_jobs(
        write(
            folder,
            "jobs:\n  - {content: photos/cat.png, style: wave.png, num_cpus: 3}\n  - {content: photos/dog.png, style: wave.png}\n",
        )
    )
    gpu_node = _tasks(plan, node_cpus=16, node_gpus=4, workers=1)
    assert [(t.job.num_cpus, t.job.num_gpus, t.threads) for t in gpu_node] == [(3, 1.0, 3), (4.0, 1.0, 4)]
    cpu_node = _tasks(plan, node_cpus=8, node_gpus=0, workers=2)
    assert [(t.job.num_cpus, t.job.num_gpus) for t in cpu_node] == [(3, 0.0), (4.0, 0.0)]


def test_a_node_that_cannot_see_the_batch_folder_says_so_in_one_line(tmp_path):
    from timelapse_nst.batch.worker import probe_folder

    (tmp_path / ".probe-abc").write_text("abc")
    assert probe_folder(str(tmp_path), "abc") == ""  # it sees the folder and writes back
    assert any(p.name.startswith(".probe-abc-") for p in tmp_path.iterdir())
    (tmp_path / ".probe-abc").write_text("another")
    assert "sees another" in probe_folder(str(tmp_path), "abc")
    missing = probe_folder(str(tmp_path / "elsewhere"), "abc")
    assert "cannot use" in missing and "\n" not in missing
