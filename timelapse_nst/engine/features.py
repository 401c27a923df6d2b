"""VGG19 truncated after the deepest layer in use, returning the named activations we need.

Input: images (N, 3, H, W), RGB, float, 0..255. Output: {layer name: activation}.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from timelapse_nst.settings.config import VGG19_LAYERS

# The seed's pixel convention (gordicaleksa's pytorch-neural-style-transfer): 0..255 RGB minus the
# ImageNet mean, std left at 1. We keep it on purpose so the seed's loss weights (1e5 / 3e4 / 1)
# mean the same thing here.
IMAGENET_MEAN_255 = (123.675, 116.28, 103.53)


class VGGFeatures(nn.Module):
    """The named layers of VGG19 up to the deepest one requested."""

    def __init__(self, vgg_features: nn.Sequential, layers: Iterable[str], *, pooling: str = "max") -> None:
        super().__init__()
        self.layers = frozenset(layers)
        self.pooling = pooling
        deepest = max(VGG19_LAYERS.index(name) for name in self.layers)
        modules = []
        for index, module in enumerate(list(vgg_features)[: deepest + 1]):
            name = VGG19_LAYERS[index]
            if isinstance(module, nn.ReLU):
                # torchvision's ReLUs are in-place: one would overwrite a conv output we keep.
                keep_input = VGG19_LAYERS[index - 1] in self.layers
                module = nn.ReLU(inplace=not keep_input)
            elif isinstance(module, nn.MaxPool2d) and pooling == "avg":
                module = nn.AvgPool2d(kernel_size=2, stride=2)
            modules.append((name, module))
        self.body = nn.ModuleDict(modules)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN_255).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()
        self._copies: dict[tuple[object, ...], VGGFeatures] = {}

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        # The mean is subtracted in fp32 (0..255 pixels lose their fractions in bf16), then the
        # image takes the layout and dtype of the weights: a bf16 copy of the network runs
        # bf16 convolutions with no per-call weight casts (what autocast would redo each time).
        first = self.body["conv1_1"]
        x = (image - self.mean).to(first.weight.dtype)
        if first.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        out = {}
        for name, module in self.body.items():
            x = module(x)
            if name in self.layers:
                out[name] = x
        return out

    def in_dtype(self, dtype: torch.dtype) -> VGGFeatures:
        """This network with its weights stored in ``dtype`` (made once, then kept).

        Why: under autocast, frozen weights (requires_grad=False) are cast to bf16/fp16 again on
        every forward call -- 20M parameters each evaluation. A low-precision copy runs the very
        same bf16/fp16 convolutions without that cost. The mean stays fp32.
        """
        weight = self.body["conv1_1"].weight
        if weight.dtype == dtype:
            return self
        key = (dtype, weight.device, weight.is_contiguous(memory_format=torch.channels_last))
        if key not in self._copies:
            body = copy.deepcopy(nn.Sequential(*self.body.values())).to(dtype)
            self._copies[key] = VGGFeatures(body, self.layers, pooling=self.pooling).to(self.mean.device)
        return self._copies[key]
