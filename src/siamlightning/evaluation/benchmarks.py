"""A benchmark config (``conf/benchmark/*.yaml``) -> its dataset, runner and scorer.

``kind`` picks the experiment: ``ope`` (one pass from frame 0, scored by ``protocol``: otb,
lasot, got10k...), ``vot`` (reset-based, VOT2013-2019 ``baseline``, scored by ``year`` and
``variant``), ``vot_multistart`` (VOT2020+ anchors, scored by ``year`` / ``interval``) or
``vos`` (semi-supervised video object segmentation, DAVIS J&F: `vos_runner`, `vos_scoring`;
``layout``, ``mask_threshold``, ``mask_folder``). Both CLIs go through `run_benchmark` (track,
then score on rank 0) and ``siamlightning-eval results=...`` through `score_folder`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch.distributed as dist

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.errors import ConfigError
from siamlightning.evaluation.compare import compare
from siamlightning.evaluation.distributed import gather_results, rank_and_world
from siamlightning.evaluation.ope import score_ope
from siamlightning.evaluation.result import BENCHMARK_KINDS, BenchmarkKind, BenchmarkResult
from siamlightning.evaluation.result_files import read_results, write_trackingnet_submission
from siamlightning.evaluation.vos_runner import run_vos, vos_fps, write_submission
from siamlightning.evaluation.vos_scoring import score_vos_folder
from siamlightning.evaluation.vos_videos import vos_index
from siamlightning.evaluation.vot_anchor_runner import run_vot_multistart
from siamlightning.evaluation.vot_anchor_scoring import score_vot_multistart_folder
from siamlightning.evaluation.vot_reset_runner import run_vot
from siamlightning.evaluation.vot_reset_scoring import score_vot_folder
from siamlightning.tracking.base import Tracker

__all__ = [
    "benchmark_kind",
    "check_batch_sequences",
    "open_benchmark",
    "run_benchmark",
    "score_folder",
]

log = logging.getLogger(__name__)
Spec = Mapping[str, Any]  # a resolved benchmark config node


def benchmark_kind(spec: Spec) -> BenchmarkKind:
    """The spec's ``kind`` (``ope`` when absent); `ConfigError` for any other value."""
    kind = spec.get("kind") or "ope"
    if kind not in BENCHMARK_KINDS:
        raise ConfigError(
            f"benchmark {spec.get('name')!r}: kind {kind!r} is not one of {list(BENCHMARK_KINDS)}"
        )
    return kind  # type: ignore[return-value]


def open_benchmark(spec: Spec, base_dir: Path | None = None) -> SequenceIndex | None:
    """Open a benchmark config node; None (with a log line) when optional and missing. A ``vos``
    benchmark's index holds one sequence per video (`vos_index`)."""
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
    index = open_dataset(spec["source"], root, spec.get("split"), cache=False, **options)
    if benchmark_kind(spec) == "vos":
        return vos_index(index, mask_folder=spec.get("mask_folder"))
    return index


def score_folder(folder: Path, index: SequenceIndex, spec: Spec) -> BenchmarkResult:
    """Score the result files in ``folder`` by the benchmark's kind and protocol."""
    kind = benchmark_kind(spec)
    if kind == "vot_multistart":
        interval = spec.get("interval")
        result = score_vot_multistart_folder(
            folder, index, year=spec.get("year", 2020), interval=interval and tuple(interval)
        )
    elif kind == "vos":
        result = score_vos_folder(folder, index, protocol=spec.get("protocol", "davis2017"))
    elif kind == "vot":
        result = score_vot_folder(
            folder, index, year=spec.get("year", 2018), variant=spec.get("variant", "legacy")
        )
    else:
        result = score_ope(read_results(folder, index), index, protocol=spec.get("protocol", "otb"))
    return replace(result, benchmark=str(spec.get("name", "")))


def _run_vot(
    factory: Callable[[], Tracker], index: SequenceIndex, spec: Spec, res_dir: Path, **shard: Any
) -> None:
    if benchmark_kind(spec) == "vot_multistart":
        run_vot_multistart(factory, index, res_dir, output=spec.get("output", "auto"), **shard)
    else:
        run_vot(factory, index, res_dir, repetitions=int(spec.get("repetitions", 15)), **shard)


def check_batch_sequences(value: Any) -> int:
    """``evaluate.batch_sequences`` as an int >= 1; a `ConfigError` naming the value else."""
    try:
        k = int(value)
    except (TypeError, ValueError):
        k = 0
    if k < 1 or (isinstance(value, float) and not value.is_integer()) or isinstance(value, bool):
        raise ConfigError(
            f"evaluate.batch_sequences must be a whole number >= 1 (sequences tracked in "
            f"lockstep), got {value!r}"
        )
    return k


