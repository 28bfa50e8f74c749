"""SiamRPN anchor targets (pysot ``datasets/anchor_target.py``), batched in torch on the device.

Positive pairs: IoU > 0.6 is positive (keep up to 16 at random), IoU < 0.3 negative (keep up to
64 - 16 = 48), the rest ignored (-1); regression targets ((tcx - cx) / w, (tcy - cy) / h,
log(tw / w), log(th / h)) at every anchor; loc weight 1 / #pos on the kept positives.
Negative pairs: the 7x7 window around the distractor's cell ``S // 2 + ceil((tcx - c) / 8 + 0.5)``
is the candidate set, 16 of it are kept as negatives; no loc targets.
The random subsampling draws a fixed amount from ``generator`` per call, so results are a pure
function of the inputs and the generator state.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from siamlightning.metrics.geometry import box_iou


class RPNTargets(NamedTuple):
    """Labels for one batch: ``cls`` (B, A, S, S) int64 in {1, 0, -1}, ``delta`` (B, 4, A, S, S)
    float32 dx, dy, dw, dh, ``delta_weight`` (B, A, S, S) float32."""

    cls: torch.Tensor
    delta: torch.Tensor
    delta_weight: torch.Tensor


def _random_subset(
    candidates: torch.Tensor, keep: torch.Tensor, keys: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep ``keep[b]`` of row b's candidates, uniformly at random: (B, N) bool -> mask, counts."""
    n = candidates.shape[1]
    keys = torch.where(candidates, keys, torch.full_like(keys, 2.0))  # non-candidates sort last
    order = keys.argsort(dim=1)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(n, device=order.device).expand_as(order)
    )
    mask = candidates & (rank < keep.view(-1, 1))
    return mask, mask.sum(dim=1)


def rpn_targets(
    boxes: torch.Tensor,
    negative: torch.Tensor,
    anchors: torch.Tensor,
    *,
    generator: torch.Generator,
    thr_high: float = 0.6,
    thr_low: float = 0.3,
    pos_num: int = 16,
    total_num: int = 64,
    neg_num: int = 16,
    neg_window: int = 3,
) -> RPNTargets:
    """Assign SiamRPN targets to a batch.

    Args:
        boxes: (B, 4) target boxes ``x, y, w, h`` in search-crop pixels (right edge ``x + w``).
        negative: (B,) bool, True for negative (distractor) pairs.
        anchors: (4, A, S, S) cx, cy, w, h from :func:`siamlightning.models.anchors.
            training_anchors`; the crop centre and stride of the negative rule are read from it.
        generator: torch.Generator for the random subsampling (any device).
        neg_window: half-width of the negative-pair window (3 -> 7x7).
    Returns:
        RPNTargets(cls (B, A, S, S), delta (B, 4, A, S, S), delta_weight (B, A, S, S)).
    """
    dev = boxes.device
    anchors = anchors.to(device=dev, dtype=torch.float32)
    _, a, s, _ = anchors.shape
    b = boxes.shape[0]
    n = a * s * s
    boxes = boxes.to(torch.float32)
    negative = negative.to(device=dev, dtype=torch.bool).view(b)
    tcx, tcy = boxes[:, 0] + boxes[:, 2] * 0.5, boxes[:, 1] + boxes[:, 3] * 0.5
    tw, th = boxes[:, 2], boxes[:, 3]

    # regression targets and IoU against every anchor: (B, A, S, S)
    cx, cy, w, h = (t.unsqueeze(0) for t in anchors.unbind(0))
    view = (b, 1, 1, 1)
    delta = torch.stack(
        [
            (tcx.view(view) - cx) / w,
            (tcy.view(view) - cy) / h,
            torch.log(tw.view(view) / w),
            torch.log(th.view(view) / h),
        ],
        dim=1,
    )
    anchors_xywh = torch.stack([cx - w * 0.5, cy - h * 0.5, w, h], dim=-1)  # (1, A, S, S, 4)
    iou = box_iou(anchors_xywh, boxes.view(b, 1, 1, 1, 4)).reshape(b, n)

    # negative pairs: the window around the distractor's cell
    center, stride = anchors[0, 0, 0, s // 2], anchors[0, 0, 0, 1] - anchors[0, 0, 0, 0]
    cells = torch.arange(s, device=dev)
    ccx = s // 2 + torch.ceil((tcx - center) / stride + 0.5).long()
    ccy = s // 2 + torch.ceil((tcy - center) / stride + 0.5).long()
    in_x = (cells.view(1, -1) >= (ccx - neg_window).view(-1, 1)) & (
        cells.view(1, -1) <= (ccx + neg_window).view(-1, 1)
    )
    in_y = (cells.view(1, -1) >= (ccy - neg_window).view(-1, 1)) & (
        cells.view(1, -1) <= (ccy + neg_window).view(-1, 1)
    )
    window = (in_y.view(b, 1, s, 1) & in_x.view(b, 1, 1, s)).expand(b, a, s, s).reshape(b, n)

    pos_pair = ~negative.view(b, 1)
    pos_cand = pos_pair & (iou > thr_high)
    neg_cand = torch.where(pos_pair, iou < thr_low, window)
    neg_keep = torch.where(negative, neg_num, total_num - pos_num)

    gdev = generator.device
    keys = torch.rand((2, b, n), generator=generator, device=gdev).to(dev)
    pos, n_pos = _random_subset(pos_cand, torch.full_like(neg_keep, pos_num), keys[0])
    neg, _ = _random_subset(neg_cand, neg_keep, keys[1])

    cls = torch.full((b, n), -1, dtype=torch.long, device=dev)
    cls[neg] = 0
    cls[pos] = 1
    weight = pos.float() / (n_pos.float().view(-1, 1) + 1e-6)
    delta = torch.where(pos_pair.view(b, 1, 1, 1, 1), delta, 0.0)  # negative pairs: zeros
    return RPNTargets(cls.view(b, a, s, s), delta, weight.view(b, a, s, s))
