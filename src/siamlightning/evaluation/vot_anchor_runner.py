"""VOT2020+ anchor-based ("multistart") experiment: the runner (spec metrics.md §2.6).

Runs follow votchallenge ``experiment/multistart.py``: for each anchor of ``anchor.value``
(``meta["values"]["anchor"]``; > 0 forward, < 0 backward) a fresh tracker is initialised on the
anchor frame's ground truth and run to the last frame, or back to frame 0 (frames fed in reverse
order), without resets. A sequence without anchors runs once, forward from frame 0 (the toolkit
refuses it). Each run is written in the toolkit's results layout,
``<folder>/baseline/<seq>/<seq>_<anchor:08d>.txt`` (line k = k-th frame of the run, ``1`` on the
anchor frame) plus ``..._time.value`` (seconds per frame, init included). Which runs exist and how
they are scored: `vot_anchor_scoring`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources.vot import vot_init_box
from siamlightning.errors import DataError
from siamlightning.evaluation.lockstep import Job, run_job, run_lockstep
from siamlightning.evaluation.vot_anchor_scoring import (
    anchor_frames,
    groundtruth_regions,
    sequence_anchors,
)
from siamlightning.metrics.regions import INIT, UNKNOWN, Mask, Region, Special, write_regions
from siamlightning.tracking.base import Tracker, TrackResult

__all__ = ["AnchorRun", "anchor_job", "run_anchor", "run_vot_multistart"]

Output = Literal["auto", "mask", "polygon", "box"]


@dataclass
class AnchorRun:
    """One run from ``anchor``: regions (L,) in run order (frame 0 = `Special(1)`), seconds (L,)."""

    anchor: int
    reverse: bool
    regions: list[Region]
    times: np.ndarray


def _init_box(seq: Sequence, frame: int, region: Region) -> np.ndarray:
    """Init box (4,): a rectangle as is, a 4-point polygon via `vot_init_box`, else its bbox."""
    if isinstance(region, np.ndarray) and region.size in (4, 8):
        box = region if region.size == 4 else vot_init_box(region)
    else:
        box = seq.boxes[frame]  # masks: the reader's tight bounding box
    if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
        where = seq.meta.get("gt_regions_file") or seq.meta.get("annotation_file")
        raise DataError(
            f"sequence {seq.name!r}: no target to initialise on at frame {frame}", path=where
        )
    return np.asarray(box, dtype=np.float64)


def _output(res: TrackResult, tracker: Tracker, output: Output) -> Region:
    """The region to record: the binary mask, the polygon or the box (``auto``: the first given)."""
    if output in ("auto", "mask") and res.mask is not None:
        m = (
            res.mask
            if res.mask.dtype == bool
            else res.mask > getattr(tracker, "mask_threshold", 0.5)
        )
        if m.any():
            return Mask.from_image(m)
    if output in ("auto", "polygon", "mask") and res.polygon is not None:
        return np.asarray(res.polygon, dtype=np.float64)
    return np.asarray(res.box, dtype=np.float64)


def anchor_job(
    tracker: Tracker,
    seq: Sequence,
    anchor: int,
    reverse: bool,
    init_box: np.ndarray,
    *,
    output: Output = "auto",
    bar: tqdm | None = None,
) -> Job[AnchorRun]:
    """One anchor's run as a `Job` (`siamlightning.evaluation.lockstep`)."""
    frames = anchor_frames(anchor, reverse, len(seq))
    regions: list[Region] = [Special(INIT)] + [Special(UNKNOWN)] * (frames.size - 1)
    times = np.zeros(frames.size)
    for k, f in enumerate(frames):
        image = seq.read_frame(int(f))
        if k == 0:
            t0 = time.perf_counter()
            tracker.init(image, init_box)
            times[k] = time.perf_counter() - t0
        else:
            ((res, times[k]),) = yield [(tracker, image)]
            regions[k] = _output(res, tracker, output)
        if bar is not None:
            bar.update(1)
    return AnchorRun(anchor=anchor, reverse=reverse, regions=regions, times=times)


def run_anchor(
    tracker: Tracker,
    seq: Sequence,
    anchor: int,
    reverse: bool,
    init_box: np.ndarray,
    *,
    output: Output = "auto",
    bar: tqdm | None = None,
) -> AnchorRun:
    """Initialise ``tracker`` on frame ``anchor`` and run to the end (or back to frame 0)."""
    return run_job(anchor_job(tracker, seq, anchor, reverse, init_box, output=output, bar=bar))


def _sequence_job(
    factory: Callable[[], Tracker],
    seq: Sequence,
    anchors: list[tuple[int, bool]],
    output: Output,
    bar: tqdm | None,
) -> Job[list[AnchorRun]]:
    gt = groundtruth_regions(seq)
    runs = []
    for a, r in anchors:
        box = _init_box(seq, a, gt[a])
        runs.append((yield from anchor_job(factory(), seq, a, r, box, output=output, bar=bar)))
    return runs


def run_vot_multistart(
    tracker_factory: Callable[[], Tracker],
    index: SequenceIndex,
    out_dir: Path | None,
    *,
    output: Output = "auto",
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    name: str = "tracker",
    batch_sequences: int = 1,
) -> dict[str, list[AnchorRun]]:
    """Run every anchor of this rank's shard of ``index``; write the trajectories if asked.
    ``batch_sequences`` > 1 tracks that many sequences in lockstep (one batched network call
    per frame)."""
    shard = index.shard(rank, world_size)
    plan = [(seq, sequence_anchors(seq)) for seq in shard]
    total = sum(anchor_frames(a, r, len(s)).size for s, anchors in plan for a, r in anchors)
    out: dict[str, list[AnchorRun]] = {}
    with tqdm(total=total, desc=f"VOT anchors {name}", unit="frame", disable=not progress) as bar:
        jobs = (
            (seq.name, _sequence_job(tracker_factory, seq, anchors, output, bar))
            for seq, anchors in plan
        )
        for seq_name, runs in run_lockstep(jobs, batch_sequences):
            out[seq_name] = runs
            if out_dir is None:
                continue
            base = Path(out_dir) / "baseline" / seq_name
            for run in runs:
                stem = f"{seq_name}_{run.anchor:08d}"
                write_regions(base / f"{stem}.txt", run.regions)
                np.savetxt(base / f"{stem}_time.value", run.times, fmt="%.6f")
    return {seq.name: out[seq.name] for seq, _ in plan}