def _export_layout(result: BenchmarkResult, spec: Spec, folder: Path) -> None:
    """TrackingNet's submission zip; the note that withheld ground truth is scored elsewhere."""
    trajectories = result.trajectories or {}
    if spec.get("source") == "trackingnet" and trajectories:
        z = write_trackingnet_submission(
            folder / "submission", {n: r.boxes for n, r in trajectories.items()}
        )
        print(f"TrackingNet submission: {z}")
    if spec.get("gt_withheld") and trajectories:
        print(f"{spec['name']}: ground truth is withheld; submit the results in {folder}")


def run_benchmark(
    trackers: Mapping[str, Callable[[], Tracker]],
    index: SequenceIndex,
    spec: Spec,
    out_dir: Path,
    *,
    name: str | None = None,
    progress: bool = True,
    batch_sequences: int = 1,
    box_of: str | None = None,
) -> dict[str, BenchmarkResult]:
    """Run each tracker on the benchmark (this rank's shard, sequences split over the process
    group) and score it -> ``{tracker: result}`` on rank 0 (``{}`` elsewhere, and when the
    ground truth is withheld). Result files go to ``out_dir/results/<name>/<tracker>/``.
    ``batch_sequences`` sequences of the shard are tracked in lockstep, their crops in one
    batched network call per frame (`siamlightning.evaluation.lockstep`). ``box_of`` (VOS
    only): tracker ``box_of``'s boxes of the same run, filled as masks, are scored as tracker
    ``box``, after the others (its fps is that run's)."""
    batch_sequences = check_batch_sequences(batch_sequences)
    bench = name or str(spec["name"])
    kind = benchmark_kind(spec)
    if box_of is not None and (box_of not in trackers or "box" in trackers):
        raise ValueError(
            f"box_of={box_of!r} must name one of the trackers {sorted(trackers)}, "
            "and none of them may be called 'box' (the baseline's name)"
        )
    if kind == "ope":
        withheld = bool(spec.get("gt_withheld"))
        by_tracker = compare(
            trackers,
            {bench: (index, spec.get("protocol", "otb"))},
            out_dir,
            progress=progress,
            score=not withheld,
            layout="got10k" if spec.get("layout") == "got10k" else "otb",
            repetitions=int(spec.get("repetitions", 1)),
            batch_sequences=batch_sequences,
        ).get(bench, {})
        for tracker, result in by_tracker.items():
            _export_layout(result, spec, out_dir / "results" / bench / tracker)
        return {} if withheld else {t: replace(r, trajectories=None) for t, r in by_tracker.items()}
    rank, world = rank_and_world()
    out: dict[str, BenchmarkResult] = {}
    box_dir = out_dir / "results" / bench / "box" if kind == "vos" and box_of else None
    for tracker, factory in trackers.items():
        res_dir = out_dir / "results" / bench / tracker
        boxes_here = box_dir if tracker == box_of else None
        shard = {
            "rank": rank,
            "world_size": world,
            "progress": progress,
            "name": tracker,
            "batch_sequences": batch_sequences,
        }
        fps = None
        if kind == "vos":
            layout, threshold = spec.get("layout", "davis"), spec.get("mask_threshold")
            runs = run_vos(
                factory,
                index,
                res_dir,
                layout=layout,
                mask_threshold=threshold,
                box_out_dir=boxes_here,
                **shard,
            )
            fps = vos_fps(gather_results(runs))  # a collective
        else:
            _run_vot(factory, index, spec, res_dir, **shard)
        if world > 1:
            dist.barrier()
        dirs = [(tracker, res_dir)] + ([("box", boxes_here)] if boxes_here else [])
        for who, folder in dirs if rank == 0 else []:
            if kind == "vos" and spec.get("gt_withheld"):
                _vos_submission(spec, folder)
            else:
                result = score_folder(folder, index, spec)
                out[who] = replace(result, tracker=who, fps=result.fps if fps is None else fps)
    if "box" in out:  # after the others, as a baseline
        out["box"] = out.pop("box")
    return out


def _vos_submission(spec: Spec, res_dir: Path) -> None:
    """Withheld VOS ground truth (YouTube-VOS): zip the server's layout and say so."""
    where = write_submission(res_dir) if spec.get("layout") == "youtube_vos" else res_dir
    print(
        f"{spec['name']}: ground truth is withheld, NO LOCAL SCORE; submit {where} "
        "to the benchmark's server",
        flush=True,
    )
