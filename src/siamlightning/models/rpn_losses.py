"""SiamRPN losses (pysot ``models/loss.py`` and ``model_builder.py``), computed in fp32.

cls = 0.5 * NLL(mean over positives) + 0.5 * NLL(mean over negatives), pooled over the batch;
loc = sum(|delta_pred - delta| * weight) / B; total = 1.0 * cls + 1.2 * loc.
Unlike pysot, a batch without positives (or negatives) contributes 0 for that half instead of
NaN, and a batch with exactly one positive is counted (pysot's ``squeeze`` drops it).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class RPNLoss(NamedTuple):
    """Scalar losses: ``total`` = cls_weight * ``cls`` + loc_weight * ``loc``."""

    total: torch.Tensor
    cls: torch.Tensor
    loc: torch.Tensor


def rpn_log_softmax(cls: torch.Tensor) -> torch.Tensor:
    """cls logits (B, 2A, S, S), viewed (2, A) background first -> log-probs (B, A, S, S, 2)."""
    b, a2, h, w = cls.shape
    logits = cls.float().view(b, 2, a2 // 2, h, w).permute(0, 2, 3, 4, 1)
    return F.log_softmax(logits, dim=-1)


def select_cross_entropy(cls: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """cls logits (B, 2A, S, S), labels (B, A, S, S) in {1, 0, -1} -> scalar balanced NLL."""
    logp = rpn_log_softmax(cls)
    loss = logp.new_zeros(())
    for value in (1, 0):
        sel = (labels == value).float()  # masked means: no host sync, 0 when the set is empty
        loss = loss - 0.5 * (logp[..., value] * sel).sum() / sel.sum().clamp(min=1.0)
    return loss


def weighted_l1(loc: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """loc (B, 4A, S, S), delta (B, 4, A, S, S), weight (B, A, S, S) -> sum |diff| * w / B."""
    b, _, h, w = loc.shape
    diff = (loc.float().view(b, 4, -1, h, w) - delta.float()).abs().sum(dim=1)
    return (diff * weight.float()).sum() / b


def rpn_loss(
    cls: torch.Tensor,
    loc: torch.Tensor,
    labels: torch.Tensor,
    delta: torch.Tensor,
    weight: torch.Tensor,
    *,
    cls_weight: float = 1.0,
    loc_weight: float = 1.2,
) -> RPNLoss:
    """Head outputs cls (B, 2A, S, S), loc (B, 4A, S, S) and targets -> RPNLoss of scalars."""
    c = select_cross_entropy(cls, labels)
    lo = weighted_l1(loc, delta, weight)
    return RPNLoss(cls_weight * c + loc_weight * lo, c, lo)
