"""OPE runner: track every sequence from its frame-0 GT (once, or ``repetitions`` times as
GOT-10k asks), write result files, score them (overall and per sequence attribute).

Under DDP each rank runs `run_ope` on its own shard (``index.shard(rank, world_size)``, balanced
by frame count, no padding); then either every rank calls ``score_ope(..., gather=True)``, or the
caller gathers the trajectories (`siamlightning.evaluation.distributed.gather_results`) and
scores them on one rank.
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

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError
from siamlightning.evaluation.distributed import gather_results
from siamlightning.evaluation.lockstep import Job, run_job, run_lockstep
from siamlightning.evaluation.result import BenchmarkResult, Scores
from siamlightning.evaluation.result_files import SequenceResult, write_result
from siamlightning.metrics.ope import OPEProtocol, OPESummaryMetric, get_protocol, ope_targets
from siamlightning.tracking.base import Tracker

__all__ = [
    "SequenceResult",
    "ope_job",
    "run_id",
    "run_ope",
    "score_ope",
    "track_sequence",
]


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


def ope_job(tracker: Tracker, seq: Sequence, bar: tqdm | None = None) -> Job[SequenceResult]:
    """The OPE loop over ``seq`` as a `Job` (`siamlightning.evaluation.lockstep`): init on
    frame 0's GT, then one tracking request per frame 1..N-1 -> `SequenceResult`."""
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
        ((out, times[i]),) = yield [(tracker, image)]
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


def track_sequence(tracker: Tracker, seq: Sequence, bar: tqdm | None = None) -> SequenceResult:
    """Init ``tracker`` on frame 0's GT, track frames 1..N-1 -> boxes (N, 4), times (N,) seconds.

    Frame 0's box is the GT; ``times[0]`` is the init time. Timing wraps only the tracker calls
    (`time.perf_counter`), not the frame decoding.
    """
    return run_job(ope_job(tracker, seq, bar))


def _runs_job(
    factory: Callable[[], Tracker], seq: Sequence, repetitions: int, bar: tqdm | None
) -> Job[SequenceResult]:
    first = yield from ope_job(factory(), seq, bar)
    repeats: list[np.ndarray] = []
    for r in range(1, repetitions):
        again = yield from ope_job(factory(), seq, bar)
        if r == 1 and np.array_equal(again.boxes, first.boxes, equal_nan=True):
            if bar is not None:  # deterministic: the remaining runs would be identical too
                bar.update(len(seq) * (repetitions - 2))
            break
        repeats.append(again.boxes)
    first.repeats = tuple(repeats)
    return first


def run_ope(
    tracker_factory: Callable[[], Tracker],
    index: SequenceIndex,
    out_dir: str | Path | None = None,
    *,
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    name: str = "tracker",
    repetitions: int = 1,
    layout: str = "otb",
    batch_sequences: int = 1,
) -> dict[str, SequenceResult]:
    """Run OPE on this rank's shard with a fresh tracker per run -> {sequence name: result}.

    ``repetitions`` > 1 tracks each sequence again (GOT-10k: 3 runs, pooled when scored); when
    run 2 equals run 1 exactly the tracker is deterministic and the remaining runs are skipped,
    so only ``_001`` is written, as the GOT-10k toolkit does for deterministic trackers. When
    ``out_dir`` is given, each rank writes its own sequences in ``layout``: ``otb``
    (``<seq>.txt`` + ``times/<seq>_time.txt``; one run only) or ``got10k``
    (``<seq>/<seq>_00k.txt`` per run + ``<seq>/<seq>_time.txt``). ``batch_sequences`` > 1
    tracks that many sequences in lockstep, one batched network call per frame
    (`siamlightning.evaluation.lockstep`); the results are in the shard's order either way.
    """
    if repetitions < 1:
        raise ValueError(f"repetitions must be >= 1, got {repetitions}")
    if layout not in ("otb", "got10k"):
        raise ValueError(f"OPE result layout must be 'otb' or 'got10k', got {layout!r}")
    if layout == "otb" and repetitions > 1 and out_dir is not None:
        raise ValueError("the otb layout holds one run per sequence; use layout='got10k'")
    shard = index.shard(rank, world_size)
    results: dict[str, SequenceResult] = {}
    desc = f"OPE {name}" + (f" [rank {rank}/{world_size}]" if world_size > 1 else "")
    if batch_sequences > 1:
        desc += f" [{batch_sequences} at a time]"
    total = shard.num_frames * repetitions
    with tqdm(total=total, desc=desc, unit="frame", disable=not progress) as bar:
        jobs = ((seq.name, _runs_job(tracker_factory, seq, repetitions, bar)) for seq in shard)
        for seq_name, res in run_lockstep(jobs, batch_sequences):
            bar.set_postfix_str(seq_name, refresh=False)
            if out_dir is not None:
                for r, boxes in enumerate(res.runs):
                    times = res.times if r == 0 else None
                    write_result(out_dir, seq_name, boxes, layout=layout, run=r + 1, times=times)
            results[seq_name] = res
    return {seq.name: results[seq.name] for seq in shard}


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


