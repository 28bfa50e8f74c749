"""Score a folder of DAVIS-layout label PNGs (semi-supervised J&F, davis2017-evaluation's rules).

Spec siammask-and-vos.md §3.1 and §3.5. Per video: the ground truth's void (255) is background
and not otherwise used; its objects are ids 1..max of frame 0 (binary videos: one object, any
non-zero pixel, and so is any non-zero result pixel, as the DAVIS 2016 code reads masks);
frames 1..N-2 are scored (first and last dropped). Results are ``<folder>/<video>/<frame
id>.png``, 2-D grey or palette PNGs; a result label above the video's object count is an error
naming the file, objects the results lack are empty masks. Per object: J and F per frame
(`siamlightning.metrics.vos`) and their Mean / Recall / Decay; overall: the means over all
objects of all videos (object-weighted) and J&F-Mean = (J-Mean + F-Mean) / 2 (`VOSMetric`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from siamlightning.data.core.masks import read_palette_png
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError
from siamlightning.evaluation.result import BenchmarkResult, Scores
from siamlightning.evaluation.vos_videos import read_labels, video_objects, vos_video
from siamlightning.metrics.vos import statistics
from siamlightning.metrics.vos_torchmetrics import VOSMetric

__all__ = ["GLOBAL_COLUMNS", "OBJECT_COLUMNS", "read_results", "score_vos_folder"]

# the console / metrics.json names of davis2017-evaluation's global and per-object columns
GLOBAL_COLUMNS = ("jf_mean", "j_mean", "j_recall", "j_decay", "f_mean", "f_recall", "f_decay")
OBJECT_COLUMNS = ("j_mean", "j_recall", "j_decay", "f_mean", "f_recall", "f_decay", "num_frames")


def read_results(
    folder: Path, seq: Sequence, frames: list[int], shape: tuple[int, int]
) -> np.ndarray:
    """Result labels (n, H, W) uint8 of frames ``frames`` of a video (binary videos: 0/1)."""
    ids = vos_video(seq).frame_ids
    out = np.zeros((len(frames), *shape), np.uint8)
    for k, i in enumerate(frames):
        path = folder / seq.name / f"{ids[i]}.png"
        if not path.is_file():
            raise DataError(f"no result for sequence {seq.name!r} frame {ids[i]}", path=path)
        labels = read_palette_png(path)
        if labels.shape != shape:
            raise DataError(
                f"sequence {seq.name!r}: result is {labels.shape[1]}x{labels.shape[0]} px, the "
                f"ground truth {shape[1]}x{shape[0]}",
                path=path,
            )
        out[k] = labels
    return (out > 0).astype(np.uint8) if vos_video(seq).binary else out


def _ground_truth(seq: Sequence, frames: list[int]) -> tuple[int, np.ndarray]:
    """(object count, labels (n, H, W) of ``frames``); DataError for a frame without any."""
    first = read_labels(seq, 0)
    n_gt = max((o.label for o in video_objects(seq, first)), default=0)
    assert first is not None  # video_objects raised otherwise
    gt = np.zeros((len(frames), *first.shape), np.uint8)
    for k, i in enumerate(frames):
        labels = read_labels(seq, i)
        if labels is None:
            raise DataError(
                f"sequence {seq.name!r} frame {vos_video(seq).frame_ids[i]} has no ground truth "
                "(withheld? a VOS benchmark scores every frame but the first and last)",
                path=seq.masks[i] if seq.masks else None,
            )
        gt[k] = labels
    return n_gt, gt


def _check_labels(folder: Path, seq: Sequence, res: np.ndarray, frames: list[int], n: int) -> None:
    top = int(res.max(initial=0))
    if top > n:
        k = int(np.argmax(res.reshape(len(frames), -1).max(axis=1)))
        path = folder / seq.name / f"{vos_video(seq).frame_ids[frames[k]]}.png"
        raise DataError(
            f"sequence {seq.name!r}: the results hold object label {top} but the ground truth has "
            f"{n} object(s) (max label of frame 0); labels must be 0..{n}",
            path=path,
        )


def score_vos_folder(
    folder: str | Path, index: SequenceIndex, *, protocol: str = "davis2017"
) -> BenchmarkResult:
    """Score ``folder``'s label PNGs against a `vos_index` -> a `BenchmarkResult` of kind vos.

    ``overall``: ``jf_mean``, ``j_mean``, ``j_recall``, ``j_decay``, ``f_mean``, ``f_recall``,
    ``f_decay`` and the counts ``num_objects``, ``num_sequences``, ``num_frames`` (scored video
    frames); ``sequences``: one row per object, named ``<video>_<id>`` as davis2017-evaluation's
    per-sequence table, with `OBJECT_COLUMNS` and ``jf_mean``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"VOS result folder {folder} does not exist")
    metric = VOSMetric(sync_on_compute=False)
    rows: dict[str, dict[str, float | int]] = {}
    scored = 0
    for seq in index:
        frames = list(range(1, len(seq) - 1))
        n_gt, gt = _ground_truth(seq, frames)
        res = read_results(folder, seq, frames, gt.shape[1:])
        _check_labels(folder, seq, res, frames, n_gt)
        scored += len(frames)
        for obj in range(1, n_gt + 1):
            j, f = metric.update_masks(res == obj, gt == obj, seq=seq.name, obj=obj)
            sj, sf = statistics(j), statistics(f)
            row = dict(zip(OBJECT_COLUMNS[:6], [*sj, *sf]))
            rows[f"{seq.name}_{obj}"] = {"jf_mean": (sj.mean + sf.mean) / 2, **row}
            rows[f"{seq.name}_{obj}"]["num_frames"] = len(frames)
    values: dict[str, float | int] = {
        k: (int(v) if v.dtype == torch.int64 else float(v)) for k, v in metric.compute().items()
    }
    values["num_sequences"] = len(index)
    values["num_frames"] = scored
    return BenchmarkResult(
        kind="vos", protocol=protocol, overall=Scores.from_summary(values), sequences=rows
    )
