"""What each frame of a clip is painted with: iterations, scales and schedules."""

from __future__ import annotations

import pytest

from timelapse_nst.clip.frame_config import frame_config
from timelapse_nst.errors import UserError
from timelapse_nst.settings import presets
from timelapse_nst.settings.scales import total_iterations


def test_fresh_frames_are_painted_as_stills_and_later_ones_with_the_clips_iterations():
    config = presets.resolve("youtube-4k", overrides=["size=256", "optimizer.iterations=40"])
    assert config.scales is not None
    first = frame_config(config, 0, 10, fresh=True)
    assert first.render_hash() == config.render_hash()  # frame 0 is the still render itself
    later = frame_config(config, 3, 10, fresh=False)
    assert later.scales is None and later.optimizer.iterations == 10  # a quarter of 40
    assert total_iterations(later) == 10
    custom = presets.resolve("classic", overrides=["clip.iterations=7"])
    assert frame_config(custom, 1, 3, fresh=False).optimizer.iterations == 7
    assert frame_config(custom, 2, 3, fresh=True).optimizer.iterations == 1000  # after a scene cut


def test_later_frames_hold_the_values_the_first_frame_ended_with():
    config = presets.resolve(
        "slow-reveal",
        overrides=[
            "optimizer.iterations=100",
            "color.preserve=luminance",
            "color.amount={schedule: linear, start: 1, end: 0}",
        ],
    )
    later = frame_config(config, 5, 10, fresh=False)
    style = config.loss_weights.style
    assert later.loss_weights.style.at(0, 25) == pytest.approx(style.at(100, 100))
    assert later.loss_weights.style.at(0, 25) == later.loss_weights.style.at(25, 25)  # held, not ramped again
    assert later.color.amount.at(3, 25) == 0.0
    fresh = frame_config(config, 5, 10, fresh=True)
    assert fresh.loss_weights.style.at(0, 100) == pytest.approx(style.at(0, 100))  # a cut reveals again


def test_clip_schedules_morph_from_the_first_painting_on_frame_0_to_the_second_on_the_last():
    config = presets.resolve("style-morph", overrides=["clip.schedules=clip"])
    frames = 9
    blends = [frame_config(config, i, frames, fresh=i == 0).blend_at(0, 10, 2) for i in range(frames)]
    assert blends[0] == (1.0, 0.0) and blends[-1] == (0.0, 1.0)
    shares = [blend[1] for blend in blends]
    assert shares == sorted(shares)  # the second painting's share only grows
    assert all(frame_config(config, i, frames, fresh=False).blend_at(0, 10, 2) == blends[i] for i in range(1, frames))


def test_clip_settings_are_checked():
    with pytest.raises(UserError, match="earlier_frames must increase strictly"):
        presets.resolve("classic", overrides=["clip.earlier_frames=[1, 4, 2]"])
    with pytest.raises(UserError, match="the clip must end after it starts"):
        presets.resolve("classic", overrides=["clip.start=2", "clip.end=1"])
    with pytest.raises(UserError, match=r"clip\.scene_cut"):
        presets.resolve("classic", overrides=["clip.scene_cut=2"])


def test_clip_settings_decide_the_pixels_except_the_frame_limit():
    classic = presets.resolve("classic")
    assert presets.resolve("classic", overrides=["clip.max_frames=9"]).render_hash() == classic.render_hash()
    assert presets.resolve("classic", overrides=["clip.temporal_weight=5"]).render_hash() != classic.render_hash()
