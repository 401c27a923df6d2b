"""Losses are shown one way everywhere: the total and each term as it counts in it (weighted)."""

from __future__ import annotations

import pytest

from timelapse_nst.assembly.pictures import loss_curves
from timelapse_nst.runfolder.log import LogEntry
from timelapse_nst.runfolder.losses import losses_line, number, weighted_losses

MEASURED = {"content": 15.4, "style": 302.0, "tv": 11000.0, "total": 15.4 * 1e5 + 302.0 * 3e4 + 11000.0}
WEIGHTS = {"content": 1e5, "style": 3e4, "tv": 1.0}


def test_the_weighted_terms_add_up_to_the_total():
    weighted = weighted_losses(MEASURED, WEIGHTS)
    assert list(weighted) == ["total", "content", "style", "tv"]
    assert weighted["content"] == pytest.approx(1.54e6) and weighted["style"] == pytest.approx(9.06e6)
    assert sum(value for name, value in weighted.items() if name != "total") == pytest.approx(weighted["total"])
    assert losses_line(MEASURED, WEIGHTS) == "total 1.06e7 = content 1.54e6 + style 9.06e6 + tv 1.1e4"


def test_a_log_without_weights_says_its_terms_are_unweighted():
    assert losses_line(MEASURED, {}) == "total 1.06e7; unweighted content 15.4, style 302, tv 1.1e4"
    assert weighted_losses(MEASURED, {}) == {} and losses_line({}, WEIGHTS) == ""


def test_numbers_read_as_people_write_them():
    assert [number(v) for v in (9.08e6, 15.4, 0.5, 1e-3, 123456)] == ["9.08e6", "15.4", "0.5", "0.001", "1.23e5"]


def test_losses_png_draws_the_same_weighted_terms_and_says_so():
    entries = [LogEntry(i, 0, MEASURED, WEIGHTS) for i in (1, 2, 3)]
    curves, ylabel = loss_curves(entries)
    assert [label for label, _, _ in curves] == ["content (weighted)", "style (weighted)", "tv (weighted)", "total"]
    assert curves[0][2] == pytest.approx((1.54e6,) * 3) and "add up to the total" in ylabel
    old = [LogEntry(i, 0, MEASURED, {}) for i in (1, 2)]  # a log from before loss weights were recorded
    curves, ylabel = loss_curves(old)
    assert curves[0][0] == "content (unweighted)" and curves[0][2] == (15.4, 15.4) and "unweighted" in ylabel
