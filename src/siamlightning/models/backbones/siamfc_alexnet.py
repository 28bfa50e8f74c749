"""SiamFC's AlexNet (siamfc-pytorch ``AlexNetV1``; bertinetto/siamese-fc ``vid_create_net.m``)."""

from __future__ import annotations

import torch
from torch import nn


def _bn(c: int, eps: float, momentum: float) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=eps, momentum=momentum)


class SiamFCAlexNet(nn.Module):
    """No padding, total stride 8: 127 -> 6x6, 239 -> 20x20, 255 -> 22x22, 256 channels.

    Each stage is conv -> BN -> ReLU; conv2, conv4 and conv5 use 2 groups; conv5 has no BN/ReLU.
    """

    stride = 8

    def __init__(
        self,
        *,
        width: float = 1.0,
        bn_eps: float = 1e-6,
        bn_momentum: float = 0.05,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        c = [round(v * width) for v in (96, 256, 384, 384, 256)]
        c = [v + (v % 2) for v in c]  # grouped convs need even widths
        self.out_channels = c[4]
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, c[0], 11, 2),
            _bn(c[0], bn_eps, bn_momentum),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(c[0], c[1], 5, 1, groups=2),
            _bn(c[1], bn_eps, bn_momentum),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        self.conv3 = nn.Sequential(
            nn.Conv2d(c[1], c[2], 3, 1), _bn(c[2], bn_eps, bn_momentum), nn.ReLU(inplace=True)
        )
        self.conv4 = nn.Sequential(
            nn.Conv2d(c[2], c[3], 3, 1, groups=2),
            _bn(c[3], bn_eps, bn_momentum),
            nn.ReLU(inplace=True),
        )
        self.conv5 = nn.Sequential(nn.Conv2d(c[3], c[4], 3, 1, groups=2))
        self.reset_parameters(init)

    def reset_parameters(self, init: str = "xavier") -> None:
        """Xavier (siamese-fc) or Kaiming fan-out (siamfc-pytorch) conv init; BN to identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if init == "xavier":
                    nn.init.xavier_uniform_(m.weight)
                elif init == "kaiming":
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                else:
                    raise ValueError(f"unknown init {init!r}; use 'xavier' or 'kaiming'")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float RGB 0-255 -> (B, 256, (H - 87) / 8, (W - 87) / 8)."""
        return self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))
