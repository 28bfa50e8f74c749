"""pysot's optimiser groups (``tools/train.py`` build_opt_lr) and per-epoch LR schedule
(``pysot/utils/lr_scheduler.py``), as param-group dicts and a LambdaLR.

pysot concatenates a ``step`` warm-up (``start * mult ** k``, ``mult = (end / start) ** (1 /
warmup_epochs)``, so it stops one step short of ``end``) and ``np.logspace`` from ``lr_start`` to
``lr_end`` over the remaining epochs. Each group then runs at ``lr_space[epoch] * initial_lr /
lr_start``: with ``initial_lr = BASE_LR`` the head follows ``lr_space`` exactly when
``BASE_LR == lr_start`` (r50: 0.005) and at ``BASE_LR / lr_start`` of it otherwise (alex:
0.005 / 0.01 = 0.5x). Backbone groups start from ``LAYERS_LR * BASE_LR`` and are gated to 0 until
the backbone is unfrozen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def pysot_lr_space(
    *,
    epochs: int,
    lr_start: float,
    lr_end: float,
    warmup_epochs: int = 5,
    warmup_start_lr: float = 0.001,
    warmup_end_lr: float | None = None,
) -> np.ndarray:
    """(epochs,) pysot ``lr_spaces``: step warm-up to ``warmup_end_lr``, then log-spaced."""
    if warmup_epochs < 0 or epochs <= warmup_epochs:
        raise ValueError(
            f"the schedule needs epochs > warmup_epochs >= 0, got epochs={epochs}, "
            f"warmup_epochs={warmup_epochs} (set model.warmup_epochs or trainer.max_epochs)"
        )
    if min(lr_start, lr_end, warmup_start_lr) <= 0:
        raise ValueError(
            f"learning rates must be positive, got lr_start={lr_start}, lr_end={lr_end}, "
            f"warmup_start_lr={warmup_start_lr}"
        )
    warm_end = lr_start if warmup_end_lr is None else warmup_end_lr
    warm = np.zeros(0)
    if warmup_epochs > 0:
        mult = math.pow(warm_end / warmup_start_lr, 1.0 / warmup_epochs)
        warm = warmup_start_lr * mult ** np.arange(warmup_epochs)
    log = np.logspace(math.log10(lr_start), math.log10(lr_end), epochs - warmup_epochs)
    return np.concatenate([warm, log])


def epoch_factor(lr_space: Sequence[float], lr_start: float) -> Callable[[int], float]:
    """``epoch -> lr_space[epoch] / lr_start`` (the last value repeats past the end)."""
    values = [float(v) / lr_start for v in lr_space]
    return lambda epoch: values[min(int(epoch), len(values) - 1)]


def gated(
    factor: Callable[[int], float], *, from_epoch: int, enabled: bool = True
) -> Callable[[int], float]:
    """``factor`` from epoch ``from_epoch`` on, 0 before it (and always 0 when not enabled)."""
    return lambda epoch: factor(epoch) if enabled and epoch >= from_epoch else 0.0


def pysot_scheduler(optimizer: Optimizer, factors: Sequence[Callable[[int], float]]) -> LambdaLR:
    """LambdaLR with one epoch -> multiplier function per param group (of ``initial_lr``)."""
    if len(factors) != len(optimizer.param_groups):
        raise ValueError(
            f"{len(factors)} schedule factors for {len(optimizer.param_groups)} param groups"
        )
    return LambdaLR(optimizer, list(factors))


def pysot_param_groups(
    net: nn.Module,
    *,
    train_layers: Sequence[nn.Module],
    base_lr: float,
    backbone_lr_mult: float,
    unfreeze_epoch: int,
    factor: Callable[[int], float],
) -> tuple[list[dict[str, Any]], list[Callable[[int], float]]]:
    """Named groups over ALL of ``net``'s parameters and their epoch -> LR-multiplier functions.

    ``backbone`` (the ``train_layers``: ``backbone_lr_mult * base_lr``, 0 before
    ``unfreeze_epoch``), ``backbone_fixed`` (the rest of ``net.backbone``: always 0), ``neck`` and
    ``head`` (everything else: ``base_lr``), each then scaled by ``factor(epoch)``. Empty groups
    are left out.
    """
    backbone = list(net.backbone.parameters())
    train = {id(p) for m in train_layers for p in m.parameters()}
    neck = list(net.neck.parameters()) if getattr(net, "neck", None) is not None else []
    seen = {id(p) for p in (*backbone, *neck)}
    parts = [
        ("backbone", [p for p in backbone if id(p) in train], backbone_lr_mult,
         gated(factor, from_epoch=unfreeze_epoch)),
        ("backbone_fixed", [p for p in backbone if id(p) not in train], 0.0, lambda e: 0.0),
        ("neck", neck, 1.0, factor),
        ("head", [p for p in net.parameters() if id(p) not in seen], 1.0, factor),
    ]  # fmt: skip
    kept = [part for part in parts if part[1]]
    groups = [{"params": ps, "lr": base_lr * m, "name": name} for name, ps, m, _ in kept]
    return groups, [f for *_, f in kept]
