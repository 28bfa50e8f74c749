"""Anchors, IoU target assignment and the RPN losses against hand computations."""

import math

import torch

from siamlightning.models.anchors import (
    anchor_shapes,
    center_to_corner,
    score_map_size,
    tracking_anchors,
    training_anchors,
)
from siamlightning.models.rpn_losses import (
    rpn_log_softmax,
    rpn_loss,
    select_cross_entropy,
    weighted_l1,
)
from siamlightning.models.rpn_targets import rpn_targets


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _centred(w, h, cx=127.0, cy=127.0):
    """x, y, w, h box centred at (cx, cy)."""
    return [cx - w / 2, cy - h / 2, w, h]


def test_anchor_shapes_exact():
    assert anchor_shapes().tolist() == [[104, 32], [88, 40], [64, 64], [40, 80], [32, 96]]


def test_score_map_sizes():
    assert score_map_size(search_size=255, base_size=8) == 25
    assert score_map_size(search_size=255, base_size=0) == 17
    assert score_map_size(search_size=287, base_size=0) == 21


def test_training_anchor_grid_order():
    anc = training_anchors(search_size=255, score_size=25)
    assert anc.shape == (4, 5, 25, 25)
    cx, cy, w, h = anc
    assert cx[0, 0, 12] == 127 and cy[0, 12, 0] == 127
    assert cx[0, 0, 0] == 127 - 12 * 8 and cx[0, 0, 1] - cx[0, 0, 0] == 8
    assert (cx[:, 3, :] == cx[:, 0, :]).all() and (cy[:, :, 3] == cy[:, :, 0]).all()
    assert w[:, 0, 0].tolist() == [104, 88, 64, 40, 32] and h[3, 5, 7] == 80
    corners = center_to_corner(anc)
    assert corners[:, 2, 12, 12].tolist() == [95, 95, 159, 159]


def test_tracking_anchor_order_anchor_y_x():
    s = 25
    anc = tracking_anchors(score_size=s)
    assert anc.shape == (5 * s * s, 4)
    assert anc[0].tolist() == [-96, -96, 104, 32]
    assert anc[1].tolist() == [-88, -96, 104, 32]  # x varies fastest
    assert anc[s].tolist() == [-96, -88, 104, 32]  # then y
    assert anc[s * s].tolist() == [-96, -96, 88, 40]  # then the anchor
    train = training_anchors(search_size=255, score_size=s)
    expect = train.reshape(4, -1).t() - torch.tensor([127.0, 127.0, 0.0, 0.0])
    torch.testing.assert_close(anc, expect)
    assert tracking_anchors(score_size=17)[0, :2].tolist() == [-64, -64]


def test_targets_centred_64_box_hand_count():
    """A 64x64 box on the crop centre: IoU > 0.6 only for the 64x64 anchor within one cell (9)."""
    anc = training_anchors()
    boxes = torch.tensor([_centred(64, 64)])
    t = rpn_targets(boxes, torch.tensor([False]), anc, generator=_gen())
    assert t.cls.shape == (1, 5, 25, 25) and t.delta.shape == (1, 4, 5, 25, 25)
    pos = t.cls[0] == 1
    assert pos.sum() == 9
    assert pos[2, 11:14, 11:14].all()
    assert (t.cls[0] == 0).sum() == 48  # 64 - 16
    torch.testing.assert_close(t.delta_weight[0][pos], torch.full((9,), 1 / (9 + 1e-6)))
    assert t.delta_weight[0][~pos].abs().sum() == 0
    torch.testing.assert_close(t.delta[0, :, 2, 12, 12], torch.zeros(4))
    # (tcx - cx) / w, (tcy - cy) / h, log(tw / w), log(th / h) at the cell right of the centre
    expect = [(127 - 135) / 64, 0.0, 0.0, 0.0]
    torch.testing.assert_close(t.delta[0, :, 2, 12, 13], torch.tensor(expect))
    expect = [(127 - 119) / 40, (127 - 127) / 80, math.log(64 / 40), math.log(64 / 80)]
    torch.testing.assert_close(t.delta[0, :, 3, 12, 11], torch.tensor(expect))


def test_targets_keep_16_positives_and_48_negatives():
    anc = training_anchors(ratios=(1.0, 1.0, 1.0))  # 3 x 9 = 27 candidates
    boxes = torch.tensor([_centred(64, 64), _centred(64, 64, cx=135.0)])
    t = rpn_targets(boxes, torch.tensor([False, False]), anc, generator=_gen())
    for i in range(2):
        assert (t.cls[i] == 1).sum() == 16
        assert (t.cls[i] == 0).sum() == 48
        assert (t.cls[i] != -1).sum() == 64
        torch.testing.assert_close(t.delta_weight[i].sum(), torch.tensor(16 / (16 + 1e-6)))
    # kept positives are a subset of the 27 candidates (cells 11..13 around the centre)
    assert (t.cls[0, :, 11:14, 11:14] == 1).sum() == 16


