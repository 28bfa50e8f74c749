"""Pieces shared by the LightningModules."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf

from siamlightning.configs import EXPORT_KEY

log = logging.getLogger(__name__)


def _plain(node: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    return dict(node)


def tracker_export(*, net: Mapping[str, Any], tracker: Mapping[str, Any]) -> dict[str, Any]:
    """``{"net": <net config>, "tracker": <tracker config>}`` as plain dicts: what a module
    stores in its checkpoints so that `siamlightning.load_tracker` rebuilds net and tracker.

    Built by Hydra with ``_recursive_: false`` (conf/train.yaml's ``model.export``), so both
    arrive as configs (``_target_`` + keyword arguments), not as objects.
    """
    for key, node in (("net", net), ("tracker", tracker)):
        if not isinstance(node, Mapping) or "_target_" not in node:
            raise ValueError(
                f"tracker_export {key}= must be a config with a _target_, got {node!r:.200}"
            )
    return {"net": _plain(net), "tracker": _plain(tracker)}


def save_export(export: Mapping[str, Any], checkpoint: dict[str, Any]) -> None:
    """Put a module's `tracker_export` (``{}`` when it has none) into a Lightning checkpoint."""
    checkpoint[EXPORT_KEY] = dict(export)


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
