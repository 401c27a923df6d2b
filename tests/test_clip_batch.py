"""A batch job may name a clip: the jobs file takes it, the jobs table counts its painted frames."""

from __future__ import annotations

from fractions import Fraction

from clips import pan_clip
from conftest import make_image
from rich.console import Console

from timelapse_nst.batch import BatchFolder, load_jobs
from timelapse_nst.batch.table import jobs_table
from timelapse_nst.runfolder.clip import ClipFrame, ClipLogWriter, ClipRecord
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.settings import presets


def test_a_jobs_file_may_name_a_clip_as_content(tmp_path):
    pan_clip(tmp_path / "pan.mp4", frames=4, sound=False)
    make_image(tmp_path / "wave.png")
    (tmp_path / "jobs.yaml").write_text(
        "jobs:\n  - {content: pan.mp4, style: wave.png, set: [clip.start=0.1, clip.iterations=5]}\n"
    )
    (job,) = load_jobs(tmp_path / "jobs.yaml").jobs
    assert job.name == "pan-wave" and job.content == str((tmp_path / "pan.mp4").resolve())
    assert job.set == ["clip.start=0.1", "clip.iterations=5"]


def test_the_jobs_table_counts_a_clip_job_in_frames(tmp_path):
    batch = BatchFolder(tmp_path)
    run = RunFolder(batch.run("pan-wave"))
    run.root.mkdir(parents=True)
    record = ClipRecord(5, Fraction(12), 0.0, 5 / 12, (64, 42), 0, False, {})
    config = presets.resolve("quick-preview").model_dump(mode="json")
    run.write_manifest({"config": config, "total_iterations": 100, "clip": record.to_yaml()})
    log = ClipLogWriter(run.clip_log, keep=0)
    for index in range(2):
        log.append(ClipFrame(index, "fresh" if index == 0 else "warped", 10, {"total": 7.5e5}, None, None))
    view = batch.view("pan-wave")
    assert (view.iteration, view.total, view.unit, view.losses) == (2, 5, "frame", {"total": 7.5e5})
    console = Console(width=120, record=True)
    console.print(jobs_table([view]))
    assert "frame 2/5 (40%)" in console.export_text()
