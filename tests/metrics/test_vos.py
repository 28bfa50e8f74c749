"""DAVIS J, F and statistics (`siamlightning.metrics.vos`) on hand-computed cases and oracles."""

from __future__ import annotations

import numpy as np
import pytest

from siamlightning.metrics.vos import (
    boundary_measure,
    boundary_radius,
    decay_indices,
    disk,
    region_similarity,
    seg2bmap,
    statistics,
)


def _square(h: int, w: int, y0: int, x0: int, side: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0 : y0 + side, x0 : x0 + side] = True
    return m


def test_empty_and_full_frames() -> None:
    empty, full = np.zeros((2, 6, 7), bool), np.ones((2, 6, 7), bool)
    obj = np.stack([_square(6, 7, 1, 1, 3)] * 2)
    for a, b in [(empty, empty), (full, full)]:
        np.testing.assert_array_equal(region_similarity(a, b), [1.0, 1.0])
        np.testing.assert_array_equal(boundary_measure(a, b), [1.0, 1.0])
    for a, b in [(empty, obj), (obj, empty)]:  # P, R = (1, 0) or (0, 1)
        np.testing.assert_array_equal(region_similarity(a, b), [0.0, 0.0])
        np.testing.assert_array_equal(boundary_measure(a, b), [0.0, 0.0])
    # a full frame has no boundary (the last row / column compare with one neighbour only)
    assert not seg2bmap(full[0]).any()
    np.testing.assert_array_equal(boundary_measure(full, obj), [0.0, 0.0])
    assert region_similarity(full[0], obj[0])[0] == pytest.approx(9 / 42)


def test_one_pixel_shift_at_bound_8() -> None:
    gt = _square(480, 854, 100, 200, 10)
    pred = _square(480, 854, 100, 201, 10)
    assert boundary_radius(480, 854) == 8
    np.testing.assert_array_equal(boundary_measure(pred, gt), [1.0])  # P = R = 1
    np.testing.assert_allclose(region_similarity(pred, gt), [90 / 110], rtol=0, atol=1e-15)


def test_shift_beyond_the_radius() -> None:
    # 11x11 boundary rings (40 px) 3 px apart: at r = 2, 24 of 40 pixels match each way
    gt, pred = _square(20, 20, 5, 5, 10), _square(20, 20, 5, 8, 10)
    assert seg2bmap(gt).sum() == 40
    np.testing.assert_allclose(boundary_measure(pred, gt, bound_th=2), [0.6], atol=1e-15)
    np.testing.assert_array_equal(boundary_measure(pred, gt, bound_th=3), [1.0])


