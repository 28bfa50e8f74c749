"""Learning-rate schedules shared by the LightningModules."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def geometric(optimizer: Optimizer, *, lr_end: float, total: int) -> LambdaLR:
    """Geometric decay from each group's lr to ``lr_end`` (same ratio) over ``total`` steps."""
    lr0 = optimizer.param_groups[0]["lr"]
    if lr0 <= 0 or lr_end <= 0:
        raise ValueError(f"geometric schedule needs positive lrs, got {lr0} -> {lr_end}")
    last = max(int(total) - 1, 1)
    gamma = (lr_end / lr0) ** (1.0 / last)
    return LambdaLR(optimizer, lambda k: gamma ** min(k, last))