_MASK63 = (1 << 63) - 1


def run_id(uid: int, run: int) -> int:
    """Row id of run ``run`` (0-based) of the sequence with `Sequence.uid` ``uid``."""
    return uid if run == 0 else (uid ^ ((run * 0x9E3779B97F4A7C15) & _MASK63)) & _MASK63


def _summary(metric: OPESummaryMetric) -> dict[str, Any]:
    with warnings.catch_warnings():  # no sequence to score: NaN scores, not a warning
        warnings.filterwarnings("ignore", message=".*compute.*before the ``update``")
        return {k: _item(v) for k, v in metric.compute().items()}


def _metric(proto: OPEProtocol, drop_empty_curves: bool) -> OPESummaryMetric:
    return OPESummaryMetric(proto, drop_empty_curves=drop_empty_curves, sync_on_compute=False)


def _attribute_scores(
    by_attr: Mapping[str, list[OPESummaryMetric]], proto: OPEProtocol, drop_empty_curves: bool
) -> dict[str, Scores]:
    """Per attribute code (sorted): the scores over the sequences that have it."""
    out: dict[str, Scores] = {}
    for code in sorted(by_attr):
        sub = _metric(proto, drop_empty_curves)
        for one in by_attr[code]:
            sub.merge_state(one)
        values = _summary(sub)
        values["num_sequences"] = len(by_attr[code])
        out[code] = Scores.from_summary(values)
    return out


def score_ope(
    results: Mapping[str, SequenceResult],
    index: SequenceIndex,
    protocol: str | OPEProtocol = "otb",
    *,
    drop_empty_curves: bool = False,
    gather: bool = False,
) -> BenchmarkResult:
    """Score trajectories against ``index``'s GT -> a `BenchmarkResult` of kind ``ope``.

    ``overall`` holds the protocol's values (success_auc, precision_20, ... or ao, sr50, sr75),
    its curves (success (21,), precision (51,)...) and the counts num_sequences, num_runs,
    num_frames and repaired_frames; ``fps`` is frames 1..N-1 over their summed tracker time;
    ``sequences`` maps each name to its values, num_frames, repaired_frames, fps (and num_runs
    when repeated). Repeated runs (`SequenceResult.repeats`) enter as further rows: frame-pooled
    protocols (GOT-10k) pool their frames, per-sequence-mean protocols average the runs.
    ``attributes`` maps each attribute code (sequences' ``meta["attributes"]``) to the scores
    over the sequences that have it. Only sequences present in ``results`` are scored. With
    ``gather=True`` and an initialised process group, every rank's results are merged first (a
    collective: call it on all ranks); by default nothing is communicated, so it may run on
    rank 0 alone after the caller gathered the results.
    """
    proto = get_protocol(protocol)
    if gather:
        results = gather_results(results)
    unknown = sorted(set(results) - set(index.names))
    if unknown:
        raise ValueError(f"results for sequences not in dataset {index.name!r}: {unknown[:5]}")
    metric = _metric(proto, drop_empty_curves)
    per_seq: dict[str, dict[str, float | int]] = {}
    scored: list[SequenceResult] = []
    by_attr: dict[str, list[OPESummaryMetric]] = {}
    runs = 0
    for seq in index:
        if seq.name not in results:
            continue
        res = results[seq.name]
        targets = ope_targets(seq)  # absent flags, image bounds, visibility for every protocol
        one = _metric(proto, drop_empty_curves=False)
        for r, boxes in enumerate(res.runs):
            try:
                one.update(boxes, **targets, seq_id=run_id(seq.uid, r))
            except ValueError as e:
                run = f" (run {r + 1})" if r else ""
                raise ValueError(f"sequence {seq.name!r}{run}: {e}") from e
        runs += len(res.runs)
        values = one.compute()
        metric.merge_state(one)  # the sequence's rows, not scored a second time
        for code in seq.meta.get("attributes") or ():
            by_attr.setdefault(str(code), []).append(one)
        scored.append(res)
        per_seq[seq.name] = {k: _item(values[k]) for k in _SEQUENCE_KEYS if k in values}
        per_seq[seq.name]["fps"] = res.fps
        if len(res.runs) > 1:
            per_seq[seq.name]["num_runs"] = len(res.runs)
    overall = _summary(metric)
    overall["num_sequences"] = len(scored)
    overall["num_runs"] = runs
    return BenchmarkResult(
        kind="ope",
        protocol=proto.name,
        overall=Scores.from_summary(overall),
        sequences=per_seq,
        attributes=_attribute_scores(by_attr, proto, drop_empty_curves),
        fps=_fps(scored),
    )
