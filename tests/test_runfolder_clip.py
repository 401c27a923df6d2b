"""A clip's records in the run folder: render.yaml's clip mapping, clip.jsonl, stylised/ and source/."""

from __future__ import annotations

from fractions import Fraction

import pytest

from timelapse_nst.errors import UserError
from timelapse_nst.runfolder.clip import ClipFrame, ClipLogWriter, ClipRecord, clip_record, read_clip_log
from timelapse_nst.runfolder.folder import RunFolder


def frame(index: int, start: str = "warped") -> ClipFrame:
    losses = {"content": 1.5, "style": 2.0, "tv": 3.0, "total": 6.5}
    return ClipFrame(index, start, 10, losses, 0.25 if index else None, 0.9 if index else None)


def test_the_clip_record_round_trips_through_render_yaml(tmp_path):
    run = RunFolder(tmp_path)
    record = ClipRecord(48, Fraction(30000, 1001), 0.5, 2.1, (96, 64), 90, True, {"codec": "h264", "fps": 29.97})
    run.write_manifest({"config": {}, "clip": record.to_yaml()})
    assert clip_record(run.read_manifest()) == record
    assert record.duration == pytest.approx(48 * 1001 / 30000)
    assert clip_record({"config": {}}) is None  # a still render
    with pytest.raises(UserError, match="clip record is damaged"):
        clip_record({"clip": {"frames": 3, "fps": [30]}})


def test_clip_log_lines_are_appended_in_order_and_read_back(tmp_path):
    path = tmp_path / "clip.jsonl"
    writer = ClipLogWriter(path, keep=0)
    for index in range(3):
        writer.append(frame(index, "fresh" if index == 0 else "warped"))
    assert [f.frame for f in read_clip_log(path)] == [0, 1, 2]
    assert read_clip_log(path)[1] == frame(1)
    assert read_clip_log(path)[0].consistency is None
    with pytest.raises(ValueError, match="frame 5 written after 3"):
        writer.append(frame(5))


def test_a_line_cut_short_by_a_kill_is_left_out_and_cut_off_on_resume(tmp_path):
    path = tmp_path / "clip.jsonl"
    writer = ClipLogWriter(path, keep=0)
    writer.append(frame(0, "fresh"))
    writer.append(frame(1))
    whole = path.read_bytes()
    path.write_bytes(whole + frame(2).to_json().encode()[:20])  # killed in the middle of a line
    assert len(read_clip_log(path)) == 2
    ClipLogWriter(path, keep=2).append(frame(2))
    assert path.read_bytes() == whole + (frame(2).to_json() + "\n").encode()
    ClipLogWriter(path, keep=1)  # a resume that repaints frame 1 keeps only frame 0's line
    assert [f.frame for f in read_clip_log(path)] == [0]


def test_a_damaged_or_out_of_order_clip_log_is_a_user_error(tmp_path):
    path = tmp_path / "clip.jsonl"
    path.write_text(frame(0, "fresh").to_json() + "\nnot json\n" + frame(1).to_json() + "\n")
    with pytest.raises(UserError, match=r"clip\.jsonl:2: not a clip record"):
        read_clip_log(path)
    path.write_text(frame(0, "fresh").to_json() + "\n" + frame(2).to_json() + "\n")
    with pytest.raises(UserError, match="line 2 records frame 2, expected 1"):
        read_clip_log(path)
    path.write_text(frame(0, "sideways").to_json() + "\n")
    with pytest.raises(UserError, match="not one of fresh, warped, cut"):
        read_clip_log(path)


def test_stylised_frames_are_counted_up_to_the_first_gap(tmp_path):
    run = RunFolder(tmp_path)
    run.stylised.mkdir()
    for index in (0, 1, 2, 4):
        run.stylised_frame(index).write_bytes(b"png")
    (run.stylised / "000003.png.partial").write_bytes(b"half")
    assert run.stylised_count() == 3
    assert run.stylised_frame(12).name == "000012.png" and run.source_frame(7) == run.source / "000007.png"
    assert run.remove_partial_files() == 1


def test_a_folder_with_decoded_source_frames_but_no_progress_is_only_a_setup(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.source.mkdir(parents=True)
    run.source_frame(0).write_bytes(b"png")
    run.write_manifest({"config": {}})
    assert run.holds_only_setup()
    run.stylised.mkdir()
    assert not run.holds_only_setup()  # painting began
