"""tensors.py: Pillow images to (1, 3, H, W) 0..255 float tensors and back to uint8, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import quadrants
from PIL import Image

from timelapse_nst.engine.tensors import to_tensor, to_uint8


def test_to_tensor_layout_and_range() -> None:
    tensor = to_tensor(Image.fromarray(quadrants(32, 16)))
    assert tensor.shape == (1, 3, 16, 32) and tensor.dtype == torch.float32
    assert tensor.is_contiguous()
    assert tensor[0, :, 2, 2].tolist() == [255.0, 0.0, 0.0]  # top-left red, channel order RGB
    assert tensor[0, :, 2, 30].tolist() == [0.0, 255.0, 0.0]  # top-right green


def test_to_tensor_rejects_non_rgb() -> None:
    with pytest.raises(ValueError, match="RGBA"):
        to_tensor(Image.new("RGBA", (8, 8)))


def test_uint8_round_trip_is_identity() -> None:
    array = np.random.default_rng(2).integers(0, 256, (17, 23, 3), np.uint8)
    back = to_uint8(to_tensor(Image.fromarray(array)))
    assert back.dtype == np.uint8 and back.shape == (17, 23, 3)
    np.testing.assert_array_equal(back, array)
    three_dims = to_tensor(Image.fromarray(array))[0]  # (3, H, W)
    np.testing.assert_array_equal(to_uint8(three_dims), array)


def test_to_uint8_clamps_and_rounds_half_to_even() -> None:
    values = torch.tensor([-5.0, 0.5, 1.5, 2.5, 254.6, 300.0, float("nan"), float("inf")])
    tensor = values.view(1, 1, 1, -1).expand(1, 3, 1, -1).clone().requires_grad_()
    assert to_uint8(tensor)[0, :, 0].tolist() == [0, 0, 2, 2, 255, 255, 0, 255]


@pytest.mark.parametrize("shape", [(3, 4), (1, 4, 4, 4), (2, 3, 4, 4), (4, 4, 3)])
def test_to_uint8_rejects_other_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        to_uint8(torch.zeros(shape))
