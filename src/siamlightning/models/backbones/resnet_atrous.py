"""pysot's atrous ResNet-50 (``pysot/models/backbone/resnet_atrous.py``), output stride 8.

Differences from torchvision's ResNet-50, all needed for pysot / SiamMask weights:
conv1 has padding 0; layer2's first block uses a stride-2 3x3 with padding 0 and a 3x3/2
downsample with padding 0; layer3 has stride 1 and dilation 2 (its first block and downsample use
dilation 1); layer4 stride 1 and dilation 4 (first block and downsample dilation 2).
Sizes: 127 -> 61, 31, 31, 15, 15, 15 and 255 -> 125, 63, 63, 31, 31, 31.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

#: channels of the five selectable outputs: relu(conv1), layer1, layer2, layer3, layer4
RESNET50_CHANNELS = (64, 256, 512, 1024, 2048)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride or dilation) -> 1x1 bottleneck with expansion 4."""

    expansion = 4

    def __init__(
        self,
        *,
        inplanes: int,
        planes: int,
        stride: int = 1,
        dilation: int = 1,
        downsample: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if downsample is not None and dilation > 1:
            dilation //= 2  # the first block of a dilated stage uses half the dilation
        if stride != 1 and dilation != 1:
            raise ValueError(f"stride {stride} and dilation {dilation}: one of them must be 1")
        padding = dilation if dilation > 1 else 2 - stride  # stride 2 -> padding 0
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride, padding=padding, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, inplanes, H, W) -> (B, 4 * planes, H', W')."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class ResNet50Atrous(nn.Module):
    """Atrous ResNet-50 returning the outputs listed in ``used_layers``.

    ``used_layers`` indexes [relu(conv1) 64ch, layer1 256, layer2 512, layer3 1024, layer4 2048];
    layer3 / layer4 are built only when listed (otherwise identities, absent from the state_dict).
    pysot configs: SiamRPN++ ``(2, 3, 4)``, SiamMask ``(0, 1, 2, 3)``.
    """

    stride = 8

    def __init__(
        self,
        *,
        used_layers: Sequence[int] = (2, 3, 4),
        depths: Sequence[int] = (3, 4, 6, 3),
        width: float = 1.0,
    ) -> None:
        super().__init__()
        self.used_layers = [int(i) for i in used_layers]
        if not self.used_layers or any(i not in range(5) for i in self.used_layers):
            raise ValueError(f"used_layers {list(used_layers)} must be a non-empty subset of 0..4")
        if not 0 < width <= 4 or int(16 * width) < 1:
            raise ValueError(f"width {width} must be in (0, 4] (channels x width, stem 64 x width)")
        c = [max(1, int(n * width)) for n in (64, 128, 256, 512)]  # ResNet-50: width 1
        self._inplanes = c[0]
        self.conv1 = nn.Conv2d(3, c[0], kernel_size=7, stride=2, padding=0, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = [c[0]]
        self.layer1 = self._make_layer(c[0], depths[0])
        channels.append(self._inplanes)
        self.layer2 = self._make_layer(c[1], depths[1], stride=2)
        channels.append(self._inplanes)
        self.layer3 = self._make_layer(c[2], depths[2], dilation=2) if 3 in used_layers else None
        channels.append(self._inplanes)
        self.layer4 = self._make_layer(c[3], depths[3], dilation=4) if 4 in used_layers else None
        channels.append(self._inplanes)
        self.out_channels = [channels[i] for i in self.used_layers]
        self.reset_parameters()

    def _make_layer(
        self, planes: int, blocks: int, stride: int = 1, dilation: int = 1
    ) -> nn.Sequential:
        out = planes * Bottleneck.expansion
        downsample = None
        if stride != 1 or self._inplanes != out:
            if stride == 1 and dilation == 1:
                conv = nn.Conv2d(self._inplanes, out, kernel_size=1, bias=False)
            else:  # 3x3 downsample: padding 0 when strided, else dilation // 2
                dd = dilation // 2 if dilation > 1 else 1
                pad = dd if dilation > 1 else 0
                conv = nn.Conv2d(
                    self._inplanes, out, 3, stride=stride, padding=pad, dilation=dd, bias=False
                )
            downsample = nn.Sequential(conv, nn.BatchNorm2d(out))
        layers = [
            Bottleneck(
                inplanes=self._inplanes,
                planes=planes,
                stride=stride,
                dilation=dilation,
                downsample=downsample,
            )
        ]
        self._inplanes = out
        layers += [
            Bottleneck(inplanes=out, planes=planes, dilation=dilation) for _ in range(1, blocks)
        ]
        return nn.Sequential(*layers)

    def reset_parameters(self) -> None:
        """pysot's init: conv weights N(0, sqrt(2 / (k*k*out))), BN to identity."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) -> the ``used_layers`` outputs, e.g. 255 -> [(B, 512, 31, 31), ...]."""
        x0 = self.relu(self.bn1(self.conv1(x)))
        p1 = self.layer1(self.maxpool(x0))
        p2 = self.layer2(p1)
        p3 = p2 if self.layer3 is None else self.layer3(p2)
        p4 = p3 if self.layer4 is None else self.layer4(p3)
        outs = (x0, p1, p2, p3, p4)
        return [outs[i] for i in self.used_layers]