def test_seg2bmap_by_hand() -> None:
    seg = np.zeros((4, 4), bool)
    seg[1:3, 1:3] = True  # boundary offset half a pixel toward the origin
    want = [[1, 1, 1, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(seg2bmap(seg), np.array(want, bool))
    last_col = np.zeros((3, 3), bool)
    last_col[:, 2] = True  # column 2 xor its south neighbour; the corner is always 0
    want = [[0, 1, 0], [0, 1, 0], [0, 1, 0]]
    np.testing.assert_array_equal(seg2bmap(last_col), np.array(want, bool))
    one = np.ones((1, 1), bool)
    assert not seg2bmap(one).any()


def test_void_pixels_are_excluded() -> None:
    gt = np.ones((4, 4), bool)
    pred = np.zeros((4, 4), bool)
    pred[:, :2] = True
    void = np.zeros((4, 4), bool)
    void[:, 2:] = True
    assert region_similarity(pred, gt)[0] == 0.5
    assert region_similarity(pred, gt, void)[0] == 1.0  # 8 / 8
    assert boundary_measure(pred, gt, void)[0] == 1.0  # both masks cleared to the left half
    assert region_similarity(pred, gt, np.ones((4, 4), bool))[0] == 1.0  # all void: union 0


def test_disk_and_radius() -> None:
    d8 = disk(boundary_radius(480, 854))
    assert d8.shape == (17, 17) and d8.sum() == 197 and d8.dtype == np.uint8
    assert boundary_radius(720, 1280) == 12 and disk(12).shape == (25, 25)
    assert boundary_radius(480, 910) == 9 and boundary_radius(1080, 1920) == 18
    assert boundary_radius(480, 854, bound_th=3) == 3 and disk(0).tolist() == [[1]]
    np.testing.assert_array_equal(disk(1), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])


def _f_oracle(pred: np.ndarray, gt: np.ndarray, r: float) -> float:
    """Boundary F by pairwise distances between boundary pixels (no dilation)."""
    fb, gb = np.argwhere(seg2bmap(pred)), np.argwhere(seg2bmap(gt))
    if len(fb) == 0 or len(gb) == 0:
        return 1.0 if len(fb) == len(gb) else 0.0
    near = ((fb[:, None, :] - gb[None, :, :]) ** 2).sum(-1) <= r**2
    p, rec = near.any(1).mean(), near.any(0).mean()
    return 0.0 if p + rec == 0 else 2 * p * rec / (p + rec)


def test_boundary_measure_equals_distance_oracle() -> None:
    rng = np.random.default_rng(0)
    for h, w, th in [(23, 31, 0.008), (40, 17, 3.0), (9, 60, 0.1)]:
        pred, gt = rng.random((2, 6, h, w)) < rng.uniform(0.05, 0.95, (2, 6, 1, 1))
        r = boundary_radius(h, w, th)
        want = [_f_oracle(pred[i], gt[i], r) for i in range(6)]
        np.testing.assert_allclose(boundary_measure(pred, gt, bound_th=th), want, atol=1e-12)


def test_shapes_and_errors() -> None:
    m = _square(8, 9, 2, 2, 3)
    assert region_similarity(m, m).shape == (1,) and boundary_measure(m, m).shape == (1,)
    assert region_similarity(m.astype(np.uint8) * 255, m)[0] == 1.0  # non-zero is foreground
    with pytest.raises(ValueError, match=r"pred \(1, 8, 9\) and gt \(1, 9, 8\)"):
        region_similarity(m, m.T)
    with pytest.raises(ValueError, match="void"):
        boundary_measure(m, m, void=np.zeros((2, 8, 9), bool))
    with pytest.raises(ValueError, match=r"\(N, H, W\) or \(H, W\)"):
        region_similarity(m[None, None], m[None, None])


def test_decay_indices_round_half_up() -> None:
    assert decay_indices(10).tolist() == [0, 2, 5, 7, 9]
    assert decay_indices(48).tolist() == [0, 12, 24, 35, 47]  # 24.5 rounds up, not to even
    assert decay_indices(100).tolist() == [0, 25, 50, 74, 99]
    assert decay_indices(300).tolist() == [0, 75, 150, 224, 299]
    assert decay_indices(300, official_uint8=True).tolist() == [0, 75, 150, 224, 43]


def test_statistics_by_hand() -> None:
    s = statistics(np.arange(10) / 9)  # bins [0, 1/9, 2/9] and [7/9, 8/9, 1]
    assert s.mean == pytest.approx(0.5) and s.recall == 0.5
    assert s.decay == pytest.approx(1 / 9 - 8 / 9)
    # NaN is skipped by the means and a miss for recall; 0.5 is not above 0.5
    s = statistics(np.array([np.nan, 1.0, 0.5, 0.6]))  # ids [0, 1, 2, 2, 3]
    assert s.mean == pytest.approx(0.7) and s.recall == 0.5
    assert s.decay == pytest.approx(1.0 - 0.55)
    assert statistics(np.array([0.7])) == (0.7, 1.0, 0.0)
    assert all(np.isnan(statistics(np.array([]))))
    s = statistics([np.nan] * 3)  # no frame above 0.5: recall 0, not NaN
    assert np.isnan(s.mean) and s.recall == 0.0 and np.isnan(s.decay)


def test_statistics_official_uint8() -> None:
    for n in (10, 255):  # the same up to 255 frames
        v = np.linspace(1, 0, n)
        assert statistics(v) == statistics(v, official_uint8=True)
    v = np.linspace(1, 0, 256)
    assert statistics(v).decay == pytest.approx(0.75, abs=0.01)
    assert np.isnan(statistics(v, official_uint8=True).decay)  # ends[3] = 255 + 1 wraps to 0
    assert np.isnan(statistics(np.linspace(1, 0, 300), official_uint8=True).decay)
