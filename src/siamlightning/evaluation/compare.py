"""Score several trackers on several benchmarks in one run (the quick-start table).

Sequences are sharded across DDP ranks; each rank tracks its shard, the trajectories are
gathered on every rank and rank 0 scores them, writes the result files' report and prints.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch.distributed as dist

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.evaluation.ope import run_ope, score_ope
from siamlightning.tracking.base import Tracker

log = logging.getLogger(__name__)


def _dist() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def open_benchmark(spec: Mapping[str, Any], base_dir: Path | None = None) -> SequenceIndex | None:
    """Open a benchmark config node; None (with a log line) when optional and missing."""
    root = spec.get("root")
    if root is not None:
        root = Path(str(root)).expanduser()
        if not root.is_absolute() and base_dir is not None:
            root = base_dir / root
        if not root.exists():
            if spec.get("required", True):
                raise FileNotFoundError(
                    f"benchmark {spec.get('name')!r}: root {root} does not exist"
                )
            log.warning("benchmark %r skipped: %s does not exist", spec.get("name"), root)
            return None
    # never from the index cache: a benchmark is small and a ground-truth file fixed in place
    # must be seen (the cache only notices changes near the dataset's top folder)
    options = dict(spec.get("options") or {})
    return open_dataset(spec["source"], root, spec.get("split"), cache=False, **options)


def compare(
    trackers: Mapping[str, Callable[[], Tracker]],
    benchmarks: Mapping[str, tuple[SequenceIndex, str]],
    out_dir: Path,
    *,
    progress: bool = True,
    score: bool = True,
    keep_trajectories: bool = False,
    layout: str = "otb",
    repetitions: int = 1,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Run every tracker on every benchmark; returns ``{benchmark: {tracker: report}}`` on rank 0
    (other ranks get ``{}``). Result files go to ``out_dir/results/<benchmark>/<tracker>/``.

    ``score=False`` skips scoring (ground truth withheld); ``keep_trajectories`` adds the
    gathered `SequenceResult`s under ``report["trajectories"]``. ``layout`` and ``repetitions``
    go to `run_ope` (e.g. ``"got10k"`` and 3 for GOT-10k)."""
    rank, world = _dist()
    reports: dict[str, dict[str, dict[str, Any]]] = {}
    for bname, (index, protocol) in benchmarks.items():
        for tname, factory in trackers.items():
            res_dir = out_dir / "results" / bname / tname
            local = run_ope(
                factory,
                index,
                res_dir,
                rank=rank,
                world_size=world,
                progress=progress and rank == 0,
                name=f"{tname} on {bname}",
                repetitions=repetitions,
                layout=layout,
            )
            if world > 1:
                gathered: list[Any] = [None] * world
                dist.all_gather_object(gathered, local)
                merged: dict[str, Any] = {}
                for part in gathered:
                    merged.update(part)
                local = merged
            if rank == 0:
                rep = score_ope(local, index, protocol=protocol) if score else {"overall": {}}
                if keep_trajectories or not score:
                    rep["trajectories"] = local
                reports.setdefault(bname, {})[tname] = rep
    return reports
