"""SiamMask's mask branch (pysot ``pysot/models/head/mask.py``): `MaskCorr` and `Refine`.

`MaskCorr` is a `DepthwiseXCorr` with 63 x 63 = 3969 outputs: every score-map position gets a
63 x 63 mask logit (the "row"). It also returns its 256-channel correlation feature, which
`Refine` decodes into a 127 x 127 logit map, fusing windows of the search backbone's conv1 /
layer1 / layer2 maps: at one position (tracking), at every position (``F.unfold``), or at a list
of rows (`Refine.rows`, training: only those windows are gathered). Module names equal pysot's,
so state dicts are interchangeable.

Window geometry for a score map of S x S positions. The window of position (y, x) starts at
``stride * (y, x) - pad`` in its map; ``pad`` is derived from the map sizes
(`window_padding`: the S windows tile the map symmetrically), so it is the same rule at every
search size:

=========  ========  =======  ======  ==========================  ======================
map        channels  window   stride  255 search, S = 25          143 search, S = 3
=========  ========  =======  ======  ==========================  ======================
p0 conv1   64        61       4       side 125, pad 16            side 69, pad 0
p1 layer1  256       31       2       side 63, pad 8              side 35, pad 0
p2 layer2  512       15       1       side 31, pad 4              side 17, pad 0
=========  ========  =======  ======  ==========================  ======================

255 is pysot's and SiamMask's tracking geometry (``F.pad`` 16 / 8 / 4); 143 with the SiamMask
neck crop (`AdjustLayer` ``crop_margin=4``) is SiamMask's refine training
(``experiments/siammask_sharp/custom.py:136-142``: ``F.unfold`` with padding 0; spec §0.3). In
both, the p0 window of cell k is centred on image pixel 8k + c, the anchor centre (c = 31 at 255,
63 at 143; spec §1.3). Upsampling uses ``F.interpolate``'s default nearest mode, as pysot's
``F.upsample``.

Memory of `Refine.rows` (fp32, per gathered position, independent of the score-map size): the
three windows are 64·61² + 256·31² + 512·15² floats = 2.40 MB; a training forward saves 4.22 MB
for backward (windows included; autograd saved-tensor hooks in
tests/models/test_siammask_refine_geometry.py)
and the peak of forward + backward is 4.41 MB (torch.profiler, CPU, torch 2.13). So the refine
step costs about 40 MB per sample at 143 (9 positions; 2.5 GB for SiamMask's batch 64) and at
most 71 MB per sample at 255 (16 positive positions). Unfolding every position at 255 instead
(625 windows) needs 1.5 GB of windows alone per sample, before any decoder activation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from siamlightning.models.heads.rpn import DepthwiseXCorr

#: (window, stride) of p0, p1, p2 (see the module docstring); the padding is derived
REFINE_WINDOWS = ((61, 4), (31, 2), (15, 1))
REFINE_OUTPUT_SIZE = 127
#: channels of p0, p1, p2 and of the correlation vector
REFINE_CHANNELS = (64, 256, 512)


def window_padding(side: int, score_size: int, window: int, stride: int) -> int:
    """Padding per side so ``score_size`` windows (``window``, ``stride``) tile a ``side`` map
    centred: (stride (S - 1) + window - side) / 2. Negative: the windows lie inside the map.

    E.g. the mask label unfold: (255, 25, 127, 8) -> 32, (143, 3, 127, 8) -> 0; the refine's p0:
    (125, 25, 61, 4) -> 16, (69, 3, 61, 4) -> 0.
    """
    twice = stride * (score_size - 1) + window - side
    if twice % 2:
        raise ValueError(
            f"no centred padding: {score_size} windows of {window} at stride {stride} over a "
            f"{side} map leave an odd {twice} cells"
        )
    return twice // 2


def split_rows(
    rows: torch.Tensor, shape: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows (N,) into B * S * S ((b, y, x) row-major), or cells (N, 3) of (b, y, x), of a
    (B, C, S, S) ``shape`` -> (b, y, x) index tensors (N,) each; out of range: ValueError."""
    b, _, sh, sw = shape
    rows = torch.as_tensor(rows).long()
    if rows.ndim == 2 and rows.shape[1] == 3:
        limits = rows.new_tensor([b, sh, sw])
        if rows.numel() and bool(((rows < 0) | (rows >= limits)).any()):
            raise ValueError(f"mask cells (b, y, x) must lie in {b}x{sh}x{sw}, got {rows.tolist()}")
        return rows.unbind(1)
    rows = rows.reshape(-1)
    if rows.numel() and bool((rows < 0).any() | (rows >= b * sh * sw).any()):
        raise ValueError(
            f"mask rows must lie in [0, {b * sh * sw}) for a {b}x{sh}x{sw} score map, "
            f"got min {int(rows.min())} max {int(rows.max())}"
        )
    return rows // (sh * sw), rows % (sh * sw) // sw, rows % sw


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

    def head_rows(self, feature: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        """Correlation feature (B, hidden, S, S) and N cells (N, 3) of (b, y, x) -> the mask
        logits (N, out) of those cells: ``forward``'s at a fraction of its cost (the 1 x 1 conv,
        BN and ReLU over the whole map, as BN's batch statistics need; the last 1 x 1 conv, 97%
        of the head's work at 63 x 63 outputs, at the N cells only)."""
        stem, last = self.head[:-1], self.head[-1]
        b, y, x = cells.unbind(1)
        return F.linear(stem(feature)[b, :, y, x], last.weight.flatten(1), last.bias)


def _stream(cin: int, mid: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, mid, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, cout, 3, padding=1),
        nn.ReLU(inplace=True),
    )


