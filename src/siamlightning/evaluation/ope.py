"""OPE runner: track every sequence once from its frame-0 GT, write result files, score them.

Under DDP each rank runs `run_ope` on its own shard (``index.shard(rank, world_size)``, balanced
by frame count, no padding); then either every rank calls ``score_ope(..., gather=True)``, or the
caller gathers the trajectories (`gather_results`) and scores them on one rank.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from siamlightning.data.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError
from siamlightning.evaluation.results import (
    SequenceResult,
    box_file,
    time_file,
    write_ope_result,
    write_times,
)
from siamlightning.metrics.ope import OPEMetrics, OPEProtocol, get_protocol, ope_targets
from siamlightning.tracking.base import Tracker

__all__ = ["SequenceResult", "gather_results", "run_ope", "score_ope", "track_sequence"]


def _init_box(seq: Sequence) -> np.ndarray:
    box = np.asarray(seq.boxes[0], dtype=np.float64)
    if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
        raise DataError(
            f"sequence {seq.name!r}: frame 0 ground truth {box.tolist()} is not a valid box "
            "(OPE initialises on frame 0 and needs finite x,y,w,h with w, h > 0)",
            path=seq.meta.get("annotation_file"),
            line=1 if seq.meta.get("annotation_file") else None,
        )
    return box


def track_sequence(tracker: Tracker, seq: Sequence, bar: tqdm | None = None) -> SequenceResult:
    """Init ``tracker`` on frame 0's GT, track frames 1..N-1 -> boxes (N, 4), times (N,) seconds.

    Frame 0's box is the GT; ``times[0]`` is the init time. Timing wraps only the tracker calls
    (`time.perf_counter`), not the frame decoding.
    """
    n = len(seq)
    init = _init_box(seq)
    boxes = np.empty((n, 4), dtype=np.float64)
    times = np.empty(n, dtype=np.float64)
    image = seq.read_frame(0)
    t0 = time.perf_counter()
    tracker.init(image, init.copy())
    times[0] = time.perf_counter() - t0
    boxes[0] = init
    if bar is not None:
        bar.update(1)
    for i in range(1, n):
        image = seq.read_frame(i)
        t0 = time.perf_counter()
        out = tracker.track(image)
        times[i] = time.perf_counter() - t0
        box = np.asarray(out.box, dtype=np.float64).reshape(-1)
        if box.shape != (4,):
            raise ValueError(
                f"sequence {seq.name!r} frame {i}: tracker returned {box.size} values, "
                "expected a box x,y,w,h"
            )
        boxes[i] = box
        if bar is not None:
            bar.update(1)
    return SequenceResult(name=seq.name, boxes=boxes, times=times, uid=seq.uid)


def run_ope(
    tracker_factory: Callable[[], Tracker],
    index: SequenceIndex,
    out_dir: str | Path | None = None,
    *,
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    name: str = "tracker",
) -> dict[str, SequenceResult]:
    """Run OPE on this rank's shard with a fresh tracker per sequence -> {sequence name: result}.

    When ``out_dir`` is given, writes ``<out_dir>/<seq>.txt`` and ``<out_dir>/times/<seq>_time.txt``
    (each rank writes only its own sequences).
    """
    shard = index.shard(rank, world_size)
    results: dict[str, SequenceResult] = {}
    desc = f"OPE {name}" + (f" [rank {rank}/{world_size}]" if world_size > 1 else "")
    with tqdm(total=shard.num_frames, desc=desc, unit="frame", disable=not progress) as bar:
        for seq in shard:
            bar.set_postfix_str(seq.name, refresh=False)
            res = track_sequence(tracker_factory(), seq, bar)
            if out_dir is not None:
                write_ope_result(box_file(out_dir, seq.name), res.boxes)
                write_times(time_file(out_dir, seq.name), res.times)
            results[seq.name] = res
    return results


def gather_results(results: Mapping[str, SequenceResult]) -> dict[str, SequenceResult]:
    """Merge every rank's results (all_gather_object; first copy of a name wins) on all ranks."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return dict(results)
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, dict(results))
    merged: dict[str, SequenceResult] = {}
    for part in parts:
        for key, value in part.items():
            merged.setdefault(key, value)
    return merged


def _fps(results: list[SequenceResult]) -> float:
    timed = [r.times[1:] for r in results if np.isfinite(r.times[1:]).all()]
    frames = sum(len(t) for t in timed)
    seconds = sum(float(t.sum()) for t in timed)
    return frames / seconds if frames > 0 and seconds > 0 else float("nan")


def _item(x: torch.Tensor) -> float | int | list[float]:
    if x.ndim > 0:
        return x.tolist()
    return int(x) if not x.is_floating_point() else float(x)


_SEQUENCE_KEYS = (
    "success_auc",
    "precision_20",
    "norm_precision_20",
    "ao",
    "sr50",
    "sr75",
    "num_frames",
    "repaired_frames",
)


def score_ope(
    results: Mapping[str, SequenceResult],
    index: SequenceIndex,
    protocol: str | OPEProtocol = "otb",
    *,
    drop_empty_curves: bool = False,
    gather: bool = False,
) -> dict[str, Any]:
    """Score trajectories against ``index``'s GT -> {"protocol", "fps", "overall", "sequences"}.

    ``overall`` holds success_auc, precision_20, fps (frames 1..N-1 over their summed tracker
    time), success_curve (21,), precision_curve (51,), num_sequences, num_frames and
    repaired_frames; ``sequences`` maps each name to its success_auc, precision_20, fps,
    num_frames and repaired_frames; ``fps`` repeats ``overall["fps"]``. Only sequences present in
    ``results`` are scored. With ``gather=True`` and an initialised process group, every rank's
    results are merged first (a collective: call it on all ranks); by default nothing is
    communicated, so it may run on rank 0 alone after the caller gathered the results.
    """
    proto = get_protocol(protocol)
    if gather:
        results = gather_results(results)
    unknown = sorted(set(results) - set(index.names))
    if unknown:
        raise ValueError(f"results for sequences not in dataset {index.name!r}: {unknown[:5]}")
    metric = OPEMetrics(proto, drop_empty_curves=drop_empty_curves, sync_on_compute=False)
    per_seq: dict[str, dict[str, float | int]] = {}
    scored: list[SequenceResult] = []
    for seq in index:
        if seq.name not in results:
            continue
        res = results[seq.name]
        targets = ope_targets(seq)  # absent flags, image bounds, visibility for every protocol
        one = OPEMetrics(proto, drop_empty_curves=False, sync_on_compute=False)
        try:
            one.update(res.boxes, **targets, seq_id=seq.uid)
        except ValueError as e:
            raise ValueError(f"sequence {seq.name!r}: {e}") from e
        values = one.compute()
        metric.merge_state(one)  # the sequence's rows, not scored a second time
        scored.append(res)
        per_seq[seq.name] = {k: _item(values[k]) for k in _SEQUENCE_KEYS if k in values}
        per_seq[seq.name]["fps"] = res.fps
    with warnings.catch_warnings():  # no sequence to score: NaN scores, not a warning
        warnings.filterwarnings("ignore", message=".*compute.*before the ``update``")
        summary = metric.compute()
    overall: dict[str, Any] = {k: _item(v) for k, v in summary.items()}
    overall["fps"] = _fps(scored)
    return {"protocol": proto.name, "fps": overall["fps"], "overall": overall, "sequences": per_seq}
