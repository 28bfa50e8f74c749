"""DAVIS video-object-segmentation measures, exactly as davis2017-evaluation computes them.

Region similarity J (mask IoU), boundary measure F (boundary precision/recall within a disk whose
radius follows the image diagonal) and the per-object statistics Mean / Recall / Decay, re-written
from ``shared/spec/siammask-and-vos.md`` §3 (the reference code is GPL and not used here).
Numpy in, numpy out; masks are (N, H, W) or (H, W), any non-zero value is foreground.

The semi-supervised protocol scores frames 1..N-2 of each object (first and last dropped), does
not use void pixels, and averages the statistics over objects (`VOSMetric`, in
`siamlightning.metrics.vos_torchmetrics`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

__all__ = [
    "VOSStatistics",
    "boundary_measure",
    "boundary_radius",
    "decay_indices",
    "disk",
    "region_similarity",
    "seg2bmap",
    "statistics",
]


def _frames(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as bool (N, H, W); a (H, W) mask becomes N = 1."""
    a = np.asarray(x)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"{what} must be a (N, H, W) or (H, W) mask, got shape {a.shape}")
    return a.astype(bool)


def _inputs(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    p, g = _frames(pred, "pred"), _frames(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} masks must have the same shape")
    v = None if void is None else _frames(void, "void")
    if v is not None and v.shape != g.shape:
        raise ValueError(f"void {v.shape} must have the shape of gt {g.shape}")
    return p, g, v


def region_similarity(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None
) -> np.ndarray:
    """J per frame, (N,) float64, of masks (N, H, W) or (H, W); 1 where the union is empty."""
    p, g, v = _inputs(pred, gt, void)
    keep = np.ones_like(g) if v is None else ~v
    inter = np.sum(p & g & keep, axis=(-2, -1))
    union = np.sum((p | g) & keep, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        j = inter / union
    j[np.isclose(union, 0)] = 1.0
    return j


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """1-px boundary map (H, W) bool of a mask (H, W), offset half a pixel toward the origin."""
    s = np.asarray(seg).astype(bool)
    if s.ndim != 2:
        raise ValueError(f"seg2bmap wants a (H, W) mask, got shape {s.shape}")
    east, south, south_east = (np.zeros_like(s) for _ in range(3))
    east[:, :-1] = s[:, 1:]
    south[:-1, :] = s[1:, :]
    south_east[:-1, :-1] = s[1:, 1:]
    b = (s ^ east) | (s ^ south) | (s ^ south_east)
    # the last row and column compare with one neighbour only, the corner with none
    b[-1, :] = s[-1, :] ^ east[-1, :]
    b[:, -1] = s[:, -1] ^ south[:, -1]
    b[-1, -1] = False
    return b


def boundary_radius(height: int, width: int, bound_th: float = 0.008) -> float:
    """Dilation radius: ``bound_th`` if >= 1, else ceil(bound_th * ||(H, W)||) (8 at 854x480)."""
    if bound_th >= 1:
        return bound_th
    # sqrt(H² + W²) as numpy's norm computes it (math.hypot may round differently)
    return float(math.ceil(bound_th * math.sqrt(height * height + width * width)))


def disk(radius: float) -> np.ndarray:
    """(K, K) uint8 disk, K = len(arange(-r, r + 1)): cells with X² + Y² <= r² (17x17, 197 at 8)."""
    axis = np.arange(-radius, radius + 1)
    x, y = np.meshgrid(axis, axis)
    return (x**2 + y**2 <= radius**2).astype(np.uint8)


def _dilate(b: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    # default anchor (centre), one iteration, a constant border that never dilates
    return cv2.dilate(b.astype(np.uint8), kernel).astype(bool)


def _f_frame(pred: np.ndarray, gt: np.ndarray, kernel: np.ndarray) -> float:
    fg_b, gt_b = seg2bmap(pred), seg2bmap(gt)
    n_fg, n_gt = int(fg_b.sum()), int(gt_b.sum())
    if n_fg == 0 or n_gt == 0:  # P, R = (1, 0), (0, 1) or (1, 1): F = 0, 0 or 1
        return 1.0 if n_fg == n_gt else 0.0
    precision = np.sum(fg_b & _dilate(gt_b, kernel)) / float(n_fg)
    recall = np.sum(gt_b & _dilate(fg_b, kernel)) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


def boundary_measure(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None, bound_th: float = 0.008
) -> np.ndarray:
    """F per frame, (N,) float64, of masks (N, H, W) or (H, W); void pixels are cleared first."""
    p, g, v = _inputs(pred, gt, void)
    if v is not None:
        p, g = p & ~v, g & ~v
    kernel = disk(boundary_radius(g.shape[1], g.shape[2], bound_th))
    return np.array([_f_frame(p[i], g[i], kernel) for i in range(g.shape[0])], dtype=np.float64)


def decay_indices(n: int, *, official_uint8: bool = False) -> np.ndarray:
    """(5,) int64 bin edges round(linspace(1, n, 5) + 1e-10) - 1 (half up), optionally mod 256."""
    ids = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64)
    return ids % 256 if official_uint8 else ids


class VOSStatistics(NamedTuple):
    """One object's statistics over its scored frames (NaN when it has none)."""

    mean: float
    recall: float
    decay: float


def _nanmean(v: np.ndarray) -> float:
    """np.nanmean without its empty / all-NaN warning (NaN then, as numpy returns)."""
    return float(np.nanmean(v)) if np.any(~np.isnan(v)) else float("nan")


def statistics(values: np.ndarray, *, official_uint8: bool = False) -> VOSStatistics:
    """(mean, recall, decay) of one object's per-frame J or F (n,) (NaN frames skipped).

    mean = nanmean(v); recall = share of frames with v > 0.5 (NaN counts as a miss); decay =
    nanmean(first quarter) - nanmean(last quarter), with 4 inclusive bins (adjacent bins share
    a frame) cut at `decay_indices`. davis2017-evaluation stores those indices as uint8, which
    wraps for n > 255 frames (and, under numpy >= 2, so does the bin end ``ids[i + 1] + 1``: at
    n = 256 the last bin is empty and the decay NaN). By default the indices are plain ints, so
    the decay is right for every length and equal to the reference for n <= 255 (every DAVIS
    sequence); ``official_uint8=True`` reproduces the reference's wrapped indices as numpy >= 2
    runs them, bit for bit, for any n.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    n = v.size
    if n == 0:
        return VOSStatistics(float("nan"), float("nan"), float("nan"))
    mean = _nanmean(v)
    recall = float(np.mean(v > 0.5))
    ids = decay_indices(n, official_uint8=official_uint8)
    ends = (ids[1:] + 1) % 256 if official_uint8 else ids[1:] + 1
    bins = [v[ids[i] : ends[i]] for i in range(4)]
    return VOSStatistics(mean, recall, _nanmean(bins[0]) - _nanmean(bins[3]))
