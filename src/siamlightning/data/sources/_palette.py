"""Indexed (palette) PNG annotations of the VOS datasets: object ids, per-object boxes and masks.

In YouTube-VOS and DAVIS 2017 a pixel's palette *index* is its object id (0 = background).
OpenCV cannot read those ids: ``cv2.imread(p, cv2.IMREAD_UNCHANGED)`` expands a palette PNG to
its BGR colours (H, W, 3), and ``IMREAD_GRAYSCALE`` mixes the colours into luma. Pillow (always
installed: matplotlib depends on it) returns the indices unchanged, so it decodes here. 8-bit
grayscale PNGs (DAVIS 2016's binary 0/255 masks) come back as their gray values.

Box convention (pytracking's ``masks_to_bboxes(fmt='t')``): an object covering columns
``c0..c1`` and rows ``r0..r1`` (inclusive) has ``x = c0, y = r0, w = c1 - c0 + 1,
h = r1 - r0 + 1`` -- the box encloses whole pixels, a one-pixel object is ``(c, r, 1, 1)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from collections.abc import Sequence as SeqLike
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from siamlightning.data.core.masks import read_palette_png
from siamlightning.errors import DataError

__all__ = [
    "LabelStats",
    "label_stats",
    "list_frames",
    "object_track",
    "scan_pngs",
]

_NAN_BOX = np.full(4, np.nan)


@dataclass(frozen=True)
class LabelStats:
    """What one annotation PNG says about each object in it.

    Attributes:
        shape: ``(H, W)`` of the PNG.
        ids: (K,) int64 object ids present (nonzero pixel values), ascending.
        boxes: (K, 4) float64 ``x, y, w, h`` of each object (whole-pixel convention above).
        counts: (K,) int64 pixel count of each object.
    """

    shape: tuple[int, int]
    ids: np.ndarray
    boxes: np.ndarray
    counts: np.ndarray

    def lookup(self, object_id: int) -> tuple[np.ndarray, int]:
        """(box (4,), pixel count) of ``object_id``; a NaN box and 0 when it has no pixels."""
        k = int(np.searchsorted(self.ids, object_id))
        if k < len(self.ids) and self.ids[k] == object_id:
            return self.boxes[k], int(self.counts[k])
        return _NAN_BOX, 0


def object_track(
    stats: Mapping[int, LabelStats],
    frame_ids: SeqLike[int],
    object_id: int,
    min_pixels: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One object over ``frame_ids`` -> boxes (N, 4) (NaN where a frame has no PNG in ``stats``
    or fewer than ``min_pixels`` pixels of the object) and pixel counts (N,) int64."""
    boxes = np.full((len(frame_ids), 4), np.nan)
    pixels = np.zeros(len(frame_ids), np.int64)
    for k, f in enumerate(frame_ids):
        if f in stats:
            box, pixels[k] = stats[f].lookup(object_id)
            if pixels[k] >= min_pixels:
                boxes[k] = box
    return boxes, pixels


def label_stats(labels: np.ndarray, *, merge: bool = False) -> LabelStats:
    """Per-object ids, boxes and pixel counts of an id image (H, W); ``merge``: all nonzero = 1."""
    h, w = labels.shape
    rows = np.flatnonzero(labels.any(axis=1))
    if rows.size == 0:
        empty = np.zeros(0, np.int64)
        return LabelStats((h, w), empty, np.zeros((0, 4)), empty)
    cols = np.flatnonzero(labels.any(axis=0))
    r0, c0 = int(rows[0]), int(cols[0])
    crop = labels[r0 : int(rows[-1]) + 1, c0 : int(cols[-1]) + 1]  # all objects lie inside
    if merge:
        box = [c0, r0, cols[-1] - c0 + 1, rows[-1] - r0 + 1]
        count = np.count_nonzero(crop)
        return LabelStats((h, w), np.ones(1, np.int64), np.array([box], float), np.array([count]))
    counts = np.bincount(crop.reshape(-1), minlength=256)
    ids = np.flatnonzero(counts[1:]) + 1
    boxes = np.empty((ids.size, 4))
    if ids.size == 1:  # the usual case: the crop is the object's box
        boxes[0] = (c0, r0, crop.shape[1], crop.shape[0])
    else:
        for k, i in enumerate(ids):
            m = crop == i
            rr = np.flatnonzero(m.any(axis=1))
            cc = np.flatnonzero(m[rr[0] : rr[-1] + 1].any(axis=0))
            boxes[k] = (c0 + cc[0], r0 + rr[0], cc[-1] - cc[0] + 1, rr[-1] - rr[0] + 1)
    return LabelStats((h, w), ids.astype(np.int64), boxes, counts[ids].astype(np.int64))


def _stats(path: Path, merge: bool) -> LabelStats:
    return label_stats(read_palette_png(path), merge=merge)


def scan_pngs(
    paths: SeqLike[Path], *, merge: bool = False, workers: int | None = None, desc: str = ""
) -> list[LabelStats]:
    """`LabelStats` of each PNG, in order; each file decoded once (``workers`` threads)."""
    n = len(paths)
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    bar = tqdm(total=n, desc=desc or "boxes from masks", unit="png", disable=None, leave=False)
    try:
        if workers <= 1 or n < 2:
            out = []
            for p in paths:
                out.append(_stats(p, merge))
                bar.update()
            return out
        with ThreadPoolExecutor(max_workers=workers) as pool:  # Pillow decodes without the GIL
            out = []
            for s in pool.map(_stats, paths, [merge] * n, chunksize=1):
                out.append(s)
                bar.update()
            return out
    finally:
        bar.close()


def list_frames(folder: Path, suffix: str) -> dict[int, Path]:
    """Files ``<digits><suffix>`` of ``folder`` as {frame number: path}; DataError if missing."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        raise DataError("folder does not exist", path=folder) from None
    except OSError as exc:
        raise DataError(f"cannot list folder ({exc})", path=folder) from None
    out: dict[int, Path] = {}
    for name in names:
        stem, ext = os.path.splitext(name)
        if ext.lower() == suffix and stem.isdigit():
            out[int(stem)] = folder / name
    return dict(sorted(out.items()))
