"""Rasterised overlap: the spec's verified values, two slow oracles, masks, speed."""

from __future__ import annotations

import math
import time
from fractions import Fraction

import numpy as np
import pytest

from siamlightning.metrics.raster import raster_overlap, raster_overlaps
from siamlightning.metrics.regions import Mask, Special

R1, R2 = [10.0, 10, 20, 20], [20.0, 20, 20, 20]
P10_30 = [10.0, 10, 30, 10, 30, 30, 10, 30]


def test_spec_verified_values() -> None:
    assert raster_overlap(R1, R2) == pytest.approx(1 / 7, abs=1e-15)  # 100 / 700 px
    assert raster_overlap(R1, P10_30) == pytest.approx(400 / 441, abs=1e-15)  # 0.907
    assert raster_overlap(R1, R2, convention="pysot") == pytest.approx(0.159001, abs=5e-7)
    assert raster_overlap(R1, R2, convention="pysot") == float(np.float32(121) / np.float32(761))
    assert raster_overlap(R1, P10_30, convention="pysot") == 1.0


def test_rounding_and_special_rules() -> None:
    # half-to-even: x = 10.5 -> 10, w = 11.5 -> 12: pixels 10..21 (vot); 10.5 -> 11 in pysot
    assert raster_overlap([10.5, 0, 11.5, 1], [10, 0, 12, 1]) == 1.0
    assert raster_overlap([11.5, 0, 10, 1], [12, 0, 10, 1]) == 1.0
    pa, pb = [10.5, 0, 20, 0, 20, 4, 10.5, 4], [11, 0, 20, 0, 20, 4, 11, 4]
    assert raster_overlap(pa, pb, convention="pysot") == 1.0
    assert raster_overlap(pa, pb) == pytest.approx(50 / 55)  # vot: 10.5 -> 10
    assert raster_overlap(Special(0), Special(2)) == 1.0  # empty vs empty
    assert raster_overlap(Special(0), R1) == 0.0
    assert raster_overlap([np.nan] * 4, R1) == 0.0
    assert math.isnan(raster_overlap(Special(1), R1, convention="pysot"))
    # clipping to the image: [10, 29] x [10, 29] cut at x <= 19 against the same cut
    assert raster_overlap(R1, [10, 10, 10, 20], bounds=(20, 40)) == 1.0
    # bounds (w, h): vot clips to [0, w-1], pysot to [0, w]
    assert raster_overlap([0, 0, 10, 10], [5, 0, 10, 10], bounds=(10, 10)) == pytest.approx(0.5)
    got = raster_overlap([0, 0, 10, 10], [5, 0, 10, 10], bounds=(10, 10), convention="pysot")
    assert got == pytest.approx(66 / 121, abs=1e-7)  # cols 5..10 of 0..10, rows 0..10


# ------------------------------------------------------- oracle 1: the toolkits' loops


def _nodes(xs, ys, row, rule):
    out = []
    for i in range(len(xs)):
        j = i - 1
        if min(ys[i], ys[j]) <= row <= max(ys[i], ys[j]):
            r, k = ys[j] - ys[i], xs[j] - xs[i]
            if r != 0:
                out.append(math.trunc(xs[i] + (row - ys[i]) / r * k))
            elif rule == "vot":
                out.append(math.trunc(xs[i]))
    return sorted(out)


def _fill(xs, ys, w, h, rule):
    m = np.zeros((h, w), dtype=bool)
    for row in range(h):
        n = _nodes(xs, ys, row, rule)
        i = 0
        while i < len(n) - 1:
            if n[i] == n[i + 1] and (rule == "pysot" or i < len(n) - 2):
                i += 1
                continue
            if n[i + 1] >= 0 and n[i] < w:
                m[row, max(n[i], 0) : min(n[i + 1], w - 1) + 1] = True
            i += 2
    return m


