"""``crop_convention="siammask"``: foolwood/SiamMask's tools/test.py where it differs from pysot.

Centre ``x + w / 2``, window corner rounded half to even, mask pasted with border -1, empty-mask
polygon from the box before clipping. (Equality with foolwood's own code, net and tracker:
``scripts/compare/foolwood_siammask_parity.py``.)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from siamlightning.models.siammask import SiamMaskOutput
from siamlightning.tracking.siammask import SiamMaskTracker, paste_mask_pysot

A, S = 5, 25


class CellNet(nn.Module):
    """Background everywhere but anchor ``cell`` (a, y, x), zero deltas; every mask logit
    ``mask_logit``."""

    stride, anchor_num, input_format = 8, A, "rgb255"

    def __init__(self, cell=(2, 12, 12), mask_logit=20.0):
        super().__init__()
        self.cell, self.mask_logit = cell, mask_logit
        self.dummy = nn.Parameter(torch.zeros(1))

    def template(self, z):
        return torch.zeros(1)

    def forward(self, kernels, x, *, with_mask_head=True):
        cls = torch.zeros(1, 2 * A, S, S)
        cls[:, :A] = 6.0
        a, y, x_ = self.cell
        cls[0, a, y, x_], cls[0, A + a, y, x_] = 0.0, 4.0
        empty = torch.zeros(1, 1, 1, 1)
        return SiamMaskOutput(cls, torch.zeros(1, 4 * A, S, S), empty, [], empty)

    def mask(self, outputs, pos):
        return torch.full((1, 1, 127, 127), self.mask_logit)


def _tracker(net, convention="siammask"):
    cfg = dict(penalty_k=0.04, window_influence=0.40, lr=1.0, mask_threshold=0.35)
    return SiamMaskTracker(net=net, crop_convention=convention, **cfg)


def test_centre_is_continuous_and_window_corner_rounds_half_to_even():
    t, p = _tracker(CellNet()), _tracker(CellNet(), "pysot")
    np.testing.assert_array_equal(t.box_center([10, 20, 31, 40]), [25.5, 40.0])  # x + w / 2
    np.testing.assert_array_equal(p.box_center([10, 20, 31, 40]), [25.0, 39.5])
    image = np.zeros((40, 40, 3), np.uint8)
    image[..., 0] = np.arange(40)  # red = column index
    for centre, fw_x0, pysot_x0 in ((13.5, 10, 11), (14.5, 12, 12), (13.7, 11, 11)):
        # a 5-px window: corner = round(c - 3); c - 3 = 10.5 -> 10 (even), pysot floor(11.0)
        for tracker, x0 in ((t, fw_x0), (p, pysot_x0)):
            tracker.center = np.array([centre, 20.0])
            crop = tracker._crop(image, 5, 5)[0, 0, 0].numpy()
            np.testing.assert_array_equal(crop, np.arange(x0, x0 + 5))


def test_paste_border_minus_one_blends_the_window_edge():
    ones = np.ones((127, 127), np.float32)
    window, size = (100.3, 50.7, 127 * 1.3), (400, 300)
    zero, minus = paste_mask_pysot(ones, window, size), paste_mask_pysot(ones, window, size, -1.0)
    np.testing.assert_allclose(minus, 2 * zero - 1, atol=1e-6)  # bilinear weight of the border
    assert minus.min() == -1.0 and zero.min() == 0.0 and minus.max() == zero.max() == 1.0
    # so a threshold keeps fewer edge pixels: 0.35 < p0 <= 0.675 falls below it with -1
    edge = (zero > 0.35) & (minus <= 0.35)
    assert 0 < edge.sum() < 0.02 * (zero > 0.35).sum()


def test_mask_is_minus_one_outside_its_window():
    t = _tracker(CellNet())
    image = np.full((300, 400, 3), 80, np.uint8)
    t.init(image, [150.0, 100.0, 60.0, 60.0])
    res = t.track(image)
    assert res.mask.min() == -1.0 and (res.mask > 0.99).sum() > 100 * 100
    assert set(np.unique(res.mask[res.mask < 0])) >= {-1.0}


def test_empty_mask_polygon_is_the_box_before_clipping():
    """The best cell moves the target past the right edge: foolwood's polygon keeps the move,
    the returned box (and pysot's polygon) are clipped to the frame."""
    image = np.full((200, 240, 3), 80, np.uint8)
    polygons = {}
    for convention in ("siammask", "pysot"):
        t = _tracker(CellNet(cell=(2, 12, 24), mask_logit=-20.0), convention)
        t.init(image, [190.0, 80.0, 40.0, 40.0])
        res = t.track(image)
        assert res.box[0] + res.box[2] / 2 == 240.0  # the centre is clipped to W
        # 12 cells * 8 crop px * 80 / 127 image px per crop px = 60.5 px to the right
        assert t._unclipped[0] + t._unclipped[2] / 2 > 265
        x0, y0, w, h = t._unclipped if convention == "siammask" else res.box
        np.testing.assert_allclose(res.polygon, [x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h])
        polygons[convention] = res.polygon
    assert polygons["siammask"][2] - polygons["pysot"][2] > 25
