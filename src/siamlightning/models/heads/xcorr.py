"""The one cross-correlation of the package (full and depthwise), autocast-safe.

Correlations of large unnormalised features overflow fp16, so both run in float32 with autocast
disabled; their cost is small next to the backbone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _fp32(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float32 else t.float()


def xcorr(kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample full cross-correlation: kernel (B|1, C, h, w), x (B, C, H, W) -> (B, 1, Ho, Wo).

    A kernel batch of 1 is shared by every search image (the tracker's scale pyramid).
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        k, s = _fp32(kernel), _fp32(x)
        if k.shape[0] == 1:
            return F.conv2d(s, k)
        b, c, h, w = s.shape
        if k.shape[0] != b:
            raise ValueError(f"kernel batch {k.shape[0]} does not match search batch {b}")
        out = F.conv2d(s.reshape(1, b * c, h, w), k, groups=b)
        return out.reshape(b, 1, out.shape[-2], out.shape[-1])


def xcorr_depthwise(kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Channel-wise cross-correlation: kernel (B|1, C, h, w), x (B, C, H, W) -> (B, C, Ho, Wo)."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        k, s = _fp32(kernel), _fp32(x)
        b, c, h, w = s.shape
        if k.shape[0] == 1 and b > 1:
            k = k.expand(b, -1, -1, -1)
        if k.shape[0] != b or k.shape[1] != c:
            raise ValueError(f"kernel {tuple(k.shape)} does not match search {tuple(s.shape)}")
        out = F.conv2d(s.reshape(1, b * c, h, w), k.reshape(b * c, 1, *k.shape[-2:]), groups=b * c)
        return out.reshape(b, c, out.shape[-2], out.shape[-1])