def _slow_vot(a, b, bounds):
    def meta(r):
        if r is None:
            return "e", None, (0, 0, 0, 0)
        r = np.round(np.asarray(r, dtype=float))
        if r.size == 4:
            return "r", r, (r[0], r[1], r[0] + r[2] - 1, r[1] + r[3] - 1)
        return "p", r, (r[0::2].min(), r[1::2].min(), r[0::2].max(), r[1::2].max())

    (ka, da, ba), (kb, db, bb) = meta(a), meta(b)
    u = [min(ba[0], bb[0]), min(ba[1], bb[1]), max(ba[2], bb[2]), max(ba[3], bb[3])]
    if u[0] >= u[2] or u[1] >= u[3]:
        return 1.0
    if bounds is not None:
        u = [max(0, u[0]), max(0, u[1]), min(bounds[0] - 1, u[2]), min(bounds[1] - 1, u[3])]
    if u[0] >= u[2] or u[1] >= u[3]:
        return 0.0
    w, h = int(u[2] - u[0] + 1), int(u[3] - u[1] + 1)

    def raster(k, d):
        m = np.zeros((h, w), dtype=bool)
        if k == "r":
            x0, y0 = int(d[0] - u[0]), int(d[1] - u[1])
            m[max(y0, 0) : max(y0 + int(d[3]), 0), max(x0, 0) : max(x0 + int(d[2]), 0)] = True
        elif k == "p":
            return _fill(list(d[0::2] - u[0]), list(d[1::2] - u[1]), w, h, "vot")
        return m

    ma, mb = raster(ka, da), raster(kb, db)
    union = (ma | mb).sum()
    return float((ma & mb).sum() / union) if union else 0.0


