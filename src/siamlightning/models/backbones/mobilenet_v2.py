"""pysot's dilated MobileNetV2 (``pysot/models/backbone/mobile_v2.py``), output stride 8.

The stem is a 3x3/2 conv with padding 0; stages 4-7 keep stride 1 and dilate instead. Every
inverted residual has the 1x1 expansion conv, even with expansion 1 (as pysot, for its weights).
With width 1.4 and ``used_layers`` (3, 5, 7) the outputs have 44 / 134 / 448 channels;
sizes 127 -> 15 and 255 -> 31.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: (expansion t, channels c, blocks n, stride s, dilation d) of stages 1..7
STAGES = (
    (1, 16, 1, 1, 1),
    (6, 24, 2, 2, 1),
    (6, 32, 3, 2, 1),
    (6, 64, 4, 1, 2),
    (6, 96, 3, 1, 2),
    (6, 160, 3, 1, 4),
    (6, 320, 1, 1, 4),
)


class InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise (stride / dilation) -> 1x1 linear, residual when shapes match."""

    def __init__(
        self, *, inp: int, oup: int, stride: int, expand_ratio: int, dilation: int = 1
    ) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and inp == oup
        padding = dilation if dilation > 1 else 2 - stride  # stride 2 -> padding 0
        hidden = inp * expand_ratio
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(
                hidden, hidden, 3, stride, padding, dilation=dilation, groups=hidden, bias=False
            ),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, inp, H, W) -> (B, oup, H', W')."""
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """Modules ``layer0`` (stem) .. ``layer7`` (stages); returns the ``used_layers`` outputs."""

    stride = 8

    def __init__(self, *, width_mult: float = 1.4, used_layers: Sequence[int] = (3, 5, 7)) -> None:
        super().__init__()
        self.used_layers = [int(i) for i in used_layers]
        if not self.used_layers or any(i not in range(8) for i in self.used_layers):
            raise ValueError(f"used_layers {list(used_layers)} must be a non-empty subset of 0..7")
        inp = int(32 * width_mult)
        channels = [inp]
        self.layer0 = nn.Sequential(
            nn.Conv2d(3, inp, 3, 2, 0, bias=False), nn.BatchNorm2d(inp), nn.ReLU6(inplace=True)
        )
        last_dilation = 1
        for idx, (t, c, n, s, d) in enumerate(STAGES, start=1):
            oup = int(c * width_mult)
            # entering a more dilated stage, the first block still uses the previous dilation
            first_dilation = d if d == last_dilation else max(d // 2, 1)
            blocks = []
            for i in range(n):
                blocks.append(
                    InvertedResidual(
                        inp=inp,
                        oup=oup,
                        stride=s if i == 0 else 1,
                        expand_ratio=t,
                        dilation=first_dilation if i == 0 else d,
                    )
                )
                inp = oup
            last_dilation = d
            self.add_module(f"layer{idx}", nn.Sequential(*blocks))
            channels.append(oup)
        self.out_channels = [channels[i] for i in self.used_layers]
        self._last = max(self.used_layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) -> the ``used_layers`` outputs, e.g. 255 -> 3 x (B, C_i, 31, 31)."""
        outs = []
        for idx in range(self._last + 1):  # layers after the last used one cannot matter
            x = getattr(self, f"layer{idx}")(x)
            outs.append(x)
        return [outs[i] for i in self.used_layers]
