"""Convert images between Pillow / numpy and torch tensors.

Pixel convention of the whole project: an image tensor is float32, shape (1, 3, H, W), RGB,
range 0..255 (the seed notebook's pixel scale, so its loss weights carry over unchanged).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

__all__ = ["to_tensor", "to_uint8", "to_uint16"]


def to_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB image as a contiguous float32 tensor, shape (1, 3, H, W), range 0..255."""
    if image.mode != "RGB":
        raise ValueError(f"expected an RGB image (use load_image), got mode {image.mode}")
    pixels = np.array(image, dtype=np.float32)  # (H, W, 3), a writable copy
    return torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """A (1, 3, H, W) or (3, H, W) 0..255 image tensor as an (H, W, 3) uint8 array.

    Clamps to [0, 255], then rounds half to even (torch.round), so the same tensor always gives
    the same bytes. NaN becomes 0 rather than whatever the cast happens to produce.
    """
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected shape (1, 3, H, W) or (3, H, W), got {tuple(tensor.shape)}")
    pixels = torch.nan_to_num(tensor.detach().float(), nan=0.0).clamp(0, 255).round()
    # Cast before the copy to the CPU: a quarter of the bytes to move.
    return pixels.to(torch.uint8).permute(1, 2, 0).cpu().contiguous().numpy()


def to_uint16(tensor: torch.Tensor) -> np.ndarray:
    """A (1, 3, H, W) or (3, H, W) 0..255 image tensor as an (H, W, 3) uint16 array (0..65535).

    Scaled by 257 (= 65535 / 255), so 8-bit value v becomes exactly 257 v and the levels the
    optimiser found between two 8-bit values are kept (16-bit final.png). NaN becomes 0.
    """
    if tensor.dim() == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected shape (1, 3, H, W) or (3, H, W), got {tuple(tensor.shape)}")
    pixels = torch.nan_to_num(tensor.detach().double(), nan=0.0).clamp(0, 255).mul(257).round()
    return pixels.to(torch.int32).permute(1, 2, 0).cpu().numpy().astype(np.uint16)
