"""What the benchmark measures, and the sample images it measures on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Say = Callable[[str], None]
# Ours may run this many times the baseline's iterations when measuring the time to reach it.
REACH_BUDGET = 3


def examples_dir() -> Path:
    """The sample photo and painting: shipped inside the package, or the checkout's ``examples/``."""
    from importlib import resources

    packaged = resources.files("timelapse_nst") / "examples"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent.parent / "examples"


@dataclass(frozen=True)
class BenchSettings:
    """What to measure. ``target_size`` gets the detailed figures (A/B runs, convergence)."""

    sizes: tuple[int, ...] = (128, 256, 384)
    iterations: int = 40
    target_size: int = 256
    ab_iterations: int = 12
    ab_rounds: int = 5
    rss_size: int = 512
    rss_iterations: int = 6
    video_seconds: float = 6.0
    video_resolution: str | None = None  # None: the preset's own (1080p)
    reach_sizes: tuple[int, ...] = (256, 512)  # ours against the seed's final quality (reach.py)
    reach_iterations: int = 40  # the seed's iterations there
    tiling_sizes: tuple[int, ...] = (512, 1024, 2048)  # tiled against untiled, each in a subprocess
    tiling_iterations: int = 4
    preview_chromium: bool = True  # also measure the page in headless Chromium, when one is installed
    clip_size: int = 256  # the clip study (clip.py): a painted clip against its frames painted alone
    clip_frames: int = 12  # a scene cut in the middle; more than 11 for the peak RSS at frame 10
    clip_iterations: int = 40  # frame 0's and each independent frame's (later frames: the clip default)
    clip_only: bool = False  # run the clip study alone
    weights: str = "random"
    content: Path = field(default_factory=lambda: examples_dir() / "tubingen.jpg")
    style: Path = field(default_factory=lambda: examples_dir() / "starry_night.jpg")

    @classmethod
    def quick(cls, **given: Any) -> BenchSettings:
        """A smoke run in about a minute (128 px, 8 iterations); ``given`` fields on top."""
        # Every knob at a smoke run's value (tests/test_bench.py sets them alike, to toy sizes).
        quick = dict(
            sizes=(128,),
            iterations=8,
            target_size=128,
            ab_iterations=4,
            ab_rounds=2,
            rss_iterations=2,
            video_seconds=2.0,
            reach_sizes=(128,),
            reach_iterations=6,
            tiling_sizes=(),
            preview_chromium=False,
            clip_size=128,
            clip_frames=12,
            clip_iterations=8,
        )
        return cls(**{**quick, **given})
