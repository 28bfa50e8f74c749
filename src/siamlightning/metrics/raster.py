"""Rasterised region overlap, as the VOT toolkits compute it (spec §2.2), vectorised over frames.

Conventions:

- ``"vot"``: votchallenge python toolkit ``region/raster.py:calculate_overlap``. Coordinates are
  rounded half-to-even; a rectangle fills pixels x..x+w-1; a polygon is scanline-filled including
  both end nodes; masks are copied; the raster is the union of the two regions' boxes clipped to
  [0, W-1] x [0, H-1]. Two empty regions (or a degenerate union box) give 1, a degenerate clipped
  box gives 0, otherwise |A & B| / |A | B| (0 when the union is empty).
- ``"pysot"``: pysot ``toolkit/utils/region.pyx:vot_overlap`` on trax ``region.c``. A rectangle
  becomes the polygon x..x+w (so it covers w+1 pixels), float32 coordinates are rounded half away
  from zero, bounds (w, h) mean the inclusive range [0, w] x [0, h], the result is float32 and a
  special region gives NaN. Masks are not supported.

``bounds`` is the image ``(W, H)`` or None (no clipping). A region is a (4,) rectangle, a (2k,)
polygon (k >= 3), a `Mask`, or a `Special` / None / array with NaN (empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from siamlightning.metrics.raster_spans import (
    count_pixels,
    dense_rows,
    polygon_spans,
    rectangle_spans,
)
from siamlightning.metrics.regions import Mask, Special

__all__ = ["Convention", "raster_overlap", "raster_overlaps"]

Convention = Literal["vot", "pysot"]
_EMPTY, _RECT, _POLY, _MASK = 0, 1, 2, 3
_F32 = np.float32


class _Side:
    """One side of N region pairs: kinds (N,), rounded rect data, polygon groups, masks, boxes."""

    def __init__(self, regions: Any, convention: Convention) -> None:
        items = _items(regions)
        n = len(items)
        self.kind = np.zeros(n, dtype=np.int8)
        self.rect = np.zeros((n, 4))
        self.masks: dict[int, Mask] = {}
        groups: dict[int, list[int]] = {}
        for i, it in enumerate(items):
            if isinstance(it, Mask):
                if convention == "pysot":
                    raise ValueError("masks are not supported by the 'pysot' convention")
                self.kind[i], self.masks[i] = _MASK, it
            elif it is not None and it.size == 4 and convention == "vot":
                self.kind[i], self.rect[i] = _RECT, it
            elif it is not None:
                self.kind[i] = _POLY
                groups.setdefault(4 if it.size == 4 else it.size // 2, []).append(i)
        self.polys: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for k, idx in groups.items():
            pts = np.stack(
                [_rect_polygon(items[i]) if items[i].size == 4 else items[i] for i in idx]
            )
            self.polys[k] = (np.asarray(idx), pts.reshape(len(idx), k, 2))
        self.pos = np.zeros(n, dtype=np.int64)  # row of pair i inside its polygon group
        self.verts = np.zeros(n, dtype=np.int64)  # its vertex count (0: not a polygon)
        for k, (idx, _) in self.polys.items():
            self.pos[idx], self.verts[idx] = np.arange(idx.size), k
        if convention == "vot":
            self.rect = np.round(self.rect)
            self.polys = {k: (i, np.round(p)) for k, (i, p) in self.polys.items()}
        else:
            self.polys = {k: (i, p.astype(_F32)) for k, (i, p) in self.polys.items()}
        self.box = self._boxes(convention)

    def _boxes(self, convention: Convention) -> np.ndarray:
        box = np.zeros((self.kind.size, 4))
        x, y, w, h = self.rect.T
        box[self.kind == _RECT] = np.stack([x, y, x + w - 1, y + h - 1], 1)[self.kind == _RECT]
        for idx, pts in self.polys.values():
            lo, hi = pts.min(axis=1), pts.max(axis=1)
            if convention == "pysot":
                lo, hi = np.floor(lo), np.ceil(hi)
            box[idx] = np.concatenate([lo, hi], axis=1)
        for i, m in self.masks.items():
            ys, xs = np.nonzero(m.mask)
            b = (xs.min(), ys.min(), xs.max(), ys.max()) if xs.size else (0, 0, 0, 0)
            box[i] = np.add(b, (*m.offset, *m.offset))
        return box

    def spans(
        self,
        pairs: np.ndarray,
        origin: np.ndarray,
        width: np.ndarray,
        local: np.ndarray,
        y: np.ndarray,
        rule: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Raster rows of ``pairs`` (P,) with boxes at origin (P, 2), width (P,): row r belongs to
        pair ``local[r]`` at relative height ``y[r]`` -> inclusive spans start, end (R, S)."""
        slots = max([1] + [k // 2 for k in self.polys])
        start = np.ones((local.size, slots), dtype=np.int64)
        end = np.zeros((local.size, slots), dtype=np.int64)
        row_kind = np.take(self.kind[pairs], local)
        row_width = np.take(width, local)
        sel = np.flatnonzero(row_kind == _RECT)
        if sel.size:
            rect = self.rect[pairs].copy()
            rect[:, :2] -= origin
            rect = np.take(rect, local[sel], axis=0)
            start[sel, :1], end[sel, :1] = rectangle_spans(rect, y[sel], row_width[sel])
        for k, (_, pts) in self.polys.items():
            mine = self.verts[pairs] == k
            if not mine.any():
                continue
            rel = pts[self.pos[pairs[mine]]]
            corner = origin[mine][:, None, :]
            if rule == "pysot":  # trax offsets the float32 polygon, then rounds half away from 0
                rel = (rel - corner.astype(_F32)).astype(np.float64)
                rel = np.where(rel >= 0, np.floor(rel + 0.5), np.ceil(rel - 0.5))
            else:
                rel = rel - corner
            sel = np.flatnonzero(mine[local])
            at = (np.cumsum(mine) - 1)[local[sel]]
            s, e = polygon_spans(rel[..., 0], rel[..., 1], at, y[sel], row_width[sel], rule)
            start[sel, : s.shape[1]], end[sel, : s.shape[1]] = s, e
        return start, end


def _items(regions: Any) -> list[np.ndarray | Mask | None]:
    if isinstance(regions, np.ndarray) and regions.ndim == 2 and regions.dtype != object:
        rows = regions.astype(np.float64)
        k = rows.shape[1]
        if k not in (1, 4) and (k < 6 or k % 2):
            raise ValueError(f"a region has 4 (rectangle) or an even >= 6 values, got {k}")
        return [None if k == 1 or np.isnan(r).any() else r for r in rows]
    out: list[np.ndarray | Mask | None] = []
    for r in regions:
        if r is None or isinstance(r, Special | Mask):
            out.append(r if isinstance(r, Mask) else None)
            continue
        a = np.asarray(r, dtype=np.float64).ravel()
        if a.size == 1 or np.isnan(a).any():
            out.append(None)
        elif a.size == 4 or (a.size >= 6 and a.size % 2 == 0):
            out.append(a)
        else:
            raise ValueError(f"a region has 4 (rectangle) or an even >= 6 values, got {a.size}")
    return out


def _rect_polygon(r: np.ndarray) -> np.ndarray:
    x, y, w, h = r
    return np.array([x, y, x + w, y, x + w, y + h, x, y + h])


def _rows(height: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pair = np.repeat(np.arange(height.size), height)
    first = np.cumsum(height) - height
    return pair, np.arange(pair.size) - first[pair]


def _pair_counts(
    a: _Side, b: _Side, pairs: np.ndarray, origin: np.ndarray, size: np.ndarray, rule: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel counts |A|, |B|, |A & B| (P,) of ``pairs`` rasterised in boxes origin (P, 2) size."""
    out = np.zeros((3, pairs.size), dtype=np.int64)
    has_mask = (a.kind[pairs] == _MASK) | (b.kind[pairs] == _MASK)
    flat = np.flatnonzero(~has_mask)
    if flat.size:
        local, y = _rows(size[flat, 1])
        args = (pairs[flat], origin[flat], size[flat, 0], local, y, rule)
        counts = count_pixels(*a.spans(*args), *b.spans(*args))
        for c in range(3):
            out[c, flat] = np.bincount(local, weights=counts[c], minlength=flat.size)
    for p in np.flatnonzero(has_mask):
        w, h = size[p]
        ma, mb = (_dense(s, pairs[p], origin[p], w, h, rule) for s in (a, b))
        out[:, p] = ma.sum(), mb.sum(), (ma & mb).sum()
    return out[0], out[1], out[2]


def _dense(side: _Side, i: int, origin: np.ndarray, w: int, h: int, rule: str) -> np.ndarray:
    if side.kind[i] == _MASK:
        m = side.masks[i]
        out = np.zeros((h, w), dtype=bool)
        x0, y0 = m.offset[0] - origin[0], m.offset[1] - origin[1]
        mh, mw = m.mask.shape
        ty, tx = max(y0, 0), max(x0, 0)
        by, bx = min(y0 + mh, h), min(x0 + mw, w)
        if by > ty and bx > tx:
            out[ty:by, tx:bx] = m.mask[ty - y0 : by - y0, tx - x0 : bx - x0]
        return out
    rows = np.arange(h)
    s, e = side.spans(np.array([i]), origin[None], np.array([w]), rows * 0, rows, rule)
    return dense_rows(s, e, int(w))


def _vot(a: _Side, b: _Side, bounds: tuple[int, int] | None) -> np.ndarray:
    lo = np.minimum(a.box[:, :2], b.box[:, :2])
    hi = np.maximum(a.box[:, 2:], b.box[:, 2:])
    out = np.full(a.kind.size, np.nan)
    same = (lo >= hi).any(axis=1)  # "two empty regions are considered to be identical"
    out[same] = 1.0
    if bounds is not None:
        lo, hi = np.maximum(lo, 0), np.minimum(hi, np.subtract(bounds, 1))
    outside = ~same & (lo >= hi).any(axis=1)
    out[outside] = 0.0
    pairs = np.flatnonzero(~same & ~outside)
    origin = lo[pairs].astype(np.int64)
    na, nb, both = _pair_counts(a, b, pairs, origin, (hi[pairs] - lo[pairs] + 1).astype(int), "vot")
    union = na + nb - both
    out[pairs] = np.where(union > 0, both / np.maximum(union, 1), 0.0)
    return out


def _pysot(a: _Side, b: _Side, bounds: tuple[int, int] | None) -> np.ndarray:
    ba, bb = a.box.astype(_F32), b.box.astype(_F32)
    if bounds is not None:
        limit_lo, limit_hi = np.zeros(2, _F32), np.asarray(bounds, dtype=_F32)
        ba = np.concatenate([np.maximum(ba[:, :2], limit_lo), np.minimum(ba[:, 2:], limit_hi)], 1)
        bb = np.concatenate([np.maximum(bb[:, :2], limit_lo), np.minimum(bb[:, 2:], limit_hi)], 1)
    lo = np.minimum(ba[:, :2], bb[:, :2])
    size = np.trunc(np.maximum(ba[:, 2:], bb[:, 2:]) - lo).astype(np.int64) + 1
    area_a = ((ba[:, 2] - ba[:, 0]) * (ba[:, 3] - ba[:, 1])).astype(np.float64)
    area_b = ((bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])).astype(np.float64)
    inter = (np.minimum(ba[:, 2], bb[:, 2]) - np.maximum(ba[:, 0], bb[:, 0])) * (
        np.minimum(ba[:, 3], bb[:, 3]) - np.maximum(ba[:, 1], bb[:, 1])
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        tiny = (area_a / area_b < 1e-10) | (area_b / area_a < 1e-10) | (size < 1).any(axis=1)
        box_iou = inter / (area_a.astype(_F32) + area_b.astype(_F32) - inter)
    out = np.zeros(a.kind.size, dtype=_F32)
    out[(a.kind == _EMPTY) | (b.kind == _EMPTY)] = np.nan
    pairs = np.flatnonzero((a.kind != _EMPTY) & (b.kind != _EMPTY) & ~tiny & ~(box_iou <= 0))
    na, nb, both = _pair_counts(a, b, pairs, lo[pairs].astype(np.int64), size[pairs], "pysot")
    with np.errstate(divide="ignore", invalid="ignore"):
        out[pairs] = both.astype(_F32) / (na + nb - both).astype(_F32)
    return out.astype(np.float64)


def raster_overlaps(
    a: Sequence[Any] | np.ndarray,
    b: Sequence[Any] | np.ndarray,
    bounds: tuple[int, int] | None = None,
    *,
    convention: Convention = "vot",
) -> np.ndarray:
    """Per-pair rasterised IoU: N regions a, N regions b (or (N, 4) / (N, 2k) arrays) -> (N,)."""
    if convention not in ("vot", "pysot"):
        raise ValueError(f"unknown raster convention {convention!r}; known: pysot, vot")
    side_a, side_b = _Side(a, convention), _Side(b, convention)
    if side_a.kind.size != side_b.kind.size:
        raise ValueError(f"{side_a.kind.size} regions against {side_b.kind.size} regions")
    if bounds is not None:
        bounds = (int(bounds[0]), int(bounds[1]))
    return (_vot if convention == "vot" else _pysot)(side_a, side_b, bounds)


def raster_overlap(
    a: Any, b: Any, bounds: tuple[int, int] | None = None, *, convention: Convention = "vot"
) -> float:
    """Rasterised IoU of two regions ((4,) rect, (2k,) polygon, `Mask`, `Special`) -> float."""
    return float(raster_overlaps([a], [b], bounds, convention=convention)[0])
