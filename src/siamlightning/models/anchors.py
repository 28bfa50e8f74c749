"""SiamRPN anchors as pysot makes them (``pysot/utils/anchor.py``, ``siamrpn_tracker.py``).

Stride 8, ratios (h / w) [0.33, 0.5, 1, 2, 3], scales [8]: per ratio ``ws = int(sqrt(64 / r))``,
``hs = int(ws * r)``, times the scale, giving 104x32, 88x40, 64x64, 40x80, 32x96 (w x h).
Anchor grids are ordered anchor, then y, then x, matching the head's (A, S, S) channel layout.

Coordinates follow pysot: training anchors sit at ``image_center + (i - S // 2) * stride`` with
``image_center = search_size // 2`` (127 for a 255 crop, pysot's pixel-index convention where the
centre pixel of the crop is 127); tracking anchors at ``(i - S // 2) * stride`` relative to the
crop centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

RATIOS = (0.33, 0.5, 1.0, 2.0, 3.0)
SCALES = (8.0,)


def anchor_shapes(
    *, stride: int = 8, ratios: Sequence[float] = RATIOS, scales: Sequence[float] = SCALES
) -> torch.Tensor:
    """(A, 2) anchor widths and heights, ratio-major then scale, A = len(ratios) * len(scales)."""
    shapes = []
    for r in ratios:
        ws = int(math.sqrt(stride * stride * 1.0 / r))
        hs = int(ws * r)
        shapes += [(ws * s, hs * s) for s in scales]
    return torch.tensor(shapes, dtype=torch.float32)


def score_map_size(
    *, search_size: int, exemplar_size: int = 127, stride: int = 8, base_size: int = 8
) -> int:
    """Score-map side S = (search - exemplar) // stride + 1 + base_size (255/8 -> 25)."""
    return (search_size - exemplar_size) // stride + 1 + base_size


def _grid(
    size: int, stride: int, origin: float, shapes: torch.Tensor, device: torch.device | None
) -> torch.Tensor:
    """(4, A, S, S) cx, cy, w, h with cell i at ``origin + (i - size // 2) * stride``."""
    a = shapes.shape[0]
    pos = origin + (torch.arange(size, dtype=torch.float32) - size // 2) * stride
    cx = pos.view(1, 1, size).expand(a, size, size)
    cy = pos.view(1, size, 1).expand(a, size, size)
    w = shapes[:, 0].view(a, 1, 1).expand(a, size, size)
    h = shapes[:, 1].view(a, 1, 1).expand(a, size, size)
    return torch.stack([cx, cy, w, h]).contiguous().to(device)


def training_anchors(
    *,
    search_size: int = 255,
    score_size: int = 25,
    stride: int = 8,
    ratios: Sequence[float] = RATIOS,
    scales: Sequence[float] = SCALES,
    image_center: float | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(4, A, S, S) anchors cx, cy, w, h in search-crop pixels; centre defaults to search // 2."""
    center = float(search_size // 2) if image_center is None else float(image_center)
    shapes = anchor_shapes(stride=stride, ratios=ratios, scales=scales)
    return _grid(score_size, stride, center, shapes, torch.device(device) if device else None)


def tracking_anchors(
    *,
    score_size: int,
    stride: int = 8,
    ratios: Sequence[float] = RATIOS,
    scales: Sequence[float] = SCALES,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """(A*S*S, 4) anchors cx, cy, w, h relative to the crop centre; rows ordered anchor, y, x."""
    shapes = anchor_shapes(stride=stride, ratios=ratios, scales=scales)
    grid = _grid(score_size, stride, 0.0, shapes, torch.device(device) if device else None)
    return grid.reshape(4, -1).t().contiguous()


def center_to_corner(boxes: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """cx, cy, w, h along ``dim`` -> x1, y1, x2, y2 along ``dim`` (pysot ``center2corner``)."""
    cx, cy, w, h = boxes.unbind(dim)
    return torch.stack([cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5], dim)
