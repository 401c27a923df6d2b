"""The run folder: atomic writes, the lock (busy, stale, clean), housekeeping, the log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from timelapse_nst.atomic import write_atomic
from timelapse_nst.errors import UserError
from timelapse_nst.runfolder.folder import RunFolder
from timelapse_nst.runfolder.log import LogWriter


def python(code: str, **kwargs) -> subprocess.Popen:
    """A small Python process (no torch: the run folder module must not need it)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_write_atomic_leaves_the_old_file_when_a_write_fails(tmp_path):
    target = tmp_path / "state.bin"
    write_atomic(target, b"old")
    # A real failure: a file-size limit makes the 2 MB write fail with EFBIG half-way.
    child = python(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
        from pathlib import Path
        from timelapse_nst.atomic import write_atomic
        try:
            write_atomic(Path({str(target)!r}), bytes(2_000_000))
        except OSError as exc:
            print(exc.errno)
    """)
    out, err = child.communicate(timeout=60)
    assert out.strip() == "27", err  # EFBIG
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.bin"]  # no temporary file left


def test_a_second_holder_is_refused_and_told_who_holds_the_folder(tmp_path):
    first, second = RunFolder(tmp_path / "run"), RunFolder(tmp_path / "run")
    assert first.lock() is None
    try:
        with pytest.raises(
            UserError, match=f"in use by process {os.getpid()} \\(.*python.*\\); wait for it"
        ) as refused:
            second.lock()
        assert "\n" not in str(refused.value)
    finally:
        first.unlock()
    assert second.lock() is None  # free again, and a clean unlock is not reported as stale
    second.unlock()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    run = tmp_path / "run"
    holder = python(
        f"""
        import sys
        from pathlib import Path
        from timelapse_nst.runfolder.folder import RunFolder
        folder = RunFolder(Path({str(run)!r}))  # kept: the lock lives as long as the object
        folder.lock()
        print("locked", flush=True)
        sys.stdin.read()  # held until it is killed
    """,
        stdin=subprocess.PIPE,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(UserError, match=f"in use by process {holder.pid}"):
        RunFolder(run).lock()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert RunFolder(run).holder_pid() == holder.pid  # the dead holder's record is still there
    folder = RunFolder(run)
    assert folder.lock() == f"took over the lock of process {holder.pid}, which is no longer running"
    folder.unlock()
    holder.communicate()


def test_the_run_folder_and_status_modules_do_not_import_torch():
    child = python("""
        import sys
        sys.modules["torch"] = None  # any `import torch` now fails
        import timelapse_nst.runfolder.folder, timelapse_nst.rendering.status
    """)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err


def test_remove_partial_files_removes_only_temp_files(tmp_path):
    folder = RunFolder(tmp_path)
    folder.frames.mkdir()
    folder.inputs.mkdir()
    keep = [folder.frames / "000001.png", folder.log, folder.inputs / "content.png"]
    partial = [
        folder.frames / "000002.png.partial",
        tmp_path / "checkpoint.pt.new.partial",
        folder.inputs / "style.png.partial",
    ]
    for path in keep + partial:
        path.write_bytes(b"x")
    assert folder.remove_partial_files() == 3
    assert all(p.exists() for p in keep) and not any(p.exists() for p in partial)


def test_move_aside_never_deletes(tmp_path):
    for n in (1, 2):
        run = RunFolder(tmp_path / "run")
        run.frames.mkdir(parents=True)
        (run.frames / "000000.png").write_bytes(bytes([n]))
        assert run.move_aside() == tmp_path / f"run.previous-{n}"
    assert (tmp_path / "run.previous-1" / "frames" / "000000.png").read_bytes() == b"\x01"
    assert (tmp_path / "run.previous-2" / "frames" / "000000.png").read_bytes() == b"\x02"


def test_frame_iterations_ignore_partial_and_foreign_files(tmp_path):
    folder = RunFolder(tmp_path)
    folder.frames.mkdir()
    for name in ("000000.png", "000012.png", "000013.png.partial", "notes.png", "000014.jpg"):
        (folder.frames / name).write_bytes(b"x")
    assert folder.frame_iterations() == [0, 12]


def test_the_log_is_cut_back_to_the_checkpoint_offset(tmp_path):
    path = tmp_path / "log.jsonl"
    log = LogWriter(path)
    for i in range(1, 4):
        log.write({"iteration": i})
    offset = log.sync()
    log.write({"iteration": 4})
    log.close()
    with open(path, "ab") as f:
        f.write(b'{"iteration": 5, "los')  # a line cut by a kill
    resumed = LogWriter(path, resume_at_bytes=offset)
    assert resumed.lines == 3
    resumed.write({"iteration": 4})
    resumed.close()
    assert path.read_text().splitlines() == [f'{{"iteration": {i}, "format": 1}}' for i in range(1, 5)]


def test_an_unreadable_manifest_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="is not a run folder"):
        RunFolder(tmp_path).read_manifest()
    (tmp_path / "render.yaml").write_text("config: [unclosed\n")
    with pytest.raises(UserError, match=r"render\.yaml is not valid YAML \(line 2"):
        RunFolder(tmp_path).read_manifest()
    (tmp_path / "render.yaml").write_text("just: text\n")
    with pytest.raises(UserError, match="not a timelapse-nst manifest"):
        RunFolder(tmp_path).read_manifest()


def test_the_render_schema_does_not_import_the_video_stack():
    """config.py names the `video:` settings without pulling in Pillow drawing, imageio or ffmpeg."""
    code = (
        "import sys, json; import timelapse_nst.settings.config, timelapse_nst.settings.presets;"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('imageio', 'timelapse_nst.assembly', 'PIL')))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(result.stdout) == []


def test_a_manifest_or_log_from_a_newer_version_is_refused_in_one_line(tmp_path):
    from timelapse_nst.runfolder.log import last_entry, read_log

    folder = RunFolder(tmp_path)
    folder.write_manifest({"format": 2, "tool": {"version": "9.0.0"}, "config": {}})
    with pytest.raises(UserError) as refused:
        folder.read_manifest()
    assert str(refused.value).startswith(f"{folder.manifest} is in format 2, written by a newer timelapse-nst;")
    assert "pip install --upgrade timelapse-nst" in str(refused.value)
    folder.write_manifest({"config": {}})  # no format: what 0.3 and earlier wrote, format 1
    assert folder.read_manifest() == {"config": {}}

    record = {"iteration": 1, "losses": {"total": 1.0}}
    folder.log.write_text(json.dumps(record) + "\n" + json.dumps({**record, "iteration": 2, "format": 3}) + "\n")
    with pytest.raises(UserError, match=f"^{folder.log}:2 is in format 3, written by a newer timelapse-nst"):
        read_log(folder.log)
    with pytest.raises(UserError, match="is in format 3"):
        last_entry(folder.log)
    log = LogWriter(folder.log)  # what this version writes, it reads
    log.write(record)
    log.close()
    assert [entry.iteration for entry in read_log(folder.log)] == [1]
    assert json.loads(folder.log.read_text())["format"] == 1
