"""crop_convention="pysot": pysot's subwindow, centre convention, clipping and mask paste-back,
checked against naive re-implementations written from spec trackers.md §2.9 (no pysot import)."""

import math

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from siamlightning.data.core.crops import pysot_subwindow, pysot_window
from siamlightning.tracking.siammask import SiamMaskTracker, paste_mask_pysot
from siamlightning.tracking.siamrpn import SiamRPNTracker
from siamlightning.tracking.siamrpn_lt import SiamRPNLTTracker

A = 5


def naive_subwindow(image, center, size, out_size, avg):
    """Spec §2.9: pad the whole image with the (uint8-cast) mean, take the side-``size`` window
    starting at floor(c - (size + 1) / 2 + 0.5), resize it when its side differs."""
    k = size + 200  # a border wide enough for the windows below
    h, w, ch = image.shape
    big = np.empty((h + 2 * k, w + 2 * k, ch), np.uint8)
    for c in range(ch):
        big[..., c] = np.uint8(int(avg[c]))  # numpy assignment truncates
    big[k : k + h, k : k + w] = image
    xmin = math.floor(center[0] - (size + 1) / 2 + 0.5)
    ymin = math.floor(center[1] - (size + 1) / 2 + 0.5)
    patch = big[ymin + k : ymin + k + size, xmin + k : xmin + k + size]
    assert patch.shape[:2] == (size, size)
    return patch.copy() if size == out_size else cv2.resize(patch, (out_size, out_size))


def test_window_corners():
    # side 5 around index 10: c = 3, floor(7.5) = 7 -> pixels 7..11 (centre 9: 1 px left)
    assert pysot_window((10.0, 10.0), 5) == (7, 7)
    # side 4: c = 2.5, floor(8.0) = 8 -> pixels 8..11 (centre 9.5: 0.5 px left)
    assert pysot_window((10.0, 10.0), 4) == (8, 8)
    assert pysot_window((10.49, -3.2), 4) == (8, -6)  # floor(8.49) = 8, floor(-5.2) = -6
    assert pysot_window((10.5, 0.0), 4) == (8, -2)  # floor(8.5), floor(-2.0)
    assert pysot_window((11.0, 0.0), 4) == (9, -2)  # floor(9.0)


def test_subwindow_equals_the_naive_version_on_random_boxes():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    avg = tuple(np.mean(image, axis=(0, 1)))
    outside = 0
    for _ in range(300):
        size = int(rng.integers(1, 120))
        center = tuple(rng.uniform(-60, 140, 2))  # many windows partly or fully outside
        out_size = size if rng.random() < 0.2 else int(rng.integers(5, 64))
        got = pysot_subwindow(image, center, size, out_size, avg)
        want = naive_subwindow(image, center, size, out_size, avg)
        assert got.shape == (out_size, out_size, 3) and got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
        x0, y0 = pysot_window(center, size)
        outside += x0 < 0 or y0 < 0 or x0 + size > 80 or y0 + size > 60
    assert outside > 150


def test_subwindow_padding_and_copies():
    image = np.full((10, 12, 3), 200, np.uint8)
    out = pysot_subwindow(image, (0.0, 0.0), 6, 6, (10.9, 20.5, 30.99))
    # window x, y in -3..2: 3 x 3 image pixels bottom-right, the rest truncated mean
    np.testing.assert_array_equal(out[3:, 3:], 200)
    np.testing.assert_array_equal(out[:3, :, :].reshape(-1, 3), [[10, 20, 30]] * 18)
    np.testing.assert_array_equal(out[:, :3, :].reshape(-1, 3), [[10, 20, 30]] * 18)
    inside = pysot_subwindow(image, (6.0, 5.0), 4, 4, (0, 0, 0))
    inside[:] = 0  # a copy, not a view of the frame
    assert image.min() == 200
    far = pysot_subwindow(image, (500.0, -500.0), 8, 16, (7, 8, 9))
    np.testing.assert_array_equal(far.reshape(-1, 3), [[7, 8, 9]] * 256)
    with pytest.raises(ValueError, match="positive"):
        pysot_subwindow(image, (5.0, 5.0), 0, 16, (0, 0, 0))


