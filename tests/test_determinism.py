"""A render's deterministic torch, and the caller's torch as it was afterwards."""

from __future__ import annotations

import os

import torch

from timelapse_nst.engine.determinism import CUBLAS_WORKSPACE, deterministic_torch


def test_inside_deterministic_kernels_are_asked_for_and_afterwards_everything_is_put_back(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    threads = torch.get_num_threads()
    torch.manual_seed(7)
    rng = torch.get_rng_state()
    benchmark = torch.backends.cudnn.benchmark
    fill = torch.utils.deterministic.fill_uninitialized_memory
    try:
        torch.backends.cudnn.benchmark = True  # a caller that tunes for speed
        torch.utils.deterministic.fill_uninitialized_memory = True  # torch's default
        with deterministic_torch():
            assert torch.are_deterministic_algorithms_enabled()
            assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
            # no NaN pass over every new tensor: our ops write what they allocate
            assert not torch.utils.deterministic.fill_uninitialized_memory
            assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
            torch.set_num_threads(1)
            torch.manual_seed(123)
            torch.rand(3)
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
        assert torch.utils.deterministic.fill_uninitialized_memory
        assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng)
    finally:
        torch.backends.cudnn.benchmark = benchmark
        torch.utils.deterministic.fill_uninitialized_memory = fill
        torch.set_num_threads(threads)


def test_a_callers_own_workspace_setting_is_kept(monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with deterministic_torch():
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"  # also deterministic: theirs is kept
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
