"""`track_batch`: one network call for many trackers equals tracking each on its own (fp32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamlightning.data import open_dataset
from siamlightning.models.backbones.pysot_alexnet import PysotAlexNet
from siamlightning.models.backbones.resnet_atrous import ResNet50Atrous
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.models.heads.mask import MaskCorr, Refine
from siamlightning.models.heads.rpn import DepthwiseRPN
from siamlightning.models.necks import AdjustAllLayer
from siamlightning.models.siamfc import SiamFCNet
from siamlightning.models.siammask import SiamMaskNet
from siamlightning.models.siamrpn import SiamRPNNet
from siamlightning.tracking.base import StaticTracker
from siamlightning.tracking.batch import cat_tree, slice_tree, track_batch
from siamlightning.tracking.siamfc import SiamFCTracker
from siamlightning.tracking.siammask import SiamMaskTracker
from siamlightning.tracking.siamrpn import SiamRPNTracker
from siamlightning.tracking.siamrpn_lt import SiamRPNLTTracker

RPN = dict(penalty_k=0.04, window_influence=0.44, lr=0.33)
ALEX = dict(RPN, base_size=0)  # the quarter-width pysot AlexNet: 255 -> 17x17


def _siamfc():
    torch.manual_seed(0)
    return SiamFCNet(backbone=SiamFCAlexNet(width=0.25)).eval()


def _siamrpn():
    torch.manual_seed(0)
    backbone = PysotAlexNet(width_mult=0.25)
    c = backbone.out_channels
    return SiamRPNNet(backbone=backbone, head=DepthwiseRPN(in_channels=c, out_channels=c)).eval()


def _siammask():
    """pysot's siammask_r50_l3 layout with one block per ResNet stage (cheap, same geometry)."""
    torch.manual_seed(0)
    return SiamMaskNet(
        backbone=ResNet50Atrous(used_layers=(0, 1, 2, 3), depths=(1, 1, 1, 1)),
        neck=AdjustAllLayer(in_channels=(1024,), out_channels=(256,)),
        head=DepthwiseRPN(in_channels=256, out_channels=256),
        mask_head=MaskCorr(),
        refine_head=Refine(),
    ).eval()


FAMILIES = {
    "siamfc": lambda net: SiamFCTracker(net=net),
    "siamrpn": lambda net: SiamRPNTracker(net=net, **ALEX),
    "siamrpn_pysot": lambda net: SiamRPNTracker(net=net, crop_convention="pysot", **ALEX),
    # confidence_low 0.5: an untrained net's scores straddle it, so normal (255) and lost (831)
    # searches run in the same step, as two network calls
    "siamrpn_lt": lambda net: SiamRPNLTTracker(net=net, confidence_low=0.5, **ALEX),
}
NETS = {"siamfc": _siamfc, "siamrpn": _siamrpn, "siamrpn_pysot": _siamrpn, "siamrpn_lt": _siamrpn}


def _sequences(n: int, length: int):
    index = open_dataset("synthetic", None, seed=77, num_sequences=n, length=length)
    return [([seq.read_frame(i) for i in range(length)], seq.boxes[0]) for seq in index]


def _run(make, seqs, batched: bool):
    trackers = [make() for _ in seqs]
    for t, (frames, box) in zip(trackers, seqs):
        t.init(frames[0], box)
    out = []
    for i in range(1, len(seqs[0][0])):
        images = [frames[i] for frames, _ in seqs]
        if batched:
            out.append(track_batch(trackers, images))
        else:
            out.append([t.track(im) for t, im in zip(trackers, images)])
    return out, trackers


