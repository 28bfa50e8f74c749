"""pysot's AlexNet with BN (``pysot/models/backbone/alexnet.py``), state_dict-compatible.

Channels [96, 256, 384, 384, 256], no groups, no padding, total stride 8. Blocks 1-2 are
conv -> BN -> maxpool -> ReLU (pool before ReLU); blocks 3-4 conv -> BN -> ReLU; block 5 conv -> BN
without ReLU. Sizes: 127 -> 6, 255 -> 22, 287 -> 26. Inputs are BGR 0-255 for pysot's weights.
"""

from __future__ import annotations

import torch
from torch import nn

_CHANNELS = (96, 256, 384, 384, 256)


def _widths(width_mult: float) -> list[int]:
    return [3] + [int(c * width_mult) for c in _CHANNELS]


def _blocks(width_mult: float) -> list[list[nn.Module]]:
    """The five blocks as lists of layers, in pysot's order."""
    c = _widths(width_mult)
    return [
        [
            nn.Conv2d(c[0], c[1], kernel_size=11, stride=2),
            nn.BatchNorm2d(c[1]),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
        ],
        [
            nn.Conv2d(c[1], c[2], kernel_size=5),
            nn.BatchNorm2d(c[2]),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
        ],
        [nn.Conv2d(c[2], c[3], kernel_size=3), nn.BatchNorm2d(c[3]), nn.ReLU(inplace=True)],
        [nn.Conv2d(c[3], c[4], kernel_size=3), nn.BatchNorm2d(c[4]), nn.ReLU(inplace=True)],
        [nn.Conv2d(c[4], c[5], kernel_size=3), nn.BatchNorm2d(c[5])],
    ]


class PysotAlexNetLegacy(nn.Module):
    """pysot ``AlexNetLegacy``: one ``features`` Sequential (keys ``features.{0,1,4,5,...}``)."""

    stride = 8

    def __init__(self, *, width_mult: float = 1.0) -> None:
        super().__init__()
        self.features = nn.Sequential(*[m for block in _blocks(width_mult) for m in block])
        self.out_channels = _widths(width_mult)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 256, (H - 79) // 8, ...): 127 -> 6, 255 -> 22, 287 -> 26."""
        return self.features(x)


class PysotAlexNet(nn.Module):
    """pysot ``AlexNet``: the same layers split into ``layer1..5`` so blocks can be frozen."""

    stride = 8

    def __init__(self, *, width_mult: float = 1.0) -> None:
        super().__init__()
        for i, block in enumerate(_blocks(width_mult), start=1):
            self.add_module(f"layer{i}", nn.Sequential(*block))
        self.out_channels = _widths(width_mult)[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 256, (H - 79) // 8, ...): 127 -> 6, 255 -> 22, 287 -> 26."""
        for i in range(1, 6):
            x = getattr(self, f"layer{i}")(x)
        return x


def legacy_to_layers_key(key: str) -> str:
    """``PysotAlexNetLegacy`` key ``features.N.<p>`` -> ``PysotAlexNet`` key ``layerK.M.<p>``."""
    head, _, rest = key.partition(".")
    if head != "features":
        return key
    index, _, param = rest.partition(".")
    n = int(index)
    for k, size in enumerate((4, 4, 3, 3, 2), start=1):
        if n < size:
            return f"layer{k}.{n}.{param}"
        n -= size
    raise ValueError(f"PysotAlexNetLegacy has no layer features.{index} (key {key!r})")
