"""SiamMask's mask loss and IoU (foolwood/SiamMask ``select_mask_logistic_loss`` and
``iou_measure``, ``models/siammask.py:158-183``), for the base (255/25) and sharp (143/3) stages.

Each score-map cell (y, x) owns a 127 x 127 window of the search crop, centred on its anchor
centre (`label_windows`): 255/25 -> kernel 127, padding 32, stride 8; 143/3 -> padding 0. The
loss is taken at the cells that hold at least one positive anchor after the <= 16 positive
subsampling (`mask_cells`), for pairs with a mask that are not negatives: the cell's mask row
(63 x 63 upsampled to 127 bilinearly with ``align_corners=True``, or the refinement's 127 x 127)
against the window of the label ``mask * 2 - 1`` in {-1, +1}, zero-padded outside the crop (a
pixel neither foreground nor background: constant log 2, no gradient, counted in the mean and as
background in the IoU; spec §1.3, §6.2). loss = the soft margin log(1 + exp(-y x)) as SiamMask's
`F.soft_margin_loss`, computed as ``softplus(-y x)`` (finite for any logit), the mean over
N x 127^2 elements. With N = 0 the loss and the IoUs are ``logits.sum() * 0`` (0, still in the
graph, so DDP sees a gradient for every mask parameter).

Unlike the official code, only the N windows of the positive cells are cut (not all B x S^2 with
``F.unfold``: 2.6 GB of fp32 labels at batch 64), and a row whose prediction and label are both
empty counts as IoU 1 (DAVIS's convention for empty/empty) instead of 0/0 = NaN.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

#: side of a cell's label window and of the loss's mask rows (SiamMask ``g_sz``)
WINDOW = 127


class LabelWindows(NamedTuple):
    """`F.unfold` geometry of the label windows: window ``kernel``, zero ``padding`` on each side
    (negative: the windows start inside the crop), ``stride`` between neighbouring cells."""

    kernel: int
    padding: int
    stride: int


class MaskLoss(NamedTuple):
    """Scalars: the soft-margin ``loss``, mean IoU ``iou_m``, fractions ``iou_5`` / ``iou_7`` of
    rows with IoU > 0.5 / 0.7, and ``rows`` = N, the positive cells they are taken over."""

    loss: torch.Tensor
    iou_m: torch.Tensor
    iou_5: torch.Tensor
    iou_7: torch.Tensor
    rows: torch.Tensor


def label_windows(
    *, search_size: int, score_size: int, stride: int, window: int = WINDOW
) -> LabelWindows:
    """Geometry of the windows centred on the training anchors: cell i at ``search_size / 2 + (i -
    S // 2) * stride`` in continuous crop pixels (`training_anchors`), i.e. pixels
    ``[start + i * stride, start + i * stride + window)`` with ``start = (search_size - window) / 2
    - (S // 2) * stride`` (255/25/8 -> -32, 143/3/8 -> 0)."""
    if (search_size - window) % 2:
        raise ValueError(
            f"search_size {search_size} and the {window}-px mask window differ by an odd number "
            "of pixels: the windows cannot be centred on the anchors (use an odd search size)"
        )
    # the last window ends at (X + k) / 2 + (S - 1 - S // 2) * stride <= X - start: a symmetric
    # padding of -start always covers every window
    start = (search_size - window) // 2 - (score_size // 2) * stride
    return LabelWindows(kernel=window, padding=-start, stride=stride)


def mask_cells(
    labels: torch.Tensor, has_mask: torch.Tensor, negative: torch.Tensor
) -> torch.Tensor:
    """SiamMask's mask_weight: anchor labels (B, A, S, S) in {1, 0, -1}, has_mask (B,), negative
    (B,) -> (B, S, S) bool, True where a cell has a (kept) positive anchor, on mask pairs only."""
    keep = has_mask.to(torch.bool) & ~negative.to(torch.bool)
    return (labels == 1).any(dim=1) & keep.to(labels.device).view(-1, 1, 1)


def cut_label_windows(
    mask: torch.Tensor, cells: torch.Tensor, geometry: LabelWindows
) -> torch.Tensor:
    """Search masks (B, 1, X, X) in {0, 1} and N cells (N, 3) of (b, y, x) -> labels (N, k, k):
    +1 object, -1 background, 0 outside the crop (the zero padding of ``F.unfold``)."""
    k, pad, st = geometry
    label = mask[:, 0].to(torch.float32) * 2 - 1
    label = F.pad(label, (pad, pad, pad, pad))  # zeros; a negative padding crops
    b, y, x = cells.unbind(1)
    offsets = torch.arange(k, device=mask.device)
    rows = (y * st).view(-1, 1, 1) + offsets.view(1, k, 1)
    cols = (x * st).view(-1, 1, 1) + offsets.view(1, 1, k)
    return label[b.view(-1, 1, 1), rows, cols]


def iou_measure(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Logits (N, P) (foreground where >= 0) and labels (N, P) (foreground where == 1) -> mean
    IoU, fraction of IoU > 0.5, fraction > 0.7; an empty union counts as IoU 1. N >= 1."""
    pred, gt = logits >= 0, labels == 1
    inter = (pred & gt).sum(dim=1).float()
    union = (pred | gt).sum(dim=1).float()
    iou = torch.where(union > 0, inter / union.clamp(min=1.0), torch.ones_like(union))
    return iou.mean(), (iou > 0.5).float().mean(), (iou > 0.7).float().mean()


def mask_logistic_loss(
    rows: torch.Tensor, labels: torch.Tensor, *, anchor: torch.Tensor | None = None
) -> MaskLoss:
    """Mask logits (N, 1, m, m) of N positive cells and their labels (N, k, k) -> `MaskLoss`.

    Rows smaller than k are upsampled bilinearly with ``align_corners=True`` (SiamMask's
    ``UpsamplingBilinear2d``). With N = 0 every scalar is ``anchor.sum() * 0`` (``anchor``: the
    tensor the rows were taken from; default ``rows``), keeping the graph connected.
    """
    n, k = labels.shape[0], labels.shape[-1]
    if n == 0:
        zero = (rows if anchor is None else anchor).sum() * 0
        return MaskLoss(zero, zero, zero, zero, zero.detach())
    with torch.autocast(rows.device.type, enabled=False):  # fp32 under bf16/fp16 autocast
        rows = rows.float()
        if rows.shape[-1] != k:
            rows = F.interpolate(rows, size=(k, k), mode="bilinear", align_corners=True)
        pred, target = rows.reshape(n, k * k), labels.reshape(n, k * k).float()
        # F.soft_margin_loss computes log1p(exp(-y x)): inf, and a NaN gradient, once a logit's
        # margin passes -88 (fp32 exp overflow), which poisons every weight through clipping;
        # softplus is the same function, finite everywhere (equal to 1e-8 where both are finite)
        loss = F.softplus(-target * pred).mean()
    with torch.no_grad():
        iou_m, iou_5, iou_7 = iou_measure(pred, target)
    return MaskLoss(loss, iou_m, iou_5, iou_7, pred.new_tensor(float(n)))


def head_rows(mask_logits: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """MaskCorr logits (B, m^2, S, S) and N cells (N, 3) of (b, y, x) -> their rows (N, 1, m, m)."""
    m = math.isqrt(mask_logits.shape[1])
    b, y, x = cells.unbind(1)
    return mask_logits[b, :, y, x].reshape(-1, 1, m, m)


def select_mask_logistic_loss(
    mask_logits: torch.Tensor, search_mask: torch.Tensor, weight: torch.Tensor, *, stride: int
) -> MaskLoss:
    """Base stage: MaskCorr logits (B, m^2, S, S), search masks (B, 1, X, X) in {0, 1} and the
    cells to train (B, S, S) bool (`mask_cells`) -> `MaskLoss` over the selected cells."""
    s = mask_logits.shape[-1]
    geometry = label_windows(search_size=search_mask.shape[-1], score_size=s, stride=stride)
    cells = weight.nonzero()  # (N, 3) b, y, x in row-major order: SiamMask's row order
    labels = cut_label_windows(search_mask, cells, geometry)
    return mask_logistic_loss(head_rows(mask_logits, cells), labels, anchor=mask_logits)