def _slow_pysot(a, b, bounds):
    f = np.float32

    def poly(r):
        r = [float(v) for v in r]
        if len(r) == 4:
            x, y, w, h = r
            r = [x, y, x + w, y, x + w, y + h, x, y + h]
        return np.array(r, dtype=f)

    pa, pb = poly(a), poly(b)
    lim = (f(0), f(0), f(bounds[0]), f(bounds[1])) if bounds else (-np.inf, -np.inf, np.inf, np.inf)

    def box(p):
        bx = [np.floor(p[0::2].min()), np.floor(p[1::2].min())]
        bx += [np.ceil(p[0::2].max()), np.ceil(p[1::2].max())]
        return [
            f(max(bx[0], lim[0])),
            f(max(bx[1], lim[1])),
            f(min(bx[2], lim[2])),
            f(min(bx[3], lim[3])),
        ]

    b1, b2 = box(pa), box(pb)
    x0, y0 = min(b1[0], b2[0]), min(b1[1], b2[1])
    w, h = int(max(b1[2], b2[2]) - x0) + 1, int(max(b1[3], b2[3]) - y0) + 1
    a1, a2 = float((b1[2] - b1[0]) * (b1[3] - b1[1])), float((b2[2] - b2[0]) * (b2[3] - b2[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.float64(a1) / a2 < 1e-10 or np.float64(a2) / a1 < 1e-10 or w < 1 or h < 1:
            return 0.0
        inter = (min(b1[2], b2[2]) - max(b1[0], b2[0])) * (min(b1[3], b2[3]) - max(b1[1], b2[1]))
        ov = inter / (f(a1) + f(a2) - inter)
    if not ov > 0 and not np.isnan(ov):
        return 0.0

    def raster(p):
        rel = [float(v) for v in (p - np.tile(np.array([x0, y0], dtype=f), p.size // 2))]
        rel = [math.floor(v + 0.5) if v >= 0 else math.ceil(v - 0.5) for v in rel]
        return _fill(rel[0::2], rel[1::2], w, h, "pysot")

    ma, mb = raster(pa), raster(pb)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(f((ma & mb).sum()) / f((ma | mb).sum()))


def _rotated(rng, n, spread, size, *, snap=False):
    c = rng.uniform(-10, spread + 10, (n, 1, 2))
    half = rng.uniform(1, size, (n, 1, 2)) * np.array([[[-1, -1], [1, -1], [1, 1], [-1, 1]]])
    t = rng.uniform(0, np.pi, (n, 1))
    rot = np.stack([np.cos(t) * half[..., 0] - np.sin(t) * half[..., 1],
                    np.sin(t) * half[..., 0] + np.cos(t) * half[..., 1]], -1)  # fmt: skip
    pts = c + rot
    return (np.round(pts * 2) / 2 if snap else pts).reshape(n, 8)


def _cases(rng, n):
    rects = np.concatenate([rng.uniform(-15, 70, (n, 2)), rng.uniform(-2, 40, (n, 2))], 1)
    rects[: n // 4] = np.round(rects[: n // 4] * 2) / 2  # many exact .5 ties
    polys = _rotated(rng, n, 60, 25, snap=True)
    near = polys + rng.normal(0, 4, polys.shape)
    centred = polys[:, :2] + rng.uniform(-20, 5, (n, 2))
    boxes = np.concatenate([centred, rng.uniform(5, 30, (n, 2))], 1)
    stars = []
    for _ in range(n // 2):
        k = int(rng.integers(3, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        rad = rng.uniform(3, 25, k)
        c = rng.uniform(0, 60, 2)
        stars.append(np.stack([c[0] + rad * np.cos(ang), c[1] + rad * np.sin(ang)], 1).ravel())
    a = [*rects, *polys, *polys, *stars, *stars[1:]]
    b = [*(rects + rng.normal(0, 5, rects.shape)), *near, *boxes, *stars[::-1], *polys[: n // 2]]
    m = min(len(a), len(b))
    return a[:m], b[:m]


@pytest.mark.parametrize("bounds", [None, (64, 48)])
def test_matches_toolkit_loops_vot(bounds) -> None:
    a, b = _cases(np.random.default_rng(0), 48)
    a[3], b[4] = None, None  # empty regions
    fast = raster_overlaps(a, b, bounds)
    slow = [_slow_vot(x, y, bounds) for x, y in zip(a, b)]
    assert fast.tolist() == slow
    assert (fast > 0).sum() > len(a) // 2  # the cases do overlap


@pytest.mark.parametrize("bounds", [None, (64, 48)])
def test_matches_toolkit_loops_pysot(bounds) -> None:
    a, b = _cases(np.random.default_rng(1), 48)
    fast = raster_overlaps(a, b, bounds, convention="pysot")
    slow = [_slow_pysot(x, y, bounds) for x, y in zip(a, b)]
    np.testing.assert_array_equal(fast, slow)
    assert (fast > 0).sum() > len(a) // 2


# ------------------------------------------- oracle 2: per-pixel geometry, exact arithmetic


def _pixel_oracle(pts: np.ndarray, w: int, h: int, rule: str) -> np.ndarray:
    """Pixel (X, Y) is in iff the unit segment [X, X+1) x {Y} meets the closed convex polygon
    (pysot also drops rows whose two ends fall in one pixel). Exact rational arithmetic."""
    p = [(Fraction(int(x)), Fraction(int(y))) for x, y in pts.reshape(-1, 2)]
    if sum(p[i - 1][0] * p[i][1] - p[i][0] * p[i - 1][1] for i in range(len(p))) < 0:
        p = p[::-1]  # counter-clockwise in y-down image coordinates means positive area here
    m = np.zeros((h, w), dtype=bool)
    for y in range(h):
        lo, hi, ok = Fraction(-(10**9)), Fraction(10**9), True
        for i in range(len(p)):
            (ax, ay), (bx, by) = p[i - 1], p[i]
            # inside: (b - a) x (q - a) >= 0 for q = (t, y): alpha * t + beta >= 0
            alpha, beta = -(by - ay), (bx - ax) * (y - ay) + (by - ay) * ax
            if alpha > 0:
                lo = max(lo, -beta / alpha)
            elif alpha < 0:
                hi = min(hi, -beta / alpha)
            elif beta < 0:
                ok = False
        if not ok or lo > hi or (rule == "pysot" and math.floor(lo) == math.floor(hi)):
            continue
        for x in range(w):
            m[y, x] = lo < x + 1 and hi >= x
    return m


def _coprime_edges(pts: np.ndarray) -> bool:
    q = pts.reshape(-1, 2).astype(int)
    d = q - np.roll(q, 1, axis=0)
    return all(dx == 0 or math.gcd(int(dx), int(dy)) == 1 for dx, dy in d)


@pytest.mark.parametrize("rule", ["vot", "pysot"])
def test_matches_pixel_geometry(rule: str) -> None:
    rng = np.random.default_rng(2)
    w, h = 70, 60
    polys = [p for p in np.round(_rotated(rng, 200, 40, 14)) if _coprime_edges(p)]
    polys = [p for p in polys if p.min() >= 0 and p[0::2].max() < w and p[1::2].max() < h][:24]
    assert len(polys) >= 16
    full = [0, 0, w - 1, 0, w - 1, h - 1, 0, h - 1]  # fills every pixel in either convention
    for p in polys:
        m = _pixel_oracle(p, w, h, rule)
        bounds = (w, h) if rule == "vot" else (w - 1, h - 1)
        iou = raster_overlap(p, full, bounds, convention=rule)
        assert iou == pytest.approx(m.sum() / (w * h), abs=1e-7 if rule == "pysot" else 1e-15)
        for q in polys[:4]:  # pairwise too
            mq = _pixel_oracle(q, w, h, rule)
            want = (m & mq).sum() / max((m | mq).sum(), 1)
            assert raster_overlap(p, q, bounds, convention=rule) == pytest.approx(want, abs=1e-7)


# ------------------------------------------------------------------------------ masks


def test_masks() -> None:
    img = np.zeros((40, 50), dtype=bool)
    img[10:30, 10:30] = True  # == rect(10, 10, 20, 20) in the vot convention
    m = Mask.from_image(img)
    assert m.offset == (10, 10) and m.mask.shape == (20, 20)
    assert raster_overlap(m, R1) == 1.0
    assert raster_overlap(m, R2) == pytest.approx(1 / 7)
    assert raster_overlap(m, P10_30) == pytest.approx(400 / 441)
    shifted = Mask(m.mask, (20, 20))
    assert raster_overlap(m, shifted, bounds=(25, 25)) == pytest.approx(25 / 225)  # 5x5 in 15x15
    got = raster_overlaps([m, R1, m], [shifted, R2, Special(0)], (50, 40))
    np.testing.assert_allclose(got, [1 / 7, 1 / 7, 0.0])
    with pytest.raises(ValueError, match="pysot"):
        raster_overlap(m, R1, convention="pysot")


def test_batch_shapes_and_errors() -> None:
    a = np.tile(R1, (5, 1))
    b = np.tile(R2, (5, 1))
    assert raster_overlaps(a, b).tolist() == [1 / 7] * 5
    assert raster_overlaps(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)
    with pytest.raises(ValueError, match="5 regions against 4"):
        raster_overlaps(a, b[:4])
    with pytest.raises(ValueError, match="even"):
        raster_overlaps([[1.0, 2, 3, 4, 5]], [R1])
    with pytest.raises(ValueError, match="unknown raster convention"):
        raster_overlap(R1, R2, convention="matlab")  # type: ignore[arg-type]


def test_sequence_speed() -> None:
    rng = np.random.default_rng(3)
    gt = _rotated(rng, 1500, 600, 60) + 50
    pred = gt + rng.normal(0, 6, gt.shape)
    raster_overlaps(pred[:10], gt[:10], (1280, 720))
    t = time.perf_counter()
    out = raster_overlaps(pred, gt, (1280, 720))
    elapsed = time.perf_counter() - t
    assert out.shape == (1500,) and np.all((out >= 0) & (out <= 1))
    assert elapsed < 1.5, elapsed  # about 0.1 s on one core; a per-pixel loop takes minutes
