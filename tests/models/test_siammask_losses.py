"""SiamMask mask loss: label windows, positive cells, soft margin and IoU against slow oracles."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from siamlightning.models.siammask_losses import (
    LabelWindows,
    cut_label_windows,
    iou_measure,
    label_windows,
    mask_cells,
    mask_logistic_loss,
    select_mask_logistic_loss,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _window_oracle(mask: torch.Tensor, b: int, y: int, x: int, start: int) -> torch.Tensor:
    """The 127 x 127 label window of cell (y, x), cut from a zero canvas around the crop."""
    side, margin = mask.shape[-1], 200
    canvas = torch.zeros(side + 2 * margin, side + 2 * margin)
    canvas[margin : margin + side, margin : margin + side] = mask[b, 0].float() * 2 - 1
    r, c = margin + start + 8 * y, margin + start + 8 * x
    return canvas[r : r + 127, c : c + 127]


def _loss_oracle(logits, mask, weight, start):
    """SiamMask's loss and IoU, one cell at a time in python, with the empty-union rule."""
    b, m2, s, _ = logits.shape
    m = math.isqrt(m2)
    losses, ious = [], []
    for bi in range(b):
        for y in range(s):
            for x in range(s):
                if not weight[bi, y, x]:
                    continue
                row = logits[bi, :, y, x].reshape(1, 1, m, m)
                row = F.interpolate(row, size=(127, 127), mode="bilinear", align_corners=True)
                row = row.flatten()
                label = _window_oracle(mask, bi, y, x, start).flatten()
                losses.append(torch.log1p(torch.exp(-label * row)))
                pred, gt = row >= 0, label == 1
                union = (pred | gt).sum().item()
                ious.append((pred & gt).sum().item() / union if union else 1.0)
    ious = torch.tensor(ious)
    return torch.cat(losses).mean(), ious.mean(), (ious > 0.5).float().mean(), ious


