"""Timeline (pacing, crossfades, segments) and VideoSettings: pure, fast tests."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError
from runfolder_factory import make_run

from timelapse_nst.assembly import timeline
from timelapse_nst.assembly.recording import read_recording, thumbnail
from timelapse_nst.settings.video import VideoSettings, parse_resolution


def settings(**fields: object) -> VideoSettings:
    base: dict[str, object] = {"fps": 10, "duration": 10, "intro": 0, "hold": 0, "pacing": "linear"}
    return VideoSettings.model_validate({**base, **fields})


def test_linear_positions_follow_iterations() -> None:
    assert timeline.positions([0, 10, 40, 100], "linear") == pytest.approx([0, 0.1, 0.4, 1.0])


def test_eased_positions_make_sqrt_spaced_captures_even() -> None:
    # Captures at i = k^2 (dense early) get evenly spaced video time under eased pacing.
    assert timeline.positions([0, 1, 4, 9, 16], "eased") == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


def test_change_positions_follow_cumulative_change() -> None:
    assert timeline.positions([0, 1, 2, 3], "change", [1.0, 0.0, 3.0]) == pytest.approx([0, 0.25, 0.25, 1.0])
    # Nothing moves at all: frames spread evenly instead of dividing by zero.
    assert timeline.positions([0, 1, 2], "change", [0.0, 0.0]) == pytest.approx([0, 0.5, 1.0])


def test_locate_inverts_positions_and_skips_still_frames() -> None:
    cumulative = [0.0, 0.25, 0.25, 1.0]
    assert timeline.locate(cumulative, 0.125) == pytest.approx(0.5)
    assert timeline.locate(cumulative, 0.25) == pytest.approx(2.0)  # frame 1 == frame 2: no time
    assert timeline.locate(cumulative, 0.625) == pytest.approx(2.5)
    assert timeline.locate(cumulative, 1.0) == 3.0


def shown_intervals(shots: list[timeline.Shot]) -> Counter[int]:
    """How many painting frames fall in each interval between captured frames."""
    return Counter(shot.first for shot in shots if shot.segment == "painting" and shot.blend > 0)


def test_change_pacing_on_synthetic_frames_with_known_changes(tmp_path: Path) -> None:
    # Five captured frames; the picture moves 10 % between frames 0 and 1, not at all between
    # 1, 2 and 3, and the remaining 90 % between 3 and 4.
    amount = {0: 0.0, 1: 0.1, 2: 0.1, 3: 0.1, 4: 1.0}
    run = make_run(tmp_path / "run", iterations=list(amount), progress=amount.__getitem__)
    frames = read_recording(run).frames
    changes = timeline.frame_changes([thumbnail(frame.path) for frame in frames])
    assert changes[1] == pytest.approx(0, abs=1e-6) and changes[2] == pytest.approx(0, abs=1e-6)
    assert changes[3] / changes[0] == pytest.approx(9, rel=0.1)

    shots = timeline.plan([f.iteration for f in frames], settings(pacing="change"), changes=changes)
    counts = shown_intervals(shots)
    assert counts[1] == counts[2] == 0  # still frames get no video time
    assert counts[3] / (counts[0] + counts[3]) == pytest.approx(0.9, abs=0.03)
    # Linear pacing would split time by iterations instead: four equal intervals.
    linear = shown_intervals(timeline.plan([0, 1, 2, 3, 4], settings(pacing="linear")))
    assert max(linear.values()) - min(linear.values()) <= 1 and len(linear) == 4


def test_plan_has_one_shot_per_frame_and_the_segments_in_order() -> None:
    shots = timeline.plan([0, 5, 10], settings(duration=8, intro=1, hold=1, outro="wipe", outro_duration=1.5))
    assert len(shots) == 80
    segments = [shot.segment for shot in shots]
    assert Counter(segments) == {"intro": 10, "painting": 45, "hold": 10, "outro": 15}
    assert segments == sorted(segments, key=["intro", "painting", "hold", "outro"].index)
    painting = [shot for shot in shots if shot.segment == "painting"]
    assert (painting[0].first, painting[0].blend) == (0, 0.0)
    assert painting[-1].first == 2 and painting[-1].iteration == 10
    assert all(a.iteration <= b.iteration for a, b in itertools.pairwise(painting))


def test_intro_fades_in_then_crossfades_into_the_first_frame() -> None:
    shots = timeline.plan([0, 10], settings(duration=6, intro=2, transition=0.5))
    intro = [shot for shot in shots if shot.segment == "intro"]
    assert len(intro) == 20
    assert intro[0].opacity < 0.5 and intro[-1].opacity == 1.0
    assert [shot.fade for shot in intro[:15]] == [0.0] * 15
    fades = [shot.fade for shot in intro[15:]]
    assert fades == sorted(fades) and 0 < fades[0] < fades[-1] <= 1


def test_crossfade_blends_neighbours_and_can_be_switched_off() -> None:
    blended = timeline.plan([0, 100], settings(duration=1, pacing="linear"))
    assert [round(s.blend, 3) for s in blended] == [round(k / 9, 3) for k in range(9)] + [0.0]
    cut = timeline.plan([0, 100], settings(duration=1, pacing="linear", crossfade=False))
    assert all(s.blend == 0 for s in cut) and {s.first for s in cut} == {0, 1}


def test_extras_shrink_so_a_short_video_still_shows_the_painting() -> None:
    shots = timeline.plan([0, 1, 2], settings(duration=1, intro=2, hold=2))
    assert len(shots) == 10
    assert sum(s.segment == "painting" for s in shots) >= 5


def test_a_single_captured_frame_is_enough() -> None:
    shots = timeline.plan([0], settings(duration=1, hold=0.5), total_iterations=7)
    assert {s.first for s in shots} == {0}
    assert shots[-1].iteration == 7


@pytest.mark.parametrize(("text", "size"), [("720p", (1280, 720)), ("2160p", (3840, 2160)), ("640x360", (640, 360))])
def test_resolutions(text: str, size: tuple[int, int]) -> None:
    assert parse_resolution(text) == size


def test_settings_defaults_and_shorts_default_size() -> None:
    assert VideoSettings().size == (1920, 1080)
    assert VideoSettings(layout="shorts").size == (1080, 1920)
    assert VideoSettings(layout="shorts", resolution="720x1280").size == (720, 1280)
    assert VideoSettings(duration=2.5, fps=24).total_frames == 60


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"resolution": "641x360"}, "resolution"),
        ({"resolution": "huge"}, "resolution"),
        ({"background": "black"}, "background"),
        ({"duration": 0}, "duration"),
        ({"layout": "fancy"}, "layout"),
        ({"bitrate": "fast"}, "bitrate"),
        ({"framerate": 30}, "framerate"),  # unknown keys are errors, not silently ignored
    ],
)
def test_bad_settings_name_the_key(fields: dict[str, object], key: str) -> None:
    with pytest.raises(ValidationError) as error:
        VideoSettings.model_validate(fields)
    assert error.value.errors()[0]["loc"] == (key,)
