"""pysot's adjust necks (``pysot/models/neck/neck.py``): 1x1 conv + BN, template crop.

A feature map narrower than ``crop_below`` (20) px is cropped; two rules, chosen per neck:

* ``crop_margin=None`` (default, pysot ``AdjustLayer``): keep the centre ``center_size`` x
  ``center_size`` (7x7, index 4..11 of 15).
* ``crop_margin=4`` (official SiamMask ``ResDownS``,
  ``experiments/siammask_sharp/custom.py:21-24``): drop 4 cells per side (``x[:, :, 4:-4, 4:-4]``).

Both give the template's 15 -> 7 (so weights are interchangeable) and leave a 255 search's 31
alone. They differ on the 17-wide layer3 map of SiamMask's 143 px refine-training search: pysot
keeps 7 (-> a 1x1 score map), SiamMask keeps 9 (-> 3x3, the map its 3x3 label unfold and
unpadded refine windows are built for; spec siammask-and-vos.md §0.2, §1.3). SiamMask training
configs use ``crop_margin: 4``, matching the official code (spec §0.2); pysot's configs and
weights keep the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class AdjustLayer(nn.Module):
    """1x1 conv (no bias) + BN to ``out_channels``; crop of narrow (template) features."""

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        center_size: int = 7,
        crop_below: int = 20,
        crop_margin: int | None = None,
    ) -> None:
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        if crop_margin is not None and crop_margin < 0:
            raise ValueError(f"AdjustLayer crop_margin must be >= 0 or None, got {crop_margin}")
        self.center_size = center_size
        self.crop_below = crop_below
        self.crop_margin = crop_margin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H, W); when W < 20 the centre 7x7 (pysot) or
        (B, C_out, H - 8, W - 8) (``crop_margin=4``, SiamMask: 15 -> 7, 17 -> 9)."""
        x = self.downsample(x)
        if x.shape[-1] < self.crop_below:
            if self.crop_margin is None:
                lo = (x.shape[-1] - self.center_size) // 2
                hi = lo + self.center_size
            else:
                lo, hi = self.crop_margin, x.shape[-1] - self.crop_margin
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
        crop_margin: int | None = None,
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
                in_channels=i,
                out_channels=o,
                center_size=center_size,
                crop_below=crop_below,
                crop_margin=crop_margin,
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
