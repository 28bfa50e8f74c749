"""pysot's RPN heads (``pysot/models/head/rpn.py``) split into ``template`` and ``forward``.

``template(z_f)`` runs the template-only layers once and returns kernels; ``forward(kernels, x_f)``
correlates them with search features. Module names equal pysot's, so state_dicts are
interchangeable. Outputs: cls (B, 2A, S, S), channels viewed as (2, A) with background first;
loc (B, 4A, S, S), channels viewed as (4, A) in the order dx, dy, dw, dh.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from siamlightning.models.heads.xcorr import (
    exporting,
    search_per_kernel,
    xcorr_depthwise,
    xcorr_up_channel_shifts,
)

RPNKernels = tuple[torch.Tensor, torch.Tensor]


def _xcorr_up_channel(kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Full xcorr with K outputs: kernel (B|1, K*C, h, w), x (B, C, H, W) -> (B, K, Ho, Wo);
    a kernel batch dividing B serves consecutive search images (`search_per_kernel`).

    Output channel k uses kernel channels [k*C, (k+1)*C), as pysot's ``xcorr_fast``. Runs in fp32
    with autocast off, like :func:`siamlightning.models.heads.xcorr.xcorr` (which has one output
    channel only, hence this helper). While exporting: `xcorr_up_channel_shifts`.
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        k, s = kernel.float(), x.float()
        b, c, h, w = s.shape
        kb, kc = k.shape[:2]
        if kc % c:
            raise ValueError(f"kernel channels {kc} are not a multiple of search channels {c}")
        if exporting():  # dynamic batch: no grouped conv (models/heads/xcorr.py)
            return xcorr_up_channel_shifts(k, s)
        weight = k.reshape(kb * (kc // c), c, *k.shape[-2:])
        n = search_per_kernel(kb, b)
        if n == b:
            return F.conv2d(s, weight)
        if n > 1:  # kernel i serves search images [i * n, (i + 1) * n), as `xcorr`
            per = kc // c
            w_of = [weight[i * per : (i + 1) * per] for i in range(kb)]
            return torch.cat([F.conv2d(s[i * n : (i + 1) * n], w_of[i]) for i in range(kb)])
        out = F.conv2d(s.reshape(1, b * c, h, w), weight, groups=b)
        return out.reshape(b, kc // c, out.shape[-2], out.shape[-1])


class UPChannelRPN(nn.Module):
    """Original SiamRPN head: template convs to 256*2A / 256*4A channels, full xcorr, loc_adjust."""

    def __init__(self, *, anchor_num: int = 5, feature_in: int = 256) -> None:
        super().__init__()
        cls_out, loc_out = 2 * anchor_num, 4 * anchor_num
        self.template_cls_conv = nn.Conv2d(feature_in, feature_in * cls_out, kernel_size=3)
        self.template_loc_conv = nn.Conv2d(feature_in, feature_in * loc_out, kernel_size=3)
        self.search_cls_conv = nn.Conv2d(feature_in, feature_in, kernel_size=3)
        self.search_loc_conv = nn.Conv2d(feature_in, feature_in, kernel_size=3)
        self.loc_adjust = nn.Conv2d(loc_out, loc_out, kernel_size=1)

    def template(self, z_f: torch.Tensor) -> RPNKernels:
        """(B, C, h, w) -> cls kernel (B, C*2A, h-2, w-2), loc kernel (B, C*4A, h-2, w-2)."""
        return self.template_cls_conv(z_f), self.template_loc_conv(z_f)

    def forward(self, kernels: RPNKernels, x_f: torch.Tensor) -> RPNKernels:
        """Kernels and (B, C, H, W) -> cls (B, 2A, S, S), loc (B, 4A, S, S); S = H - h + 1."""
        cls_k, loc_k = kernels
        cls = _xcorr_up_channel(cls_k, self.search_cls_conv(x_f))
        loc = self.loc_adjust(_xcorr_up_channel(loc_k, self.search_loc_conv(x_f)))
        return cls, loc


def _conv_bn_relu(cin: int, cout: int, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=kernel_size, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class DepthwiseXCorr(nn.Module):
    """3x3 conv+BN+ReLU on each branch, depthwise xcorr, then 1x1 conv+BN+ReLU and 1x1 conv."""

    def __init__(
        self, *, in_channels: int, hidden: int, out_channels: int, kernel_size: int = 3
    ) -> None:
        super().__init__()
        self.conv_kernel = _conv_bn_relu(in_channels, hidden, kernel_size)
        self.conv_search = _conv_bn_relu(in_channels, hidden, kernel_size)
        self.head = nn.Sequential(
            nn.Conv2d(hidden, hidden, kernel_size=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, kernel_size=1),
        )

    def template(self, z_f: torch.Tensor) -> torch.Tensor:
        """(B, C_in, h, w) -> kernel (B, hidden, h-2, w-2): 7x7 -> 5x5."""
        return self.conv_kernel(z_f)

    def correlate(self, kernel: torch.Tensor, x_f: torch.Tensor) -> torch.Tensor:
        """Kernel (B|1, hidden, k, k), (B, C_in, H, W) -> fp32 feature (B, hidden, S, S)."""
        return xcorr_depthwise(kernel, self.conv_search(x_f))

    def forward(self, kernel: torch.Tensor, x_f: torch.Tensor) -> torch.Tensor:
        """Kernel (B|1, hidden, k, k), (B, C_in, H, W) -> (B, out, S, S): 31x31 -> 25x25."""
        return self.head(self.correlate(kernel, x_f))


class DepthwiseRPN(nn.Module):
    """A ``cls`` DepthwiseXCorr (2A channels) and a ``loc`` one (4A channels)."""

    def __init__(self, *, anchor_num: int = 5, in_channels: int = 256, out_channels: int = 256):
        super().__init__()
        self.anchor_num = anchor_num
        self.cls = DepthwiseXCorr(
            in_channels=in_channels, hidden=out_channels, out_channels=2 * anchor_num
        )
        self.loc = DepthwiseXCorr(
            in_channels=in_channels, hidden=out_channels, out_channels=4 * anchor_num
        )

    def template(self, z_f: torch.Tensor) -> RPNKernels:
        """(B, C, h, w) -> (cls kernel, loc kernel), each (B, hidden, h-2, w-2)."""
        return self.cls.template(z_f), self.loc.template(z_f)

    def forward(self, kernels: RPNKernels, x_f: torch.Tensor) -> RPNKernels:
        """Kernels and (B, C, H, W) -> cls (B, 2A, S, S), loc (B, 4A, S, S)."""
        return self.cls(kernels[0], x_f), self.loc(kernels[1], x_f)


class MultiRPN(nn.Module):
    """One DepthwiseRPN per level (``rpn2..``), fused by a softmax-weighted sum or a plain mean.

    ``weighted`` learns separate ``cls_weight`` and ``loc_weight`` vectors (initialised to 1).
    """

    def __init__(
        self, *, anchor_num: int = 5, in_channels: Sequence[int], weighted: bool = False
    ) -> None:
        super().__init__()
        self.anchor_num = anchor_num
        self.num = len(in_channels)
        self.weighted = weighted
        for level, c in enumerate(in_channels, start=2):
            rpn = DepthwiseRPN(anchor_num=anchor_num, in_channels=c, out_channels=c)
            self.add_module(f"rpn{level}", rpn)
        if weighted:
            self.cls_weight = nn.Parameter(torch.ones(self.num))
            self.loc_weight = nn.Parameter(torch.ones(self.num))

    def template(self, z_fs: Sequence[torch.Tensor]) -> list[RPNKernels]:
        """A list of ``num`` template maps -> a list of per-level (cls, loc) kernels."""
        self._check(z_fs)
        return [getattr(self, f"rpn{i + 2}").template(z) for i, z in enumerate(z_fs)]

    def forward(self, kernels: Sequence[RPNKernels], x_fs: Sequence[torch.Tensor]) -> RPNKernels:
        """Per-level kernels, ``num`` search maps -> fused cls (B, 2A, S, S), loc (B, 4A, S, S)."""
        self._check(x_fs)
        outs = [getattr(self, f"rpn{i + 2}")(k, x) for i, (k, x) in enumerate(zip(kernels, x_fs))]
        cls = torch.stack([c for c, _ in outs])
        loc = torch.stack([lo for _, lo in outs])
        if not self.weighted:
            return cls.mean(0), loc.mean(0)
        wc = F.softmax(self.cls_weight, 0).view(-1, 1, 1, 1, 1)
        wl = F.softmax(self.loc_weight, 0).view(-1, 1, 1, 1, 1)
        return (cls * wc).sum(0), (loc * wl).sum(0)

    def _check(self, feats: Sequence[torch.Tensor]) -> None:
        if isinstance(feats, torch.Tensor) or len(feats) != self.num:
            got = "one tensor" if isinstance(feats, torch.Tensor) else f"{len(feats)} maps"
            raise ValueError(f"MultiRPN with {self.num} levels got {got}")
