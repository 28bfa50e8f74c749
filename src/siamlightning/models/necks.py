"""pysot's adjust necks (``pysot/models/neck/neck.py``): 1x1 conv + BN, template centre crop.

A feature map narrower than ``crop_below`` (20) px is a template feature: its centre
``center_size`` x ``center_size`` (7x7, index 4..11 of 15) is kept, as in pysot and SiamMask.
The rule goes by width, exactly as pysot, so a small search crop (e.g. SiamMask's 143 px refine
training, feature width 17) is cropped too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class AdjustLayer(nn.Module):
    """1x1 conv (no bias) + BN to ``out_channels``; centre crop of narrow (template) features."""

    def __init__(
        self, *, in_channels: int, out_channels: int, center_size: int = 7, crop_below: int = 20
    ) -> None:
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.center_size = center_size
        self.crop_below = crop_below

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W), or (B, C_out, 7, 7) when W < 20."""
        x = self.downsample(x)
        if x.shape[-1] < self.crop_below:
            lo = (x.shape[-1] - self.center_size) // 2
            hi = lo + self.center_size
            x = x[:, :, lo:hi, lo:hi]
        return x


class AdjustAllLayer(nn.Module):
    """One AdjustLayer per level (``downsample2..``), or a single ``downsample`` for one level."""

    def __init__(
        self,
        *,
        in_channels: Sequence[int],
        out_channels: Sequence[int],
        center_size: int = 7,
        crop_below: int = 20,
    ) -> None:
        super().__init__()
        if len(in_channels) != len(out_channels):
            raise ValueError(
                f"in_channels {list(in_channels)} and out_channels {list(out_channels)} "
                "must have the same length"
            )
        self.num = len(out_channels)
        self.out_channels = list(out_channels)
        layers = [
            AdjustLayer(
                in_channels=i, out_channels=o, center_size=center_size, crop_below=crop_below
            )
            for i, o in zip(in_channels, out_channels)
        ]
        if self.num == 1:
            self.downsample = layers[0]
        else:
            for level, layer in enumerate(layers, start=2):
                self.add_module(f"downsample{level}", layer)

    def forward(
        self, features: torch.Tensor | Sequence[torch.Tensor]
    ) -> torch.Tensor | list[torch.Tensor]:
        """One (B, C_in, H, W) map -> one map; a list of ``num`` maps -> a list of maps."""
        if isinstance(features, torch.Tensor):
            features = [features]
        if len(features) != self.num:
            raise ValueError(f"AdjustAllLayer expects {self.num} feature maps, got {len(features)}")
        if self.num == 1:
            return self.downsample(features[0])
        return [getattr(self, f"downsample{i + 2}")(f) for i, f in enumerate(features)]
