"""The process group as evaluation sees it: this process's rank, joining a launcher's group,
gathering every rank's trajectories, leaving.

Evaluation shards sequences by rank (``index.shard(rank, world_size)``, disjoint shards, no
padding); the trajectories are gathered so rank 0 scores the whole benchmark.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from siamlightning.ranks import rank_and_world

__all__ = ["gather_results", "join_launcher_group", "leave_group", "rank_and_world"]

T = TypeVar("T")


def join_launcher_group() -> tuple[int, int]:
    """Join the process group a launcher (torchrun, SLURM srun) describes in the environment
    (``WORLD_SIZE`` > 1; NCCL with CUDA, else gloo) -> (rank, world size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return rank_and_world()


def leave_group(*, wait: bool) -> None:
    """Leave the process group; a rank exiting with live gloo threads aborts (SIGABRT).

    ``wait`` meets the other ranks first; a failing rank does not wait (that would hang them).
    """
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def gather_results(results: Mapping[str, T]) -> dict[str, T]:
    """Merge every rank's ``{sequence: result}`` on all ranks (a collective).

    A name held by several ranks keeps the lowest rank's copy (first wins, as the metrics keep
    the first row of a ``seq_id``); shards are disjoint, so this never decides a score today.
    """
    _, world = rank_and_world()
    if world == 1:
        return dict(results)
    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, dict(results))
    merged: dict[str, T] = {}
    for part in parts:
        for key, value in part.items():
            merged.setdefault(key, value)
    return merged
