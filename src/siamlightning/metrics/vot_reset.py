"""VOT reset-based (VOT2016-2019 "baseline") accuracy and robustness, spec §2.3-2.4.

Per sequence the inputs are ``overlaps (R, N)`` and ``codes (R, N)`` for its R runs (repetitions)
of N frames; codes are `REGION` (-1) for a reported region, 0 unknown, 1 initialisation,
2 failure (`siamlightning.metrics.regions`). Special frames count as NaN overlaps. ``variant``
picks the toolkit (see `vot_eao` for EAO): ``"legacy"`` VOT MATLAB toolkit (default) and
``"pysot"`` (same A/R numbers) pool accuracy over all frames; ``"votpy"`` (votchallenge python
toolkit) weights per-sequence accuracies by sequence length.

`trajectory_overlaps` turns a trajectory file's regions plus the GT into those per-frame
overlaps, with the image bounds each toolkit uses for A/R and for EAO.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from siamlightning.errors import DataError
from siamlightning.metrics.raster import Convention, raster_overlaps
from siamlightning.metrics.regions import (
    FAILURE,
    INIT,
    REGION,
    Region,
    read_regions,
    region_codes,
)
from siamlightning.metrics.vot_codes import check_reset_codes
from siamlightning.metrics.vot_eao import Variant, _check_variant

log = logging.getLogger(__name__)

__all__ = [
    "accuracy",
    "ar_summary",
    "average_failures",
    "burnin_mask",
    "failures_per_run",
    "normalized_failures",
    "overlap_bounds",
    "pysot_groundtruth",
    "pysot_robustness",
    "read_runs",
    "trajectory_overlaps",
]

Purpose = Literal["ar", "eao"]


def _pair(overlaps: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    o = np.atleast_2d(np.asarray(overlaps, dtype=np.float64))
    c = np.atleast_2d(np.asarray(codes)).astype(np.int64)
    if o.shape != c.shape:
        raise ValueError(f"overlaps {o.shape} but codes {c.shape}")
    return o, c


def burnin_mask(codes: np.ndarray, burnin: int = 10) -> np.ndarray:
    """Codes (R, N) -> (R, N) bool: frames that count for accuracy (regions outside the
    ``burnin`` frames that start at every initialisation, the init frame included)."""
    c = np.atleast_2d(np.asarray(codes))
    inits = np.cumsum(c == INIT, axis=1)
    shifted = np.zeros_like(inits)
    if burnin > 0:
        shifted[:, burnin:] = inits[:, :-burnin] if burnin < c.shape[1] else 0
        in_burnin = inits - shifted > 0
    else:
        in_burnin = np.zeros(c.shape, dtype=bool)
    return (c == REGION) & ~in_burnin


def failures_per_run(codes: np.ndarray) -> np.ndarray:
    """Codes (R, N) -> failures of each run (R,) int64: the number of code-2 frames."""
    return (np.atleast_2d(np.asarray(codes)) == FAILURE).sum(axis=1)


def _seq_failures(codes: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    mean = np.array([failures_per_run(c).mean() for c in codes], dtype=np.float64)
    frames = np.array([np.atleast_2d(np.asarray(c)).shape[1] for c in codes], dtype=np.float64)
    return mean, frames


def average_failures(codes: Sequence[np.ndarray]) -> float:
    """Per sequence codes (R, N) -> mean over runs of the failures summed over sequences.

    VOT MATLAB ``average_failures`` (a missing run counts as its sequence's mean), pysot's
    "Lost Number"; with unequal run counts this is the sum of per-sequence run means."""
    mean, _ = _seq_failures(codes)
    return float(mean.sum())


def normalized_failures(codes: Sequence[np.ndarray]) -> float:
    """Per sequence codes (R, N) -> `average_failures` / total frames (MATLAB ``normalized``)."""
    mean, frames = _seq_failures(codes)
    return float(mean.sum() / frames.sum()) if frames.sum() else float("nan")


def pysot_robustness(codes: Sequence[np.ndarray]) -> float:
    """Per sequence codes (R, N) -> pysot's "Robustness": failures per 100 frames."""
    return 100.0 * normalized_failures(codes)


def accuracy(
    overlaps: Sequence[np.ndarray],
    codes: Sequence[np.ndarray],
    burnin: int = 10,
    *,
    variant: Variant = "legacy",
) -> float:
    """Per sequence overlaps (R, N), codes (R, N) -> accuracy (average overlap after burn-in).

    legacy/pysot: per-frame mean over runs, then the mean over all valid frames of all
    sequences (0 if none); votpy: per run the mean over its valid frames (0 if none), the mean
    over runs, then the sequence-length-weighted mean."""
    _check_variant(variant)
    if len(overlaps) != len(codes):
        raise ValueError(f"{len(overlaps)} overlap arrays for {len(codes)} code arrays")
    if variant == "votpy":
        acc, weight = [], []
        for o, c in zip(overlaps, codes):
            o, c = _pair(o, c)
            valid = burnin_mask(c, burnin)
            n = valid.sum(axis=1)
            per_run = np.where(n > 0, np.where(valid, o, 0.0).sum(axis=1) / np.maximum(n, 1), 0)
            acc.append(per_run.mean())
            weight.append(o.shape[1])
        w = np.asarray(weight, dtype=np.float64)
        return float((np.asarray(acc) * w).sum() / w.sum()) if w.sum() else float("nan")
    total, count = 0.0, 0
    for o, c in zip(overlaps, codes):
        o, c = _pair(o, c)
        valid = burnin_mask(c, burnin) & ~np.isnan(o)
        n = valid.sum(axis=0)
        frame = np.where(valid, o, 0.0).sum(axis=0)[n > 0] / n[n > 0]
        total, count = total + frame.sum(), count + frame.size
    return total / count if count else 0.0


def ar_summary(
    overlaps: Sequence[np.ndarray],
    codes: Sequence[np.ndarray],
    *,
    burnin: int = 10,
    variant: Variant = "legacy",
    sensitivity: float = 30.0,
) -> dict[str, float]:
    """Per sequence overlaps (R, N), codes (R, N) -> every accuracy/robustness number.

    Keys: ``accuracy`` (per ``variant``), ``average_failures``, ``normalized_failures``,
    ``robustness`` (pysot, per 100 frames), ``mean_failures`` (votpy: length-weighted mean of
    per-sequence failures), ``ar_robustness`` (votpy: exp(-sensitivity * F / mean length)),
    ``num_sequences``, ``num_frames``."""
    mean, frames = _seq_failures(codes)
    weighted = float((mean * frames).sum() / frames.sum()) if frames.sum() else float("nan")
    mean_length = float(frames.mean()) if frames.size else float("nan")
    return {
        "accuracy": accuracy(overlaps, codes, burnin=burnin, variant=variant),
        "average_failures": float(mean.sum()),
        "normalized_failures": normalized_failures(codes),
        "robustness": pysot_robustness(codes),
        "mean_failures": weighted,
        "ar_robustness": float(np.exp(-sensitivity * weighted / mean_length)),
        "num_sequences": float(len(codes)),
        "num_frames": float(frames.sum()),
    }


def overlap_bounds(
    image_size: tuple[int, int],
    *,
    purpose: Purpose = "eao",
    variant: Variant = "legacy",
    convention: Convention = "vot",
) -> tuple[int, int]:
    """Image (W, H) -> the ``bounds`` argument of `raster_overlaps` that clips like the toolkit.

    EAO clips to [0, W-1] x [0, H-1] (MATLAB ``[w h] - 1``, pysot ``(W-1, H-1)``, python
    toolkit ``(W, H)``). A/R clips to [0, W] x [0, H] in MATLAB (``BindWithin [w h]``) and pysot
    (``(W, H)``), to [0, W-1] x [0, H-1] in the python toolkit. The ``"vot"`` raster convention
    takes the exclusive size, ``"pysot"`` the inclusive last pixel."""
    _check_variant(variant)
    w, h = int(image_size[0]), int(image_size[1])
    last = (w - 1, h - 1) if purpose == "eao" or variant == "votpy" else (w, h)
    return (last[0] + 1, last[1] + 1) if convention == "vot" else last


def pysot_groundtruth(boxes: np.ndarray, polygons: np.ndarray | None) -> list[np.ndarray]:
    """GT boxes (N, 4) and polygons (N, 8) -> the regions pysot's toolkit rasterises (N,).

    The VOT readers turn a 4-value GT line ``x, y, w, h`` into the polygon with corners
    x..x+w-1 (`siamlightning.data.sources.vot`); pysot's ``vot_overlap`` rasterises the rectangle
    itself as the polygon x..x+w, one pixel wider. So a frame whose polygon is exactly that
    x..x+w-1 polygon of its box is given as the (4,) rectangle, any other as its (8,) polygon."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if polygons is None:
        return list(b)
    p = np.asarray(polygons, dtype=np.float64).reshape(-1, 8)
    x, y, x2, y2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2] - 1, b[:, 1] + b[:, 3] - 1
    from_rect = (p == np.stack([x, y, x2, y, x2, y2, x, y2], axis=1)).all(axis=1)
    return [b[i] if from_rect[i] else p[i] for i in range(len(p))]


def trajectory_overlaps(
    trajectory: Sequence[Region],
    groundtruth: Sequence[Region],
    image_size: tuple[int, int],
    *,
    purpose: Purpose = "eao",
    variant: Variant = "legacy",
    convention: Convention | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One run's regions (N,) and GT regions (N,) -> overlaps (N,) float64 (NaN at special
    frames) and codes (N,) int8. The raster convention defaults to ``"pysot"`` for the pysot
    variant and ``"vot"`` otherwise; see `overlap_bounds` for the image bounds."""
    if len(trajectory) != len(groundtruth):
        raise ValueError(f"{len(trajectory)} trajectory regions for {len(groundtruth)} GT regions")
    conv: Convention = convention or ("pysot" if variant == "pysot" else "vot")
    codes = region_codes(trajectory)
    frames = np.flatnonzero(codes == REGION)
    bounds = overlap_bounds(image_size, purpose=purpose, variant=variant, convention=conv)
    out = np.full(len(trajectory), np.nan)
    out[frames] = raster_overlaps(
        [trajectory[i] for i in frames], [groundtruth[i] for i in frames], bounds, convention=conv
    )
    return out, codes


def _deterministic(runs: list[list[Region]], size: tuple[int, int], conv: Convention) -> bool:
    """MATLAB ``is_deterministic``: runs 2, 3 report regions on the same frames as run 1, with
    overlap > 0.999 there (EAO bounds)."""
    codes = [region_codes(r) for r in runs]
    frames = np.flatnonzero(codes[0] == REGION)
    bounds = overlap_bounds(size, purpose="eao", convention=conv)
    for run, c in zip(runs[1:], codes[1:]):
        if not np.array_equal(c == REGION, codes[0] == REGION):
            return False
        first, other = [runs[0][i] for i in frames], [run[i] for i in frames]
        if not (raster_overlaps(first, other, bounds, convention=conv) > 0.999).all():
            return False
    return True


def read_runs(
    directory: str | Path,
    groundtruth: Sequence[Region],
    image_size: tuple[int, int],
    *,
    purpose: Purpose = "eao",
    variant: Variant = "legacy",
    convention: Convention | None = None,
    files: Sequence[str | Path] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``baseline/<seq>/`` with ``<seq>_001.txt``... -> overlaps (R, N), codes (R, N).

    ``files``: the run files in run order when their names differ from the folder's (e.g.
    ``Bag/bag_001.txt``); default ``<directory>/<its name>_NNN.txt``. Which runs count follows the
    toolkit: legacy keeps only the first 3 when they are identical (``is_deterministic``), pysot
    uses all 15 files only when exactly 15 exist, else the first."""
    folder = Path(directory)
    if files is None:
        files = sorted(folder.glob(f"{folder.name}_[0-9][0-9][0-9].txt"))
    files = [Path(f) for f in files]
    if not files:
        raise DataError(f"no {folder.name}_NNN.txt trajectory files", path=folder)
    if variant == "pysot" and len(files) != 15:
        files = files[:1]
    runs = [read_regions(f) for f in files]
    nan_frames = []
    for f, run in zip(files, runs):
        if len(run) != len(groundtruth):
            raise DataError(
                f"{len(run)} lines but the sequence has {len(groundtruth)} frames", path=f
            )
        nan_frames.append(check_reset_codes(run, path=f))
        if nan_frames[-1]:
            log.warning(
                "%s:%d: %d region(s) with NaN values while tracking, scored as overlap 0 "
                "(as pysot's toolkit does)",
                f,
                nan_frames[-1][0] + 1,
                len(nan_frames[-1]),
            )
    conv: Convention = convention or ("pysot" if variant == "pysot" else "vot")
    if variant == "legacy" and len(runs) > 3 and _deterministic(runs[:3], image_size, conv):
        runs = runs[:3]
    per_run = [
        trajectory_overlaps(
            run, groundtruth, image_size, purpose=purpose, variant=variant, convention=conv
        )
        for run in runs
    ]
    overlaps, codes = np.stack([o for o, _ in per_run]), np.stack([c for _, c in per_run])
    for r, frames in enumerate(nan_frames[: len(runs)]):
        overlaps[r, frames], codes[r, frames] = 0.0, REGION
    return overlaps, codes