class Refine(nn.Module):
    """SiamMask refinement: correlation vector + backbone windows -> (N, 1, 127, 127) logits.

    Args:
        in_channels: channels of the search maps p0, p1, p2 (ResNet-50: conv1 64, layer1 256,
            layer2 512; a narrower backbone's, e.g. ``ResNet50Atrous(width=0.25)``: 16, 64, 128).
        corr_channels: channels of the mask correlation (MaskCorr's ``hidden``).
    """

    def __init__(
        self, *, in_channels: Sequence[int] = (64, 256, 512), corr_channels: int = 256
    ) -> None:
        super().__init__()
        c0, c1, c2 = (int(c) for c in in_channels)
        self.v0 = _stream(c0, 16, 4)
        self.v1 = _stream(c1, 64, 16)
        self.v2 = _stream(c2, 128, 32)
        self.h2 = _stream(32, 32, 32)
        self.h1 = _stream(16, 16, 16)
        self.h0 = _stream(4, 4, 4)
        self.deconv = nn.ConvTranspose2d(corr_channels, 32, 15, 15)
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
        maps, pads = self.geometry(features, corr)
        if pos is None:
            windows = [self._unfold(f, p, *w) for f, p, w in zip(maps, pads, REFINE_WINDOWS)]
            vec = corr.permute(0, 2, 3, 1).reshape(-1, corr.shape[1], 1, 1)
        else:
            y, x = (int(v) for v in pos)
            s = corr.shape[-1]
            if not (0 <= y < corr.shape[-2] and 0 <= x < s):
                raise ValueError(f"refine position {(y, x)} outside the {tuple(corr.shape[-2:])}")
            windows = [
                F.pad(f, [px, px, py, py])[:, :, st * y : st * y + win, st * x : st * x + win]
                for f, (py, px), (win, st) in zip(maps, pads, REFINE_WINDOWS)
            ]
            vec = corr[:, :, y : y + 1, x : x + 1]
        return self.decode(windows, vec)

    def rows(
        self, features: Sequence[torch.Tensor], corr: torch.Tensor, rows: torch.Tensor
    ) -> torch.Tensor:
        """Search maps, corr (B, 256, S, S) and rows (N,) into B * S * S, ordered (b, y, x), or
        cells (N, 3) of (b, y, x) -> logits (N, 1, 127, 127): only those windows are gathered."""
        windows, vec = self.gather(features, corr, rows)
        return self.decode(windows, vec)

    def gather(
        self, features: Sequence[torch.Tensor], corr: torch.Tensor, rows: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Rows (N,) into B * S * S ((b, y, x) order) or cells (N, 3) -> windows [(N, 64, 61, 61),
        (N, 256, 31, 31), (N, 512, 15, 15)] zero outside the maps, and vectors (N, 256, 1, 1)."""
        ib, iy, ix = split_rows(torch.as_tensor(rows, device=corr.device), corr.shape)
        return self.gather_cells(features, corr, ib, iy, ix)

    def gather_cells(
        self,
        features: Sequence[torch.Tensor],
        corr: torch.Tensor,
        ib: torch.Tensor,
        iy: torch.Tensor,
        ix: torch.Tensor,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """`gather` of cells given as index tensors (N,) b, y, x, not range-checked (an exported
        graph's cells are data): windows and vectors (N, 256, 1, 1)."""
        maps, pads = self.geometry(features, corr)
        windows = [
            _gather_windows(f, ib, iy, ix, p, *w) for f, p, w in zip(maps, pads, REFINE_WINDOWS)
        ]
        return windows, corr[ib, :, iy, ix].reshape(-1, corr.shape[1], 1, 1)

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
    def _unfold(f: torch.Tensor, pad: tuple[int, int], win: int, stride: int) -> torch.Tensor:
        c = f.shape[1]
        if min(pad) < 0:  # windows inside the map: crop the unused border first
            f = F.pad(f, [min(pad[1], 0)] * 2 + [min(pad[0], 0)] * 2)
            pad = (max(pad[0], 0), max(pad[1], 0))
        cols = F.unfold(f, (win, win), padding=pad, stride=stride)  # (B, C*win*win, L)
        return cols.transpose(1, 2).reshape(-1, c, win, win)

    @staticmethod
    def geometry(
        features: Sequence[torch.Tensor], corr: torch.Tensor
    ) -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
        """(p0, p1, p2), corr (B, 256, S, S) -> the maps and their (pad_y, pad_x): p2's padding
        from `window_padding`, p1's twice, p0's four times it (one offset in image pixels)."""
        maps = list(features)
        if len(maps) != 3:
            raise ValueError(f"Refine needs 3 search maps (p0, p1, p2), got {len(maps)}")
        sh, sw = corr.shape[-2:]
        try:
            base = [window_padding(n, s, 15, 1) for n, s in zip(maps[2].shape[-2:], (sh, sw))]
        except ValueError as err:
            raise ValueError(f"refine map p2 is {tuple(maps[2].shape[-2:])}: {err}") from None
        pads = [(base[0] * st, base[1] * st) for _, st in REFINE_WINDOWS]
        for i, (f, (py, px), (win, st)) in enumerate(zip(maps, pads, REFINE_WINDOWS)):
            want = (st * (sh - 1) + win - 2 * py, st * (sw - 1) + win - 2 * px)
            if tuple(f.shape[-2:]) != want:
                raise ValueError(
                    f"refine map p{i} is {tuple(f.shape[-2:])}, expected {want} for a "
                    f"{sh}x{sw} correlation map (padding {py}, {px})"
                )
        return maps, pads


def _gather_windows(
    f: torch.Tensor,
    b: torch.Tensor,
    y: torch.Tensor,
    x: torch.Tensor,
    pad: tuple[int, int],
    win: int,
    stride: int,
) -> torch.Tensor:
    """Map (B, C, H, W), positions (N,) -> windows (N, C, win, win) starting at
    stride * (y, x) - pad, zero outside the map (no padded copy of the map is made)."""
    h, w = f.shape[-2:]
    r = torch.arange(win, device=f.device)
    iy = (stride * y - pad[0])[:, None] + r  # (N, win)
    ix = (stride * x - pad[1])[:, None] + r
    picked = f[b[:, None, None], :, iy.clamp(0, h - 1)[:, :, None], ix.clamp(0, w - 1)[:, None, :]]
    out = picked.permute(0, 3, 1, 2).contiguous()  # (N, win, win, C) -> (N, C, win, win)
    del picked
    if min(pad) > 0:
        inside = ((iy >= 0) & (iy < h))[:, :, None] & ((ix >= 0) & (ix < w))[:, None, :]
        out.masked_fill_(~inside[:, None], 0.0)
    return out
