"""The activation precision: chosen per machine by measuring, kept per machine, recorded per render."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from timelapse_nst.engine import devices


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("TIMELAPSE_NST_CACHE", str(tmp_path / "cache"))
    devices.cpu_bf16_pays.cache_clear()
    yield tmp_path / "cache" / "cpu-precision.json"
    devices.cpu_bf16_pays.cache_clear()


@pytest.mark.parametrize(("seconds", "pays"), [((1.0, 0.5), True), ((1.0, 0.85), False), ((1.0, 1.7), False)])
def test_bf16_is_chosen_only_where_it_is_measured_faster(fresh, monkeypatch, seconds, pays):
    monkeypatch.setattr(devices, "measure_conv_seconds", lambda: seconds)
    assert devices.cpu_bf16_pays() is pays
    recorded = json.loads(fresh.read_text())
    (entry,) = recorded.values()
    assert entry["bf16_pays"] is pays and entry["fp32_s"] == seconds[0]


def test_the_measurement_is_made_once_per_machine(fresh, monkeypatch):
    monkeypatch.setattr(devices, "measure_conv_seconds", lambda: (1.0, 0.5))
    assert devices.cpu_bf16_pays()
    devices.cpu_bf16_pays.cache_clear()  # a new process: reads the cache, measures nothing

    def measure_again():
        raise AssertionError("measured twice")

    monkeypatch.setattr(devices, "measure_conv_seconds", measure_again)
    assert devices.cpu_bf16_pays()


def test_a_real_measurement_gives_two_positive_times():
    fp32, bf16 = devices.measure_conv_seconds(rounds=1)
    assert all(math.isfinite(seconds) and seconds > 0 for seconds in (fp32, bf16))  # how fast is no test's business


def test_a_render_keeps_the_precision_it_started_with():
    cpu = torch.device("cpu")
    assert devices.recorded_activation_dtype({"plan": {"activations": "bf16"}}, "auto", cpu) is torch.bfloat16
    assert devices.recorded_activation_dtype({"plan": {"activations": "fp32"}}, "auto", cpu) is None
    decided = devices.activation_dtype("auto", cpu)
    assert devices.recorded_activation_dtype({}, "auto", cpu) is decided  # an older run folder


@pytest.mark.slow
def test_workers_starting_together_measure_into_one_cache_and_lose_no_entry(tmp_path):
    """Three real processes on an empty cache, two keys (1 and 2 threads): every entry is kept
    (no read-modify-write lost to another), and the two workers with the same key agree."""
    from together import outputs, start_together

    cache = tmp_path / "cache"
    prepare = """
        import json, sys, torch
        from timelapse_nst.engine import devices
        torch.set_num_threads(int(sys.argv[2]))
    """
    act = "print(json.dumps(devices.cpu_bf16_pays()))"
    env = {**os.environ, "TIMELAPSE_NST_CACHE": str(cache)}
    processes = start_together(prepare, act, tmp_path / "gate", args=[["1"], ["2"], ["1"]], env=env)
    answers = [json.loads(out) for out in outputs(processes)]
    recorded = json.loads((cache / "cpu-precision.json").read_text())
    assert sorted(key.split("|")[2] for key in recorded) == ["1 threads", "2 threads"]
    by_threads = {key.split("|")[2]: entry["bf16_pays"] for key, entry in recorded.items()}
    assert answers == [by_threads["1 threads"], by_threads["2 threads"], by_threads["1 threads"]]
    assert sorted(p.name for p in cache.iterdir()) == ["cpu-precision.json", "cpu-precision.json.lock"]
