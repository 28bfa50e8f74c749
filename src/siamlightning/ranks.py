"""This process's place in the process group (ground floor: metrics and evaluation both ask)."""

from __future__ import annotations

import torch.distributed as dist

__all__ = ["rank_and_world"]


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1