class RecordingRPN(nn.Module):
    """Background everywhere except ``cell`` (a, y, x) -> (fg logit, deltas); records inputs."""

    stride, anchor_num, input_format = 8, A, "bgr255"

    def __init__(self, cell=(2, 12, 12), fg=4.0, deltas=(0.0, 0.0, 0.0, 0.0)):
        super().__init__()
        self.cell, self.fg, self.deltas, self.inputs = cell, fg, deltas, []
        self.dummy = nn.Parameter(torch.zeros(1))

    def template(self, z):
        self.inputs.append(z.clone())
        return torch.zeros(1)

    def forward(self, kernels, x):
        self.inputs.append(x.clone())
        s = (x.shape[-1] - 127) // 8 + 9
        cls, loc = torch.zeros(1, 2 * A, s, s), torch.zeros(1, 4 * A, s, s)
        cls[:, :A] = 6.0
        a, y, x_ = self.cell
        cls[0, a, y, x_], cls[0, A + a, y, x_] = 0.0, self.fg
        for k, d in enumerate(self.deltas):
            loc[0, k * A + a, y, x_] = d
        return cls, loc


def _rpn(cls=SiamRPNTracker, convention="pysot", **kw):
    cfg = dict(penalty_k=0.05, window_influence=0.42, lr=0.38) | kw
    return cls(net=RecordingRPN(), crop_convention=convention, **cfg)


@pytest.mark.parametrize("cls", [SiamRPNTracker, SiamRPNLTTracker])
def test_pysot_mode_feeds_pysot_crops_and_keeps_index_centres(cls):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)  # RGB
    t = _rpn(cls, lr=0.0)
    box = [150.3, 20.7, 41.0, 30.5]  # the search window leaves the image
    t.init(image, box)
    np.testing.assert_array_equal(t.center, [150.3 + 40.0 / 2, 20.7 + 29.5 / 2])
    res = t.track(image)
    avg = np.mean(image, axis=(0, 1))
    p = 0.5 * (41.0 + 30.5)
    s_z = math.sqrt((41.0 + p) * (30.5 + p))
    center = (150.3 + 20.0, 20.7 + 14.75)
    z = naive_subwindow(image, center, round(s_z), 127, avg)
    x = naive_subwindow(image, center, round(s_z * (255 / 127)), 255, avg)
    for got, want in zip(t.net.inputs, (z, x)):
        want = torch.from_numpy(want[..., ::-1].copy()).permute(2, 0, 1)[None].float()  # BGR
        assert torch.equal(got, want)
    # zero deltas at the centre cell: the state stays, the box is pysot's (0.5 px up-left)
    np.testing.assert_allclose(res.box, [150.3 - 0.5, 20.7 - 0.5, 41.0, 30.5], atol=1e-12)
    assert t._best == 2 * 625 + 12 * 25 + 12


@pytest.mark.parametrize("convention", ["exact", "pysot"])
def test_centre_is_clipped_to_the_image_in_its_own_coordinates(convention):
    """pysot's _bbox_clip: cx in [0, W], cy in [0, H], w in [10, W], h in [10, H]."""
    t = _rpn(convention=convention, penalty_k=0.0, lr=0.5)
    t.net.cell, t.net.fg, t.net.deltas = (
        (2, 24, 24),
        7.0,
        (2.0, 2.0, math.log(0.05), math.log(0.05)),
    )
    image = np.zeros((80, 100, 3), np.uint8)  # H 80, W 100
    t.init(image, [80.0, 60.0, 12.0, 12.0])
    np.testing.assert_allclose(t.track(image).box, [95.0, 75.0, 10.0, 10.0], rtol=1e-9)
    np.testing.assert_allclose(t.center, [100.0, 80.0])
    t.net.cell, t.net.deltas = (2, 0, 0), (-40.0, -40.0, math.log(40.0), math.log(40.0))
    res = t.track(image)  # far up-left and huge: centre 0, size W x H
    np.testing.assert_allclose(res.box, [-50.0, -40.0, 100.0, 80.0], rtol=1e-9)


def test_unknown_convention_is_rejected():
    with pytest.raises(ValueError, match="crop_convention must be one of"):
        _rpn(convention="opencv")