def test_targets_negative_pair_window():
    anc = training_anchors()
    # distractor centre (143, 119): cell x = 12 + ceil(2 + 0.5) = 15, y = 12 + ceil(-1 + 0.5) = 12
    boxes = torch.tensor([_centred(40, 40, cx=143.0, cy=119.0), _centred(64, 64)])
    t = rpn_targets(boxes, torch.tensor([True, False]), anc, generator=_gen())
    labels = t.cls[0]
    assert (labels == 1).sum() == 0
    assert (labels == 0).sum() == 16
    window = torch.zeros(25, 25, dtype=torch.bool)
    window[9:16, 12:19] = True
    assert (labels == 0)[:, ~window].sum() == 0
    assert t.delta[0].abs().sum() == 0 and t.delta_weight[0].abs().sum() == 0
    assert (t.cls[1] == 1).sum() == 9  # the positive pair next to it is unaffected
    # near the border: x cell 12 + ceil(-12 + 0.5) = 1, window clipped to 0..4; y on the centre
    # gives cell 12 + ceil(0.5) = 13 (pysot's rounding), rows 10..16
    edge = rpn_targets(
        torch.tensor([_centred(40, 40, cx=127.0 - 12 * 8)]),
        torch.tensor([True]),
        anc,
        generator=_gen(),
        neg_num=10_000,
    )
    assert (edge.cls[0] == 0).sum() == 5 * 7 * 5
    assert (edge.cls[0, :, 10:17, 0:5] == 0).all()


def test_targets_deterministic_given_generator():
    anc = training_anchors()
    boxes = torch.tensor([_centred(60, 90), _centred(100, 40, cx=140.0), _centred(64, 64)])
    neg = torch.tensor([False, False, True])
    a = rpn_targets(boxes, neg, anc, generator=_gen(7))
    b = rpn_targets(boxes, neg, anc, generator=_gen(7))
    c = rpn_targets(boxes, neg, anc, generator=_gen(8))
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a.cls, c.cls)


def _pysot_cls_loss(cls, labels):
    """pysot's select_cross_entropy_loss on its log_softmax layout (the oracle)."""
    pred = rpn_log_softmax(cls).reshape(-1, 2)
    label = labels.reshape(-1)
    pos = label.eq(1).nonzero().squeeze()
    neg = label.eq(0).nonzero().squeeze()
    lp = torch.nn.functional.nll_loss(pred[pos], label[pos])
    ln = torch.nn.functional.nll_loss(pred[neg], label[neg])
    return 0.5 * lp + 0.5 * ln


def test_cross_entropy_hand_computation():
    # B=1, A=1, S=2: channel 0 background, channel 1 foreground
    bg = torch.tensor([[0.0, 1.0], [2.0, 0.5]])
    fg = torch.tensor([[2.0, 0.0], [1.0, -1.0]])
    cls = torch.stack([bg, fg]).unsqueeze(0)  # (1, 2, 2, 2)
    labels = torch.tensor([[[1, 0], [-1, 0]]])  # (1, 1, 2, 2)

    def logp(a, b):  # log softmax of a over {a, b}
        return a - math.log(math.exp(a) + math.exp(b))

    pos = -logp(2.0, 0.0)
    neg = -(logp(1.0, 0.0) + logp(0.5, -1.0)) / 2
    out = select_cross_entropy(cls, labels)
    torch.testing.assert_close(out, torch.tensor(0.5 * pos + 0.5 * neg))


def test_cross_entropy_matches_pysot_and_handles_empty_sets():
    g = _gen(3)
    cls = torch.randn(2, 10, 5, 5, generator=g)
    labels = torch.randint(-1, 2, (2, 5, 5, 5), generator=g)
    torch.testing.assert_close(select_cross_entropy(cls, labels), _pysot_cls_loss(cls, labels))
    only_neg = torch.where(labels == 1, 0, labels)
    out = select_cross_entropy(cls, only_neg)
    assert torch.isfinite(out)
    neg_only_ref = -0.5 * rpn_log_softmax(cls)[..., 0][only_neg == 0].mean()
    torch.testing.assert_close(out, neg_only_ref)


def test_weighted_l1_and_total_hand_computation():
    b, a, s = 2, 1, 1
    loc = torch.tensor([1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]).view(b, 4 * a, s, s)
    delta = torch.tensor([0.5, 2.0, 1.0, 4.0, 1.0, -1.0, 0.0, 2.0]).view(b, 4, a, s, s)
    weight = torch.tensor([0.25, 1.0]).view(b, a, s, s)
    # sample 0: (0.5 + 0 + 2 + 0) * 0.25 = 0.625; sample 1: (1 + 1 + 0 + 2) * 1 = 4; / B
    torch.testing.assert_close(weighted_l1(loc, delta, weight), torch.tensor((0.625 + 4) / 2))
    cls = torch.zeros(b, 2 * a, s, s)
    labels = torch.tensor([1, 0]).view(b, a, s, s)
    loss = rpn_loss(cls, loc, labels, delta, weight)
    torch.testing.assert_close(loss.cls, torch.tensor(math.log(2.0)))
    torch.testing.assert_close(loss.total, loss.cls + 1.2 * loss.loc)


def test_loss_is_finite_without_positives():
    cls = torch.randn(1, 10, 3, 3, requires_grad=True)
    labels = torch.zeros(1, 5, 3, 3, dtype=torch.long)
    loss = rpn_loss(
        cls, torch.zeros(1, 20, 3, 3), labels, torch.zeros(1, 4, 5, 3, 3), torch.zeros(1, 5, 3, 3)
    )
    loss.total.backward()
    assert torch.isfinite(loss.total) and torch.isfinite(cls.grad).all()
