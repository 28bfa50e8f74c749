"""Training targets computed on the device, batched."""

from __future__ import annotations

import torch


def siamfc_labels(
    boxes: torch.Tensor,
    response_size: int,
    crop_size: int,
    stride: int,
    r_pos: float = 16.0,
    negative: torch.Tensor | None = None,
) -> torch.Tensor:
    """SiamFC logistic labels: 1 within ``r_pos`` px of the target centre, else 0.

    Args:
        boxes: (B, 4) target boxes x, y, w, h in search-crop pixels.
        response_size: R, the side of the (B, 1, R, R) response map.
        crop_size: side of the search crop the response was computed on.
        stride: network stride in crop pixels per response cell.
        r_pos: positive radius in crop pixels (16 = 2 cells at stride 8, 13 positive cells).
        negative: optional (B,) bool; negative pairs get all-zero labels.
    Returns:
        (B, 1, R, R) float labels.
    """
    dev = boxes.device
    offs = torch.arange(response_size, device=dev, dtype=torch.float32) - (response_size - 1) / 2
    pos = crop_size / 2 + offs * stride  # cell centres in crop coordinates
    cx = (boxes[:, 0] + boxes[:, 2] / 2).float()
    cy = (boxes[:, 1] + boxes[:, 3] / 2).float()
    dx = pos.view(1, 1, -1) - cx.view(-1, 1, 1)
    dy = pos.view(1, -1, 1) - cy.view(-1, 1, 1)
    labels = ((dx.square() + dy.square()) <= r_pos**2 + 1e-3).float()
    if negative is not None:
        labels = labels * (~negative.bool()).float().view(-1, 1, 1)
    return labels.unsqueeze(1)