def naive_crop_back(mask, x0, y0, side, width, height):
    """pysot's _crop_back written out: frame pixel u samples mask coordinate
    (u * W / (W - 1) - x0) * m / side (bilinear, zero outside); likewise v."""
    m = mask.shape[0]
    u = np.arange(width) * width / (width - 1)
    v = np.arange(height) * height / (height - 1)
    mx, my = (u - x0) * m / side, (v - y0) * m / side
    padded = np.pad(mask.astype(np.float64), 1)
    gx, gy = np.meshgrid(mx + 1, my + 1)
    inside = (gx >= 0) & (gx <= m + 1) & (gy >= 0) & (gy <= m + 1)
    gx, gy = np.clip(gx, 0, m + 1 - 1e-9), np.clip(gy, 0, m + 1 - 1e-9)
    ix, iy = np.floor(gx).astype(int), np.floor(gy).astype(int)
    fx, fy = gx - ix, gy - iy
    at = lambda yy, xx: padded[np.minimum(yy, m + 1), np.minimum(xx, m + 1)]  # noqa: E731
    val = (at(iy, ix) * (1 - fx) + at(iy, ix + 1) * fx) * (1 - fy)
    val += (at(iy + 1, ix) * (1 - fx) + at(iy + 1, ix + 1) * fx) * fy
    return np.where(inside, val, 0.0)


def test_paste_mask_pysot_equals_the_naive_crop_back():
    yy, xx = np.mgrid[0:63, 0:63] / 62.0
    mask = (0.5 + 0.5 * np.sin(3 * xx + 2 * yy) * np.cos(4 * yy)).astype(np.float32)  # smooth
    x0, y0, side = 37.3, -12.6, 90.4
    got = paste_mask_pysot(mask, (x0, y0, side), (160, 120))
    want = naive_crop_back(mask, x0, y0, side, 160, 120)
    assert got.shape == (120, 160) and got.dtype == np.float32
    assert np.abs(got - want).max() < 0.03  # OpenCV's 1/32 px fixed-point coordinates
    assert np.abs(got - want).mean() < 0.002 and got[:, :30].max() == 0


class OnesSiamMask(RecordingRPN):
    """`RecordingRPN` with a mask head whose sigmoid is ~1 everywhere; records positions."""

    def __init__(self, cell):
        super().__init__(cell=cell)
        self.asked = []

    def forward(self, kernels, x, *, with_mask_head=True):
        from siamlightning.models.siammask import SiamMaskOutput

        cls, loc = super().forward(kernels, x)
        empty = torch.zeros(1, 1, 1, 1)
        return SiamMaskOutput(cls, loc, empty, [], empty)

    def mask(self, outputs, pos):
        self.asked.append(tuple(pos))
        return torch.full((1, 1, 127, 127), 20.0)


def test_siammask_pysot_paste_and_polygon():
    t = SiamMaskTracker(
        net=OnesSiamMask((2, 9, 15)),
        penalty_k=0.10,
        window_influence=0.41,
        lr=0.32,
        crop_convention="pysot",
    )
    image = np.full((400, 500, 3), 90, np.uint8)
    t.init(image, [200.0, 150.0, 60.0, 60.0])
    res = t.track(image)
    assert t.net.asked == [(9, 15)] and t._best_cell() == (9, 15)
    # pysot's sub_box from its index centre (229.5, 179.5) and the round(s_x) crop
    s_x = round(120.0 * (255 / 127))
    s = s_x / 255
    x0, y0 = 229.5 - s_x / 2 + (15 - 4) * 8 * s, 179.5 - s_x / 2 + (9 - 4) * 8 * s
    want = naive_crop_back(np.ones((127, 127)), x0, y0, s * 127, 500, 400)
    assert np.abs(res.mask - want).max() < 0.05
    differ = (res.mask > 0.15) != (want > 0.15)
    assert np.all(np.abs(want[differ] - 0.15) < 0.05)  # only at the threshold
    ys, xs = np.nonzero(res.mask > 0.15)
    poly = res.polygon.reshape(4, 2)
    np.testing.assert_allclose(sorted(set(poly[:, 0].round(6))), [xs.min(), xs.max()], atol=1)
    np.testing.assert_allclose(sorted(set(poly[:, 1].round(6))), [ys.min(), ys.max()], atol=1)
    # the box: the anchor's centre offset from the index centre, pysot's -w/2 corner
    box_c = np.array([229.5 + 24 * 120 / 127, 179.5 - 24 * 120 / 127])
    np.testing.assert_allclose(res.box[:2] + res.box[2:] / 2, box_c, atol=1e-9)
