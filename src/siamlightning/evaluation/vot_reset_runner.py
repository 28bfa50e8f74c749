"""VOT short-term reset-based runner (VOT2013-2019 "baseline" experiment, spec metrics.md §2.3).

Per run: initialise on the first frame with the ground truth (code 1); on every later frame
track, and when the rasterised overlap with the ground truth (bounded by the image) is <= 0,
write a failure (code 2) and re-initialise ``skip_initialize`` (5) frames later; frames in
between stay 0. Deterministic trackers stop after 3 identical runs, others run ``repetitions``
(15) times. Trajectories are written as ``baseline/<seq>/<seq>_NNN.txt``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources.vot import vot_init_box
from siamlightning.evaluation.lockstep import Job, run_job, run_lockstep
from siamlightning.metrics.raster import raster_overlap
from siamlightning.metrics.regions import FAILURE, INIT, UNKNOWN, Region, Special, write_regions
from siamlightning.tracking.base import Tracker


@dataclass
class VOTRun:
    """One run over one sequence: N regions (`Special` codes or arrays) and per-frame seconds."""

    regions: list[Region]
    times: np.ndarray


def _gt(seq: Sequence, i: int) -> np.ndarray:
    return seq.polygons[i] if seq.polygons is not None else seq.boxes[i]


def _init_box(seq: Sequence, i: int) -> np.ndarray:
    return vot_init_box(seq.polygons[i]) if seq.polygons is not None else seq.boxes[i]


def _same(a: VOTRun, b: VOTRun) -> bool:
    if len(a.regions) != len(b.regions):
        return False
    for ra, rb in zip(a.regions, b.regions, strict=True):
        if isinstance(ra, Special) or isinstance(rb, Special):
            if ra != rb:
                return False
        elif not np.array_equal(np.asarray(ra), np.asarray(rb)):
            return False
    return True


def vot_job(
    tracker: Tracker,
    seq: Sequence,
    *,
    skip_initialize: int = 5,
    failure_overlap: float = 0.0,
    bar: tqdm | None = None,
) -> Job[VOTRun]:
    """One reset-based run over ``seq`` as a `Job` (`siamlightning.evaluation.lockstep`)."""
    n = len(seq)
    regions: list[Region] = [Special(UNKNOWN)] * n
    times = np.full(n, np.nan)
    f, init_at, bounds = 0, 0, None
    while f < n:
        image = seq.read_frame(f)
        if bounds is None:
            bounds = (image.shape[1], image.shape[0])
        if f == init_at:
            tracker.init(image, _init_box(seq, f))
            regions[f] = Special(INIT)
        else:
            ((res, times[f]),) = yield [(tracker, image)]
            region = res.polygon if res.polygon is not None else np.asarray(res.box, float)
            if raster_overlap(region, _gt(seq, f), bounds) <= failure_overlap:
                regions[f] = Special(FAILURE)
                if bar is not None:
                    bar.update(min(skip_initialize, n - f))
                f = init_at = f + skip_initialize
                continue
            regions[f] = region
        if bar is not None:
            bar.update(1)
        f += 1
    return VOTRun(regions=regions, times=times)


def run_sequence(
    tracker: Tracker,
    seq: Sequence,
    *,
    skip_initialize: int = 5,
    failure_overlap: float = 0.0,
    bar: tqdm | None = None,
) -> VOTRun:
    """One reset-based run of ``tracker`` over ``seq`` (needs ``meta`` width/height or frames)."""
    return run_job(
        vot_job(
            tracker, seq, skip_initialize=skip_initialize, failure_overlap=failure_overlap, bar=bar
        )
    )


def _sequence_job(
    factory: Callable[[], Tracker],
    seq: Sequence,
    repetitions: int,
    deterministic_runs: int,
    skip_initialize: int,
    bar: tqdm | None,
) -> Job[list[VOTRun]]:
    """All runs of one sequence; a deterministic tracker stops after ``deterministic_runs``."""
    runs: list[VOTRun] = []
    for r in range(repetitions):
        runs.append((yield from vot_job(factory(), seq, skip_initialize=skip_initialize, bar=bar)))
        if r + 1 == deterministic_runs and all(_same(runs[0], x) for x in runs[1:]):
            if bar is not None:  # the remaining runs would be identical
                bar.update(len(seq) * (repetitions - deterministic_runs))
            break
    return runs


def run_vot(
    tracker_factory: Callable[[], Tracker],
    index: SequenceIndex,
    out_dir: Path | None,
    *,
    repetitions: int = 15,
    deterministic_runs: int = 3,
    skip_initialize: int = 5,
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    name: str = "tracker",
    batch_sequences: int = 1,
) -> dict[str, list[VOTRun]]:
    """Run the reset protocol on this rank's shard of ``index``; write trajectories if asked.
    ``batch_sequences`` > 1 tracks that many sequences in lockstep (one batched network call
    per frame)."""
    shard = index.shard(rank, world_size)
    out: dict[str, list[VOTRun]] = {}
    with tqdm(
        total=shard.num_frames * repetitions, desc=f"VOT {name}", unit="frame", disable=not progress
    ) as bar:
        jobs = (
            (
                seq.name,
                _sequence_job(
                    tracker_factory, seq, repetitions, deterministic_runs, skip_initialize, bar
                ),
            )
            for seq in shard
        )
        for seq_name, runs in run_lockstep(jobs, batch_sequences):
            out[seq_name] = runs
            if out_dir is not None:
                for k, run in enumerate(runs, start=1):
                    base = Path(out_dir) / "baseline" / seq_name
                    write_regions(base / f"{seq_name}_{k:03d}.txt", run.regions)
                    np.savetxt(base / f"{seq_name}_{k:03d}_time.value", run.times, fmt="%.6f")
    return {seq.name: out[seq.name] for seq in shard}
