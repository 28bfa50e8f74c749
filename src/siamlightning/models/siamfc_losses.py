"""Losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def balanced_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Balanced logistic loss (siamfc-pytorch ``BalancedLoss``): positives and negatives weighted
    1/#pos and 1/#neg over the whole batch, weights normalised to sum 1.

    Args:
        logits: (B, 1, R, R) response logits.
        labels: (B, 1, R, R) labels in {0, 1}.
    Returns:
        scalar loss.
    """
    logits = logits.float()
    pos = labels > 0.5
    neg = ~pos
    n_pos, n_neg = pos.sum().clamp(min=1), neg.sum().clamp(min=1)
    weights = pos.float() / n_pos + neg.float() / n_neg
    weights = weights / weights.sum()
    return F.binary_cross_entropy_with_logits(logits, labels.float(), weights, reduction="sum")
