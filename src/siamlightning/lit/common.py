"""Pieces shared by the LightningModules."""

from __future__ import annotations

import logging

import lightning as L
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def _first_note(module: L.LightningModule) -> str:
    """The epoch's first unreadable-frame error on any rank (from the DataModule), or ""."""
    trainer = module.trainer
    dm = getattr(trainer, "datamodule", None)
    note = dm.pop_skip_note() if hasattr(dm, "pop_skip_note") else ""
    if trainer.world_size > 1 and dist.is_available() and dist.is_initialized():
        notes: list[str | None] = [None] * dist.get_world_size()
        dist.all_gather_object(notes, note)
        note = next((n for n in notes if n), "")
    return note


def warn_skipped_frames(module: L.LightningModule, count: int) -> None:
    """Per-epoch summary of unreadable training frames: sum ``count`` (this rank's skips this
    epoch) over ranks and, if > 0, log one warning on rank 0 naming the first failure, e.g.
    ``epoch 3: 17 unusable training frames were skipped (first: <file>: <why>)``.

    Call it on every rank (it may all-gather); the per-step metric is ``data/skipped_frames``.
    """
    total = module.trainer.strategy.reduce(
        torch.tensor(float(count), device=module.device), reduce_op="sum"
    )
    total = int(total.item())
    if total <= 0:
        return
    note = _first_note(module)
    if module.trainer.is_global_zero:
        log.warning(
            "epoch %d: %d unusable training frames were skipped (first: %s); the run goes on - "
            "run `siamlightning-prep check` on the dataset",
            module.current_epoch,
            total,
            note or "see the worker logs",
        )
