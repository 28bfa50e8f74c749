"""Pieces shared by the LightningModules."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel

from siamlightning.configs import EXPORT_KEY
from siamlightning.errors import ConfigError

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


def compile_options(compile: bool | Mapping[str, Any]) -> dict[str, Any] | None:
    """A module's ``compile=`` as `torch.compile` options: None (off), {} (true) or the mapping."""
    if isinstance(compile, Mapping):
        return dict(compile)
    return {} if compile else None


def compile_net(net: torch.nn.Module, options: Mapping[str, Any]) -> None:
    """`torch.compile` each child of ``net`` in place (``nn.Module.compile``) unless it already
    is: parameter names, checkpoints and the modules' own methods (``template``) stay as they are.

    ``options`` are `torch.compile` keyword arguments (default ``dynamic=False``: the template and
    search crops are two static shapes, each compiled once). A backbone that unfreezes, or a
    BatchNorm switching mode, recompiles once at that point.
    """
    kwargs = {"dynamic": False, **options}
    for child in net.children():
        if child._compiled_call_impl is None:
            child.compile(**kwargs)


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


def warn_skipped_steps(module: L.LightningModule, losses: list[float], max_loss: float) -> None:
    """Per-epoch summary of the optimiser steps skipped by a module's loss guard: ``losses`` are
    this rank's losses of the skipped steps (the decision is taken over all ranks, so every rank
    counts the same steps); one warning on rank 0, e.g. ``epoch 3: 2 optimizer steps were
    skipped: loss NaN, infinite or > 10000 (first: nan)``."""
    if not losses or not module.trainer.is_global_zero:
        return
    log.warning(
        "epoch %d: %d optimizer steps were skipped: loss NaN, infinite or > %g on some rank "
        "(first, on rank 0: %g); the run goes on",
        module.current_epoch,
        len(losses),
        max_loss,
        losses[0],
    )


def check_rewrappable(trainer: L.Trainer, *, what: str) -> None:
    """Raise `ConfigError` when fitting under a strategy whose wrapper `rewrap_ddp` cannot rebuild
    (FSDP, DeepSpeed, ...): at the start of the run, not at the epoch where ``what`` happens."""
    wrapped = trainer.strategy.model
    if wrapped is trainer.lightning_module or isinstance(wrapped, DistributedDataParallel):
        return
    raise ConfigError(
        f"{what} changes the trained parameters mid-run, which needs a module that runs bare or "
        f"under DistributedDataParallel (trainer.strategy=ddp); "
        f"{type(trainer.strategy).__name__} wraps it in {type(wrapped).__name__}"
    )


def rewrap_ddp(trainer: L.Trainer) -> bool:
    """Wrap the trainer's module in a new `DistributedDataParallel` when it runs under one; True
    if it did.

    DDP all-reduces the parameters that required grad when it wrapped the module and expects a
    gradient for each of them at every step, so a module whose trained set changes mid-run (a
    backbone unfreezing) calls this after changing ``requires_grad``. The new wrapper takes
    Lightning's own DDP arguments and hooks and broadcasts rank 0's parameters and buffers; the
    old one, and its autograd hooks, go with the last reference to it. Call it on every rank, at
    the same point (an epoch start), outside a step.
    """
    strategy = trainer.strategy
    wrapped = strategy.model
    if not isinstance(wrapped, DistributedDataParallel):
        return False
    setup = getattr(strategy, "_setup_model", None)
    if setup is None:
        raise RuntimeError(
            f"{type(strategy).__name__} wraps the module in DistributedDataParallel but has no "
            "_setup_model to re-wrap it; the trained parameters changed, so its gradient "
            "all-reduce would be wrong - use strategy=ddp"
        )
    module = wrapped.module
    del wrapped
    strategy.model = None  # drop the old reducer (and its hooks) before building the new one
    strategy.model = setup(module)
    register = getattr(strategy, "_register_ddp_hooks", None)
    if register is not None:
        register()
    log.info("re-wrapped the module in DistributedDataParallel: the trained parameters changed")
    return True
