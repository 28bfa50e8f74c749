"""Pieces shared by the LightningModules."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_warn


def warn_skipped_frames(module: L.LightningModule, count: int) -> None:
    """Sum ``count`` (unreadable frames skipped on this rank this epoch) over ranks; warn if > 0."""
    total = module.trainer.strategy.reduce(
        torch.tensor(float(count), device=module.device), reduce_op="sum"
    )
    if total > 0:
        rank_zero_warn(
            f"epoch {module.current_epoch}: {int(total)} unusable training frames were "
            "skipped (see the log for files; run `siamlightning-prep check`)"
        )
