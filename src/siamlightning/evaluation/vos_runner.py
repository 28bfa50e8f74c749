"""Semi-supervised VOS runner (DAVIS / YouTube-VOS), as foolwood/SiamMask's ``track_vos``.

Per video (spec siammask-and-vos.md §2): each object gets a fresh tracker (the network is
shared), initialised on its start frame (DAVIS: frame 0) with the box of its mask there,
``cv2.boundingRect`` -> ``(x, y, w, h)`` (a ``crop_convention="siammask"`` tracker then centres
at ``x + w / 2`` as SiamMask does; the others read the same whole-pixel box in their own
convention), and tracked to the last frame. Each frame's soft masks (`TrackResult.mask`; a
tracker without masks gives its box filled with 1) are fused into one label image:
``label = objects[argmax_k p_k] * (max_k p_k > threshold)``, with p = the ground-truth mask on
an object's start frame and -1 before it (so frame 0 of DAVIS is its ground truth). The
threshold is the tracker's ``mask_threshold`` unless given (0.5 for box masks).

Objects are tracked in lockstep, one frame at a time, which equals SiamMask's one full pass per
object (the trackers share nothing but the network) and holds one frame of masks per object.
Label PNGs go to ``<out>/<video>/<frame id>.png`` (``layout="davis"``) or
``<out>/Annotations/<video>/<frame id>.png`` (``"youtube_vos"``, the server's layout; see
`write_submission`). Under DDP each rank runs its shard (``index.shard``), as OPE does.
"""

from __future__ import annotations

import math
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError
from siamlightning.evaluation.lockstep import Job, run_job, run_lockstep
from siamlightning.evaluation.vos_videos import (
    VOSObject,
    read_labels,
    video_objects,
    vos_video,
    write_labels,
)
from siamlightning.tracking.base import Tracker, TrackResult

__all__ = [
    "LAYOUTS",
    "VOSRun",
    "box_mask",
    "fuse_labels",
    "run_vos",
    "track_video",
    "vos_fps",
    "write_submission",
]

LAYOUTS = ("davis", "youtube_vos")


@dataclass
class VOSRun:
    """One video: its objects, and the frames tracked (after init) with their tracker time."""

    name: str
    objects: tuple[VOSObject, ...]
    tracked: int = 0  # object-frames tracked (init frames excluded)
    seconds: float = 0.0  # time in `Tracker.track` over those object-frames


