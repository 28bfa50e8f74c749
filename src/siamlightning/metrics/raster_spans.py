"""Scanline kernels behind `raster.py`: per-row pixel spans of rectangles and polygons.

Every function works on a flat batch of R raster rows (rows of many region pairs stacked), so a
whole sequence is rasterised with a handful of numpy calls. A span is an inclusive column range
``[start, end]`` in raster-relative pixels; an empty span has ``start > end``. Polygon nodes are
computed with exactly the toolkits' float64 expression ``x_i + (Y - y_i) / r * k`` truncated
toward zero (numba / C ``(int)``), so the pixels match theirs bit for bit.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["BIG", "count_pixels", "dense_rows", "polygon_spans", "rectangle_spans"]

BIG = np.int64(1) << np.int64(40)  # "no node" / filler span start (filler end is BIG - 1)


def _filler(rows: int, slots: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((rows, slots), BIG, dtype=np.int64), np.full((rows, slots), BIG - 1)


def polygon_spans(
    xs: np.ndarray,
    ys: np.ndarray,
    at: np.ndarray,
    y: np.ndarray,
    width: np.ndarray,
    rule: Literal["vot", "pysot"],
) -> tuple[np.ndarray, np.ndarray]:
    """Scanline fill of rounded polygons xs, ys (P, k) (raster-relative vertices); row r is row
    ``y[r]`` of polygon ``at[r]`` in a raster ``width[r]`` wide -> start, end (R, k // 2) int64
    spans clipped to [0, width - 1].

    A node is made for every edge whose closed y-range holds the row; ``"vot"`` (votchallenge
    ``rasterize_polygon``) also makes one for a horizontal edge at ``x_i`` and skips a repeated
    node only when two or more nodes follow it; ``"pysot"`` (trax ``region.c``) makes none for
    horizontal edges and always skips a repeated node. Pairs of nodes fill inclusively.
    """
    rows, k = at.size, xs.shape[1]
    prev = np.r_[k - 1, 0 : k - 1]  # j = i - 1, the previous vertex (i = 0: the last)
    xj, yj = xs[:, prev], ys[:, prev]
    par = np.concatenate([np.minimum(ys, yj), np.maximum(ys, yj), xs, ys, yj - ys, xj - xs], 1)
    lo, hi, x0, y0, r, dx = np.split(np.take(par, at, axis=0), 6, axis=1)
    yy = y[:, None].astype(np.float64)
    hit = (lo <= yy) & (yy <= hi)
    flat = r == 0
    if rule == "pysot":
        hit &= ~flat
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(flat, x0, x0 + (yy - y0) / r * dx)
    nodes = np.sort(np.where(hit, np.trunc(np.where(hit, x, 0.0)), np.inf), axis=1)
    count = hit.sum(axis=1)
    nodes = np.where(count[:, None] > np.arange(k), nodes, float(BIG)).astype(np.int64)
    start, end = _filler(rows, max(k // 2, 1))
    two = np.flatnonzero(count == 2)  # the usual row: one span (pysot drops a one-node pair)
    if rule == "pysot":
        two = two[nodes[two, 0] != nodes[two, 1]]
    start[two, 0], end[two, 0] = nodes[two, 0], nodes[two, 1]
    _general_rows(nodes, count, start, end, rule)
    return np.maximum(start, 0), np.minimum(end, width[:, None] - 1)


def _general_rows(
    nodes: np.ndarray, count: np.ndarray, start: np.ndarray, end: np.ndarray, rule: str
) -> None:
    """Walk the sorted nodes of rows with 3+ nodes like the toolkits' fill loop; write spans."""
    live = np.flatnonzero(count >= 3)
    if live.size == 0:
        return
    ptr = np.zeros(nodes.shape[0], dtype=np.int64)
    slot = np.zeros(nodes.shape[0], dtype=np.int64)
    while live.size:
        i = ptr[live]
        a, b = nodes[live, i], nodes[live, i + 1]
        skip = a == b
        if rule == "vot":
            skip &= i < count[live] - 2
        emit = live[~skip]
        s = slot[emit]
        start[emit, s], end[emit, s] = a[~skip], b[~skip]
        slot[emit] = s + 1
        ptr[live] = i + np.where(skip, 1, 2)
        live = live[ptr[live] < count[live] - 1]


def rectangle_spans(
    rect: np.ndarray, y: np.ndarray, width: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """votchallenge rectangles: rect (R, 4) relative rounded x, y, w, h per row, y (R,), width (R,)
    -> start, end (R, 1): pixels x..x+w-1 on rows y..y+h-1, clipped to [0, width - 1]."""
    x0, y0, w, h = rect.T
    inside = (y0 <= y) & (y <= y0 + h - 1)
    s = np.maximum(x0, 0).astype(np.int64)
    e = np.minimum(x0 + w - 1, width - 1).astype(np.int64)
    start, end = _filler(y.shape[0], 1)
    start[inside, 0], end[inside, 0] = s[inside], e[inside]
    return start, end


def _disjoint(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Spans sorted by start with non-decreasing ends -> starts moved past earlier ends."""
    if start.shape[1] == 1:
        return start
    prev = np.maximum.accumulate(end, axis=1)[:, :-1] + 1
    return np.concatenate([start[:, :1], np.maximum(start[:, 1:], prev)], axis=1)


def count_pixels(
    sa: np.ndarray, ea: np.ndarray, sb: np.ndarray, eb: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spans of A (R, Sa) and B (R, Sb) -> per-row pixel counts |A|, |B|, |A & B| (R,) int64."""
    sa, sb = _disjoint(sa, ea), _disjoint(sb, eb)
    na = np.clip(ea - sa + 1, 0, None).sum(axis=1)
    nb = np.clip(eb - sb + 1, 0, None).sum(axis=1)
    lo = np.maximum(sa[:, :, None], sb[:, None, :])
    hi = np.minimum(ea[:, :, None], eb[:, None, :])
    both = np.clip(hi - lo + 1, 0, None).sum(axis=(1, 2))
    return na, nb, both


def dense_rows(start: np.ndarray, end: np.ndarray, width: int) -> np.ndarray:
    """Spans (R, S) on rows of one raster -> bool raster (R, width)."""
    rows = start.shape[0]
    diff = np.zeros((rows, width + 1), dtype=np.int64)
    ok = start <= end
    r = np.broadcast_to(np.arange(rows)[:, None], start.shape)[ok]
    np.add.at(diff, (r, start[ok]), 1)
    np.add.at(diff, (r, end[ok] + 1), -1)
    return np.cumsum(diff, axis=1)[:, :width] > 0
