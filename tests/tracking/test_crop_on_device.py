"""``crop_on_device=true``: crops cut by `crops_torch` on the net's device, on real frames: pysot
crops are cv2's bit for bit (the same boxes); exact crops differ on ~1e-6 of the values by 1."""

from __future__ import annotations

import numpy as np
import pytest
from test_batch import _siamfc, _siamrpn  # the quarter-width nets of the batch tests

from conftest import real_data_dir
from siamlightning.data import open_dataset
from siamlightning.tracking.batch import track_batch
from siamlightning.tracking.siamfc import SiamFCTracker
from siamlightning.tracking.siamrpn import SiamRPNTracker

FRAMES = 8


MAKERS = {
    "siamrpn_exact": lambda net, **kw: SiamRPNTracker(
        net=net, penalty_k=0.04, window_influence=0.44, lr=0.33, base_size=0, **kw
    ),
    "siamrpn_pysot": lambda net, **kw: SiamRPNTracker(
        net=net, penalty_k=0.04, window_influence=0.44, lr=0.33, base_size=0,
        crop_convention="pysot", **kw
    ),
    "siamfc": lambda net, **kw: SiamFCTracker(net=net, **kw),
}  # fmt: skip


@pytest.fixture(scope="module")
def crossing():
    root = real_data_dir()
    if root is None or not (root / "Crossing").is_dir():
        pytest.skip("../shared/data/real/Crossing is absent (real sequences beside the checkout)")
    seq = open_dataset("otb", root, cache=False)["Crossing"]
    return [seq.read_frame(i) for i in range(FRAMES)], seq.boxes[0]


def _track(tracker, frames, box):
    tracker.init(frames[0], box)
    return np.stack([tracker.track(f).box for f in frames[1:]])


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_device_crops_give_the_cpu_boxes(kind, crossing):
    frames, box = crossing
    net = _siamfc() if kind == "siamfc" else _siamrpn()
    cpu = _track(MAKERS[kind](net), frames, box)
    dev = _track(MAKERS[kind](net, crop_on_device=True), frames, box)
    if kind == "siamrpn_pysot":  # cv2.resize reproduced bit for bit: the same network inputs
        assert np.array_equal(cpu, dev)
    elif kind == "siamrpn_exact":
        # about one crop value in 1e5-1e6 is 1 (of 255) off cv2.warpAffine: a random network's
        # regression moves the first box by ~1e-3 px, and the state carries it on (measured:
        # 2e-3 px on frame 1, 0.25 px by frame 7); not the 1e-3 px of batched rounding
        assert np.abs(dev[0] - cpu[0]).max() < 1e-2
        np.testing.assert_allclose(dev, cpu, atol=1.0, rtol=0)
    else:  # SiamFC's peak on the x16 upsampled grid does not move
        np.testing.assert_allclose(dev, cpu, atol=1e-3, rtol=0)


def test_device_crops_in_a_batch(crossing):
    frames, box = crossing
    net = _siamrpn()
    trackers = [MAKERS["siamrpn_pysot"](net, crop_on_device=True) for _ in range(2)]
    for t in trackers:
        t.init(frames[0], box)
    out = [track_batch(trackers, [f, f]) for f in frames[1:4]]
    ref = _track(MAKERS["siamrpn_pysot"](net), frames[:4], box)
    for k in range(2):
        np.testing.assert_allclose(np.stack([o[k].box for o in out]), ref, atol=1e-3)
