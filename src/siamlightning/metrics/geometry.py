"""Box geometry: the package's one IoU and centre-error implementation (vectorised torch).

Boxes are ``x, y, w, h`` floats with ``(x, y)`` the top-left corner and the right edge at ``x + w``
(continuous coordinates, no "+1"). Every function takes torch tensors or NumPy arrays of shape
``(..., 4)`` that broadcast against each other, and returns the same kind it was given: a NumPy
array when no input is a tensor, else a tensor. The result is float64 when an input is float64
(or an integer array), else the inputs' floating dtype. NaN inputs propagate to NaN outputs.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from torch import Tensor

__all__ = ["box_iou", "center_error", "normalized_center_error", "xywh_to_xyxy", "xyxy_to_xywh"]

ArrayLike = TypeVar("ArrayLike", Tensor, np.ndarray)


def _as_tensors(*boxes: Tensor | np.ndarray) -> tuple[list[Tensor], bool]:
    """Convert inputs to tensors of one floating dtype; report whether to hand back NumPy."""
    ts = [b if isinstance(b, Tensor) else torch.as_tensor(np.asarray(b)) for b in boxes]
    dtype = ts[0].dtype
    for t in ts[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float64
    device = next((b.device for b in boxes if isinstance(b, Tensor)), torch.device("cpu"))
    out = [t.to(device=device, dtype=dtype) for t in ts]
    for t in out:
        if t.shape[-1:] != (4,):
            raise ValueError(f"boxes must have shape (..., 4), got {tuple(t.shape)}")
    return out, not any(isinstance(b, Tensor) for b in boxes)


def _back(x: Tensor, to_numpy: bool) -> Tensor | np.ndarray:
    return x.cpu().numpy() if to_numpy else x


def box_iou(a: ArrayLike, b: ArrayLike) -> ArrayLike:
    """Continuous IoU of x,y,w,h boxes: (..., 4), (..., 4) -> (...), in [0, 1], 0 if union <= 0."""
    (ta, tb), to_numpy = _as_tensors(a, b)
    x1, y1, w1, h1 = ta.unbind(-1)
    x2, y2, w2, h2 = tb.unbind(-1)
    iw = (torch.minimum(x1 + w1, x2 + w2) - torch.maximum(x1, x2)).clamp(min=0)
    ih = (torch.minimum(y1 + h1, y2 + h2) - torch.maximum(y1, y2)).clamp(min=0)
    inter = iw * ih
    union = w1 * h1 + w2 * h2 - inter
    iou = torch.where(union > 0, inter / union.where(union > 0, torch.ones_like(union)), 0.0)
    iou = torch.where(torch.isnan(union), union, iou)  # boxes with NaN stay NaN
    return _back(iou.clamp(0.0, 1.0), to_numpy)


def center_error(a: ArrayLike, b: ArrayLike) -> ArrayLike:
    """Euclidean distance between box centres ``x + w/2, y + h/2``: (..., 4), (..., 4) -> (...)."""
    (ta, tb), to_numpy = _as_tensors(a, b)
    d = (ta[..., :2] + ta[..., 2:] / 2) - (tb[..., :2] + tb[..., 2:] / 2)
    return _back(torch.linalg.vector_norm(d, dim=-1), to_numpy)


def normalized_center_error(a: ArrayLike, b_gt: ArrayLike) -> ArrayLike:
    """Centre error, each axis divided by the GT w, h (no epsilon): (..., 4), (..., 4) -> (...)."""
    (ta, tb), to_numpy = _as_tensors(a, b_gt)
    d = (ta[..., :2] + ta[..., 2:] / 2) - (tb[..., :2] + tb[..., 2:] / 2)
    return _back(torch.linalg.vector_norm(d / tb[..., 2:], dim=-1), to_numpy)


def xywh_to_xyxy(boxes: ArrayLike) -> ArrayLike:
    """``x, y, w, h`` -> ``x1, y1, x2, y2`` with ``x2 = x + w``: (..., 4) -> (..., 4)."""
    (t,), to_numpy = _as_tensors(boxes)
    return _back(torch.cat([t[..., :2], t[..., :2] + t[..., 2:]], dim=-1), to_numpy)


def xyxy_to_xywh(boxes: ArrayLike) -> ArrayLike:
    """``x1, y1, x2, y2`` -> ``x, y, w, h`` with ``w = x2 - x1``: (..., 4) -> (..., 4)."""
    (t,), to_numpy = _as_tensors(boxes)
    return _back(torch.cat([t[..., :2], t[..., 2:] - t[..., :2]], dim=-1), to_numpy)
