"""SiamFC: a shared backbone, cross-correlation scaled by 1e-3, and a learnable bias."""

from __future__ import annotations

import torch
from torch import nn

from siamlightning.models.heads.xcorr import xcorr


class SiamFCNet(nn.Module):
    """Stateless SiamFC network: ``template(z) -> kernel``, ``forward(kernel, x) -> response``.

    Inputs are float RGB in 0-255 (no normalisation), as recorded in ``input_format``.
    """

    input_format = "rgb255"
    output_kind = "response"  # forward -> one (B, 1, S, S) response map (`Tracker.accepts`)

    def __init__(self, *, backbone: nn.Module, out_scale: float = 1e-3, learn_bias: bool = True):
        super().__init__()
        self.backbone = backbone
        self.out_scale = out_scale
        self.bias = nn.Parameter(torch.zeros(1), requires_grad=learn_bias)
        self.stride = int(getattr(backbone, "stride", 8))

    def template(self, z: torch.Tensor) -> torch.Tensor:
        """Exemplar crops (B, 3, 127, 127) -> correlation kernels (B, C, 6, 6)."""
        return self.backbone(z)

    def forward(self, kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Kernels (B|1, C, h, w) and search crops (B, 3, H, W) -> response logits (B, 1, R, R)."""
        return xcorr(kernel, self.backbone(x)) * self.out_scale + self.bias