def box_mask(box: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float32: 1 on the pixels whose centre lies in box (x, y, w, h), else 0."""
    h, w = shape
    x, y, bw, bh = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    out = np.zeros((h, w), np.float32)
    if not all(math.isfinite(v) for v in (x, y, bw, bh)):
        return out
    c0, c1 = max(0, math.ceil(x - 0.5)), min(w, math.ceil(x + bw - 0.5))
    r0, r1 = max(0, math.ceil(y - 0.5)), min(h, math.ceil(y + bh - 0.5))
    out[r0:r1, c0:c1] = 1.0
    return out


def fuse_labels(probs: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    """Soft masks (K, H, W) of objects ``labels`` (K,) -> label image (H, W) uint8:
    the label of the most probable object where its probability exceeds ``threshold``, else 0
    (ties: the first object)."""
    if probs.shape[0] == 0:
        return np.zeros(probs.shape[1:], np.uint8)
    best = probs.argmax(axis=0)
    keep = probs.max(axis=0) > threshold
    return (np.asarray(labels, np.uint8)[best] * keep).astype(np.uint8)


def _probability(res: TrackResult, shape: tuple[int, int], seq: Sequence, i: int) -> np.ndarray:
    if res.mask is None:
        return box_mask(res.box, shape)
    mask = np.asarray(res.mask, dtype=np.float32)
    if mask.shape != shape:
        raise ValueError(
            f"sequence {seq.name!r} frame {i}: tracker mask is {mask.shape}, the frame {shape}"
        )
    return mask


def video_job(
    factory: Callable[[], Tracker],
    seq: Sequence,
    out_dir: str | Path | None,
    *,
    mask_threshold: float | None = None,
    box_out_dir: str | Path | None = None,
    bar: tqdm | None = None,
) -> Job[VOSRun]:
    """Every object of a VOS video as a `Job` (`siamlightning.evaluation.lockstep`): one
    request per tracked object and frame; writes ``<out_dir>/<frame id>.png`` label images,
    and with ``box_out_dir`` the same run's boxes filled as masks there (the "box" baseline)."""
    ids = vos_video(seq).frame_ids
    first = read_labels(seq, 0)
    objects = video_objects(seq, first)
    labels = np.array([o.label for o in objects], np.int64)
    trackers: list[Tracker | None] = [None] * len(objects)
    run = VOSRun(seq.name, objects)
    threshold = mask_threshold  # else the first tracker's
    for i in range(len(seq)):
        image = seq.read_frame(i)
        shape = image.shape[:2]
        probs = np.full((len(objects), *shape), -1.0, np.float32)
        boxes = probs.copy() if box_out_dir is not None else None
        gt = first if i == 0 else None
        tracked: list[int] = []
        for k, obj in enumerate(objects):
            if i == obj.start:
                gt = read_labels(seq, i) if gt is None else gt
                if gt is None or gt.shape != shape:
                    what = "no ground truth" if gt is None else f"ground truth of shape {gt.shape}"
                    raise DataError(
                        f"sequence {seq.name!r} frame {i} (object {obj.label}'s start): {what}, "
                        f"frame {shape}",
                        path=seq.masks[i] if seq.masks else None,
                    )
                mask = gt == obj.label
                if not mask.any():
                    warnings.warn(
                        f"sequence {seq.name!r}: object {obj.label} has no pixels on its start "
                        f"frame {ids[i]}; not tracked",
                        stacklevel=2,
                    )
                    continue
                tracker = factory()
                tracker.init(image, np.array(cv2.boundingRect(mask.astype(np.uint8)), float))
                if threshold is None:
                    threshold = float(getattr(tracker, "mask_threshold", 0.5))
                trackers[k] = tracker
                probs[k] = mask
                if boxes is not None:
                    boxes[k] = mask
            elif i > obj.start and trackers[k] is not None:
                tracked.append(k)
        if tracked:
            replies = yield [(trackers[k], image) for k in tracked]
            for k, (res, seconds) in zip(tracked, replies, strict=True):
                run.seconds += seconds
                run.tracked += 1
                probs[k] = _probability(res, shape, seq, i)
                if boxes is not None:
                    boxes[k] = box_mask(res.box, shape)
        if out_dir is not None:
            thr = 0.5 if threshold is None else threshold  # no tracker yet: masks are 0/1/-1
            write_labels(Path(out_dir) / f"{ids[i]}.png", fuse_labels(probs, labels, thr))
        if boxes is not None:  # 0 / 1 / -1: any threshold in [0, 1) fuses them alike
            write_labels(Path(box_out_dir) / f"{ids[i]}.png", fuse_labels(boxes, labels, 0.5))
        if bar is not None:
            bar.update(1)
    return run


def track_video(
    factory: Callable[[], Tracker],
    seq: Sequence,
    out_dir: str | Path | None,
    *,
    mask_threshold: float | None = None,
    bar: tqdm | None = None,
) -> VOSRun:
    """Track every object of a VOS video; write ``<out_dir>/<frame id>.png`` label images."""
    return run_job(video_job(factory, seq, out_dir, mask_threshold=mask_threshold, bar=bar))


def run_vos(
    factory: Callable[[], Tracker],
    index: SequenceIndex,
    out_dir: str | Path,
    *,
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    name: str = "tracker",
    layout: str = "davis",
    mask_threshold: float | None = None,
    batch_sequences: int = 1,
    box_out_dir: str | Path | None = None,
) -> dict[str, VOSRun]:
    """Track this rank's shard of a `vos_index` and write its label PNGs in ``layout``
    -> {video: `VOSRun`}. ``batch_sequences`` > 1 tracks that many videos in lockstep (their
    objects' crops in one batched network call per frame). ``box_out_dir``: also write the
    tracked boxes filled as masks there, in the same layout (the "box filled as a mask"
    baseline without tracking the videos again)."""
    if layout not in LAYOUTS:
        raise ValueError(f"VOS result layout must be one of {LAYOUTS}, got {layout!r}")
    sub = "Annotations" if layout == "youtube_vos" else ""
    root = Path(out_dir) / sub
    box_root = None if box_out_dir is None else Path(box_out_dir) / sub
    shard = index.shard(rank, world_size)
    desc = f"VOS {name}" + (f" [rank {rank}/{world_size}]" if world_size > 1 else "")
    runs: dict[str, VOSRun] = {}
    with tqdm(total=shard.num_frames, desc=desc, unit="frame", disable=not progress) as bar:
        jobs = (
            (
                seq.name,
                video_job(
                    factory,
                    seq,
                    root / seq.name,
                    mask_threshold=mask_threshold,
                    box_out_dir=None if box_root is None else box_root / seq.name,
                    bar=bar,
                ),
            )
            for seq in shard
        )
        for seq_name, run in run_lockstep(jobs, batch_sequences):
            bar.set_postfix_str(seq_name, refresh=False)
            runs[seq_name] = run
    return {seq.name: runs[seq.name] for seq in shard}


def vos_fps(runs: dict[str, VOSRun]) -> float:
    """Object-frames per second of tracking (init frames excluded); NaN when none was timed."""
    frames = sum(r.tracked for r in runs.values())
    seconds = sum(r.seconds for r in runs.values())
    return frames / seconds if frames and seconds > 0 else float("nan")


def write_submission(out_dir: str | Path) -> Path:
    """Zip ``<out_dir>/Annotations/`` (the YouTube-VOS server's layout) -> ``submission.zip``."""
    folder = Path(out_dir)
    ann = folder / "Annotations"
    path = folder / "submission.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for png in sorted(ann.rglob("*.png")):
            z.write(png, png.relative_to(folder).as_posix())
    return path