def _case(search: int, s: int, b: int = 3, m: int = 63, seed: int = 0):
    g = _gen(seed)
    logits = torch.randn(b, m * m, s, s, generator=g) * 2
    mask = torch.zeros(b, 1, search, search, dtype=torch.uint8)
    for i in range(b):  # a random rectangle per sample
        y0, x0 = torch.randint(0, search // 2, (2,), generator=g).tolist()
        h, w = torch.randint(20, search // 2, (2,), generator=g).tolist()
        mask[i, 0, y0 : y0 + h, x0 : x0 + w] = 1
    weight = torch.rand(b, s, s, generator=g) < 0.1
    weight[0, 0, 0] = weight[-1, s - 1, s - 1] = True  # the corners: windows reach the padding
    return logits, mask, weight


def test_geometry_is_derived_from_sizes():
    assert label_windows(search_size=255, score_size=25, stride=8) == LabelWindows(127, 32, 8)
    assert label_windows(search_size=143, score_size=3, stride=8) == LabelWindows(127, 0, 8)
    # the unfold of the official code gives exactly S windows with this geometry
    for x, s, pad in ((255, 25, 32), (143, 3, 0)):
        assert (x + 2 * pad - 127) // 8 + 1 == s
    assert label_windows(search_size=159, score_size=3, stride=8).padding == -8
    with pytest.raises(ValueError, match="odd"):
        label_windows(search_size=256, score_size=25, stride=8)


@pytest.mark.parametrize(("search", "s"), [(255, 25), (143, 3)])
def test_windows_equal_the_pixel_loop_and_the_official_unfold(search, s):
    _, mask, weight = _case(search, s, b=2, seed=1)
    geo = label_windows(search_size=search, score_size=s, stride=8)
    cells = weight.nonzero()
    got = cut_label_windows(mask, cells, geo)
    want = [_window_oracle(mask, b, y, x, -geo.padding) for b, y, x in cells.tolist()]
    assert torch.equal(got, torch.stack(want))
    # SiamMask: unfold the whole label, rows (b, y, x), select the weighted ones
    label = mask.float() * 2 - 1
    uf = F.unfold(label, (127, 127), padding=geo.padding, stride=8)
    uf = uf.transpose(1, 2).reshape(-1, 127 * 127)[weight.view(-1)]
    assert torch.equal(got.reshape(-1, 127 * 127), uf)
    assert (got == 1).any() and (got == -1).any()
    assert (got == 0).any() == (geo.padding > 0)  # the zero padding of the label


@pytest.mark.parametrize(("search", "s", "m"), [(255, 25, 63), (143, 3, 63), (143, 3, 127)])
def test_loss_and_iou_equal_the_slow_oracle(search, s, m):
    logits, mask, weight = _case(search, s, m=m, seed=2)
    start = -label_windows(search_size=search, score_size=s, stride=8).padding
    got = select_mask_logistic_loss(logits, mask, weight, stride=8)
    loss, iou_m, iou_5, ious = _loss_oracle(logits, mask, weight, start)
    assert got.rows.item() == weight.sum().item()
    torch.testing.assert_close(got.loss, loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.iou_m, iou_m.float(), rtol=1e-5, atol=1e-6)
    assert got.iou_5.item() == pytest.approx(iou_5.item())
    assert got.iou_7.item() == pytest.approx((ious > 0.7).float().mean().item())
    assert 0 < got.iou_m < 1


def test_gradient_reaches_only_the_selected_cells():
    logits, mask, weight = _case(255, 25, b=2, seed=3)
    logits.requires_grad_(True)
    select_mask_logistic_loss(logits, mask, weight, stride=8).loss.backward()
    touched = logits.grad.abs().sum(1) > 0
    assert torch.equal(touched, weight)


def test_padding_pixels_have_constant_loss_and_no_gradient():
    # a cell whose window is half outside the crop: label 0 there -> log 2, zero gradient
    rows = torch.zeros(1, 1, 127, 127, requires_grad=True)
    labels = torch.zeros(1, 127, 127)
    labels[:, 64:] = 1
    out = mask_logistic_loss(rows, labels)
    assert out.loss.item() == pytest.approx(math.log(2))
    assert rows.grad is None
    out.loss.backward()
    assert rows.grad[0, 0, :64].abs().max() == 0 and rows.grad[0, 0, 64:].abs().min() > 0
    # logits >= 0 predict foreground; label 0 is background for the IoU
    assert iou_measure(rows.detach().reshape(1, -1), labels.reshape(1, -1))[0].item() == (
        pytest.approx(63 * 127 / 127**2)
    )


def test_no_positive_cell_gives_zero_in_the_graph_and_no_nan():
    logits, mask, _ = _case(255, 25, b=2, seed=4)
    logits.requires_grad_(True)
    out = select_mask_logistic_loss(logits, mask, torch.zeros(2, 25, 25, dtype=bool), stride=8)
    assert [v.item() for v in out] == [0.0] * 5
    out.loss.backward()  # in the graph: DDP sees a (zero) gradient for the mask head
    assert logits.grad is not None and logits.grad.abs().max() == 0


def test_empty_union_counts_as_iou_one_not_nan():
    logits = torch.full((2, 16), -1.0)
    labels = -torch.ones(2, 16)
    labels[1, :8] = 1
    iou_m, iou_5, iou_7 = iou_measure(logits, labels)
    assert (iou_m.item(), iou_5.item(), iou_7.item()) == (0.5, 0.5, 0.5)


def test_mask_cells_need_a_positive_anchor_a_mask_and_a_positive_pair():
    labels = torch.full((3, 5, 4, 4), -1)
    labels[:, 2, 1, 2] = 1
    labels[:, 0, 3, 3] = 1
    labels[:, 4, 0, 0] = 0  # negatives do not count
    has_mask = torch.tensor([True, False, True])
    negative = torch.tensor([False, False, True])
    cells = mask_cells(labels, has_mask, negative)
    assert cells[0].nonzero().tolist() == [[1, 2], [3, 3]]
    assert not cells[1].any() and not cells[2].any()


def test_loss_equals_soft_margin_and_stays_finite_for_huge_logits():
    """softplus(-y x) is SiamMask's F.soft_margin_loss where that is finite; a logit of the wrong
    sign beyond fp32's exp range gives a finite loss and gradient (soft_margin_loss: inf, NaN)."""
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 1, 127, 127, generator=g) * 5
    labels = torch.randint(0, 2, (3, 127, 127), generator=g).float() * 2 - 1
    got = mask_logistic_loss(pred, labels).loss
    want = F.soft_margin_loss(pred.reshape(3, -1), labels.reshape(3, -1))
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-8)
    huge = pred.clone().requires_grad_(True)
    with torch.no_grad():
        huge[0, 0, 0, 0] = -200.0 * labels[0, 0, 0]  # margin -200
    out = mask_logistic_loss(huge, labels).loss
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(huge.grad).all()
    assert not torch.isfinite(F.soft_margin_loss(huge.reshape(3, -1), labels.reshape(3, -1)))