def _assert_same(a, b):
    for frame_a, frame_b in zip(a, b, strict=True):
        for ra, rb in zip(frame_a, frame_b, strict=True):
            np.testing.assert_allclose(ra.box, rb.box, atol=1e-3, rtol=0)
            assert abs(ra.score - rb.score) <= 1e-6


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_batched_equals_sequential(family, monkeypatch):
    net = NETS[family]()
    seqs = _sequences(3, 4)
    make = lambda: FAMILIES[family](net)  # noqa: E731
    seq_out, _ = _run(make, seqs, batched=False)
    calls, forward = [], net.forward
    monkeypatch.setattr(net, "forward", lambda k, x: calls.append(tuple(x.shape)) or forward(k, x))
    bat_out, _ = _run(make, seqs, batched=True)
    _assert_same(seq_out, bat_out)
    assert max(c[0] for c in calls) > 1  # really batched
    if family == "siamrpn_lt":  # normal and lost searches both ran, batched by size
        assert {c[-1] for c in calls} == {255, 831}


def test_batched_siammask_boxes_and_masks_equal_sequential():
    net = _siammask()
    seqs = _sequences(2, 3)
    make = lambda: SiamMaskTracker(net=net, **RPN)  # noqa: E731
    seq_out, _ = _run(make, seqs, batched=False)
    bat_out, _ = _run(make, seqs, batched=True)
    _assert_same(seq_out, bat_out)
    for fa, fb in zip(seq_out, bat_out):
        for ra, rb in zip(fa, fb):
            np.testing.assert_allclose(ra.mask, rb.mask, atol=1e-4)
            np.testing.assert_allclose(ra.polygon, rb.polygon, atol=1e-2)


def test_one_network_call_per_shared_net_and_size(monkeypatch):
    net = _siamrpn()
    calls = []
    forward = net.forward

    def spy(kernels, x):
        calls.append(x.shape[0])
        return forward(kernels, x)

    monkeypatch.setattr(net, "forward", spy)
    other = _siamfc()
    seqs = _sequences(4, 2)
    trackers = [SiamRPNTracker(net=net, **ALEX) for _ in range(3)] + [SiamFCTracker(net=other)]
    trackers.append(StaticTracker())  # not a NetTracker: tracks on its own
    images = [f[0] for f, _ in seqs] + [seqs[0][0][0]]
    for t, im, (_, box) in zip(trackers, images, [*seqs, seqs[0]]):
        t.init(im, box)
    calls.clear()
    results = track_batch(trackers, [f[1] for f, _ in seqs] + [seqs[0][0][1]])
    assert calls == [3]  # the three SiamRPN trackers in one call; SiamFC's net is another
    assert len(results) == 5 and np.array_equal(results[4].box, np.asarray(seqs[0][1]))


def test_tree_helpers_round_trip():
    a = ([torch.ones(1, 2), torch.zeros(1, 3)], torch.full((1, 4), 2.0))
    b = ([torch.ones(3, 2), torch.zeros(3, 3)], torch.full((3, 4), 5.0))
    c = cat_tree([a, b])
    assert c[0][1].shape == (4, 3) and isinstance(c[0], list)
    assert torch.equal(slice_tree(c, 1, 4)[1], b[1])
    with pytest.raises(TypeError, match="cannot concatenate"):
        cat_tree([{"k": 1}, {"k": 2}])


def test_track_batch_checks_lengths_and_images():
    t = SiamFCTracker(net=_siamfc())
    with pytest.raises(ValueError, match="2 trackers but 1 images"):
        track_batch([t, t], [np.zeros((10, 10, 3), np.uint8)])
    with pytest.raises(Exception, match="RGB uint8"):
        track_batch([t], [np.zeros((10, 10), np.uint8)])


def test_batched_bf16_within_the_reported_bf16_drift():
    """bf16 (emulated here): batched boxes stay within test_siamfc_tracker's bf16 bound of fp32
    (mean 3 px), as sequential bf16 does."""
    net = _siamfc()
    seqs = _sequences(2, 4)
    fp32, _ = _run(lambda: SiamFCTracker(net=net), seqs, batched=False)
    bf16, _ = _run(lambda: SiamFCTracker(net=net, precision="bf16"), seqs, batched=True)
    ref = np.array([[r.box for r in frame] for frame in fp32])
    got = np.array([[r.box for r in frame] for frame in bf16])
    assert np.isfinite(got).all() and np.abs(got - ref).mean() < 3.0
