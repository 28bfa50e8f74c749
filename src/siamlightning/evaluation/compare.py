"""Run several trackers on one or more OPE benchmarks (the quick-start table).

Sequences are sharded across DDP ranks; each rank tracks its shard, the trajectories are
gathered on every rank and rank 0 scores them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.evaluation.distributed import gather_results, rank_and_world
from siamlightning.evaluation.ope import run_ope, score_ope
from siamlightning.evaluation.result import BenchmarkResult, Results, Scores
from siamlightning.tracking.base import Tracker

__all__ = ["compare"]


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
    batch_sequences: int = 1,
) -> Results:
    """Run every tracker on every ``{name: (index, protocol)}``; returns ``{benchmark: {tracker:
    result}}`` on rank 0 (other ranks get ``{}``). Result files go to
    ``out_dir/results/<benchmark>/<tracker>/``.

    ``score=False`` skips scoring (ground truth withheld: empty scores); ``keep_trajectories``
    (implied by ``score=False``) keeps the gathered `SequenceResult`s in
    `BenchmarkResult.trajectories`. ``layout`` and ``repetitions`` go to `run_ope` (e.g.
    ``"got10k"`` and 3 for GOT-10k) and ``batch_sequences`` (sequences tracked in lockstep)."""
    rank, world = rank_and_world()
    results: Results = {}
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
                batch_sequences=batch_sequences,
            )
            local = gather_results(local)
            if rank != 0:
                continue
            if score:
                result = score_ope(local, index, protocol=protocol)
            else:
                result = BenchmarkResult(kind="ope", protocol=str(protocol), overall=Scores())
            keep = local if keep_trajectories or not score else None
            result = replace(result, benchmark=bname, tracker=tname, trajectories=keep)
            results.setdefault(bname, {})[tname] = result
    return results
