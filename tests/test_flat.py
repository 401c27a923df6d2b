"""A long render stays flat: a real render process, watched from outside with psutil
(``bench/flat.py``), holds as much memory and as many open files at iteration 300 as at 100.

The benchmark's figure is the longer one (iteration 100 against 1000, docs/performance.md): at
64 px an iteration costs ~0.2 s of one core, too much for the suite; 100 against 300 still
catches what grows with every iteration (a kept tensor, graph or frame, a file left open).
"""

from __future__ import annotations

import pytest

from timelapse_nst.bench.flat import RSS_LIMIT, Sample, flatness, watch_render


def test_growth_and_a_file_left_open_are_found():
    early = Sample(100, rss_mb=900.0, peak_rss_mb=950.0, open_files=5)
    assert flatness([early, Sample(300, 944.0, 997.0, 5)]).flat  # under 5%
    assert not flatness([early, Sample(300, 946.0, 950.0, 5)]).flat  # resident memory grew
    assert not flatness([early, Sample(300, 900.0, 998.0, 5)]).flat  # so did the peak
    assert not flatness([early, Sample(300, 900.0, 950.0, 6)]).flat  # a file left open
    assert flatness([Sample(100, 900.0, None, 5), Sample(300, 900.0, None, 5)]).flat  # no peak known (macOS)


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~70 s of one core; far longer on a machine other jobs share
def test_a_long_render_holds_no_more_memory_or_files_late_than_early(tmp_path):
    samples = watch_render(tmp_path, size=64, at=(100, 300))
    verdict = flatness(samples)
    assert [sample.iteration for sample in samples] == [100, 300]
    assert verdict.rss_growth <= RSS_LIMIT, samples
    assert verdict.peak_growth is None or verdict.peak_growth <= RSS_LIMIT, samples
    assert verdict.open_files_growth == 0, samples
    assert (tmp_path / "flat-64px" / "final.png").is_file()  # the render ran to its end
