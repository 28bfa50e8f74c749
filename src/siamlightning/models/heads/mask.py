"""SiamMask's mask branch (pysot ``pysot/models/head/mask.py``): `MaskCorr` and `Refine`.

`MaskCorr` is a `DepthwiseXCorr` with 63 x 63 = 3969 outputs: every score-map position gets a
63 x 63 mask logit (the "row"). It also returns its 256-channel correlation feature, which
`Refine` decodes at one position (tracking) or at every position (training, via ``F.unfold``)
into a 127 x 127 logit map, fusing windows of the search backbone's conv1 / layer1 / layer2
maps. Module names equal pysot's, so state dicts are interchangeable.

Window geometry for a score map of S x S positions (S = 25 for a 255 search):

=========  ========  ============  ======  ======  ======
map        channels  side          pad     window  stride
=========  ========  ============  ======  ======  ======
p0 conv1   64        4 S + 25      16      61      4
p1 layer1  256       2 S + 13      8       31      2
p2 layer2  512       S + 6         4       15      1
=========  ========  ============  ======  ======  ======

The window of position (y, x) starts at ``stride * (y, x)`` in the zero-padded map. Upsampling
uses ``F.interpolate``'s default nearest mode, as pysot's ``F.upsample``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from siamlightning.models.heads.rpn import DepthwiseXCorr

#: (pad, window, stride) of p0, p1, p2 (see the module docstring)
REFINE_WINDOWS = ((16, 61, 4), (8, 31, 2), (4, 15, 1))
REFINE_OUTPUT_SIZE = 127


class MaskCorr(DepthwiseXCorr):
    """Depthwise-xcorr mask head: ``forward`` returns (mask logits, correlation feature)."""

    def __init__(
        self, *, in_channels: int = 256, hidden: int = 256, out_channels: int = 63 * 63
    ) -> None:
        super().__init__(in_channels=in_channels, hidden=hidden, out_channels=out_channels)

    def forward(  # type: ignore[override]
        self, kernel: torch.Tensor, x_f: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Kernel (B|1, hidden, k, k), (B, C, H, W) -> (mask (B, out, S, S), feature (B, hidden,
        S, S)), the feature being the fp32 depthwise correlation `Refine` reads."""
        feature = self.correlate(kernel, x_f)
        return self.head(feature), feature


def _stream(cin: int, mid: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, mid, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, cout, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class Refine(nn.Module):
    """SiamMask refinement: correlation vector + backbone windows -> (N, 1, 127, 127) logits."""

    def __init__(self) -> None:
        super().__init__()
        self.v0 = _stream(64, 16, 4)
        self.v1 = _stream(256, 64, 16)
        self.v2 = _stream(512, 128, 32)
        self.h2 = _stream(32, 32, 32)
        self.h1 = _stream(16, 16, 16)
        self.h0 = _stream(4, 4, 4)
        self.deconv = nn.ConvTranspose2d(256, 32, 15, 15)
        self.post0 = nn.Conv2d(32, 16, 3, padding=1)
        self.post1 = nn.Conv2d(16, 4, 3, padding=1)
        self.post2 = nn.Conv2d(4, 1, 3, padding=1)

    def forward(
        self,
        features: Sequence[torch.Tensor],
        corr: torch.Tensor,
        pos: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """Search maps (p0, p1, p2) and corr (B, 256, S, S) -> logits (N, 1, 127, 127).

        ``pos`` (y, x): that position of every sample, N = B (tracking). ``None``: every
        position, N = B * S * S ordered (b, y, x), windows taken with ``F.unfold``.
        """
        maps = self._check(features, corr)
        if pos is None:
            windows = [self._unfold(f, *w) for f, w in zip(maps, REFINE_WINDOWS)]
            vec = corr.permute(0, 2, 3, 1).reshape(-1, corr.shape[1], 1, 1)
        else:
            y, x = (int(v) for v in pos)
            s = corr.shape[-1]
            if not (0 <= y < corr.shape[-2] and 0 <= x < s):
                raise ValueError(f"refine position {(y, x)} outside the {tuple(corr.shape[-2:])}")
            windows = [
                F.pad(f, [pad] * 4)[:, :, st * y : st * y + win, st * x : st * x + win]
                for f, (pad, win, st) in zip(maps, REFINE_WINDOWS)
            ]
            vec = corr[:, :, y : y + 1, x : x + 1]
        return self.decode(windows, vec)

    def decode(self, windows: Sequence[torch.Tensor], vec: torch.Tensor) -> torch.Tensor:
        """Windows (N, 64, 61, 61), (N, 256, 31, 31), (N, 512, 15, 15) and correlation vectors
        (N, 256, 1, 1) -> logits (N, 1, 127, 127)."""
        p0, p1, p2 = windows
        out = self.deconv(vec)
        out = self.post0(F.interpolate(self.h2(out) + self.v2(p2), size=(31, 31)))
        out = self.post1(F.interpolate(self.h1(out) + self.v1(p1), size=(61, 61)))
        size = (REFINE_OUTPUT_SIZE, REFINE_OUTPUT_SIZE)
        return self.post2(F.interpolate(self.h0(out) + self.v0(p0), size=size))

    @staticmethod
    def _unfold(f: torch.Tensor, pad: int, win: int, stride: int) -> torch.Tensor:
        c = f.shape[1]
        cols = F.unfold(f, (win, win), padding=pad, stride=stride)  # (B, C*win*win, L)
        return cols.transpose(1, 2).reshape(-1, c, win, win)

    @staticmethod
    def _check(features: Sequence[torch.Tensor], corr: torch.Tensor) -> list[torch.Tensor]:
        maps = list(features)
        if len(maps) != 3:
            raise ValueError(f"Refine needs 3 search maps (p0, p1, p2), got {len(maps)}")
        sh, sw = corr.shape[-2:]
        for i, (f, (pad, win, st)) in enumerate(zip(maps, REFINE_WINDOWS)):
            want = (st * (sh - 1) + win - 2 * pad, st * (sw - 1) + win - 2 * pad)
            if tuple(f.shape[-2:]) != want:
                raise ValueError(
                    f"refine map p{i} is {tuple(f.shape[-2:])}, expected {want} for a "
                    f"{sh}x{sw} correlation map"
                )
        return maps
