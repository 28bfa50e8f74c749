"""YouTube-BoundingBoxes (detection) as decoded by the common download script.

Layout under ``root`` (what pysot's ``training_dataset/yt_bb`` readme produces with
``youtube-bb-utility/download_detection.py``, a fork of mbuckler/youtube-bb)::

    yt_bb_detection_train.csv               # or .csv.gz; also yt_bb_detection_validation.csv
    yt_bb_detection_train/<class_id>/<youtube_id>_<timestamp_ms>_<class_id>_<object_id>.jpg

The CSV has no header; its columns are ``youtube_id, timestamp_ms, class_id, class_name,
object_id, object_presence, xmin, xmax, ymin, ymax`` with coordinates normalised to 0..1 (-1 on
``absent`` rows). One `Sequence` per ``(youtube_id, class_id, object_id)`` (pysot's grouping:
video ``<class_id>/<youtube_id>``, track ``<object_id>``), named
``<youtube_id>_<class_id>_<object_id>``, frames sorted by timestamp (1 per second).

Boxes are converted to pixels with each frame's own size, read from its JPEG header (`jpeg_size`,
no decoding) or given for all frames as ``frame_size=(W, H)``. pysot's ``gen_json`` kept the
normalised numbers, which distorts the box aspect on non-square frames; this reader does not.
``absent`` rows are absent frames (NaN box); a present row with a negative coordinate or
``xmax < xmin`` / ``ymax < ymin`` gets a NaN box too (pysot skips such rows). Frames whose JPEG
is missing or unreadable are dropped with one counted warning (``strict=True``: an error), and
duplicated ``(object, timestamp)`` rows keep the first.

``meta``: ``youtube_id``, ``class_id``, ``class_name``, ``object_id``, ``timestamps_ms`` (N,)
int64 and ``annotation_file``.
"""

from __future__ import annotations

import array
import csv
import gzip
import logging
import os
import warnings
from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import IO, Any

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError

__all__ = ["SPLITS", "VERSION", "cache_files", "jpeg_size", "load"]

VERSION = 1
CACHE = True  # open_dataset keeps the parsed index in the index cache
log = logging.getLogger(__name__)
SPLITS = {"train": "yt_bb_detection_train", "validation": "yt_bb_detection_validation"}
_ALIASES = {None: "train", "val": "validation"}
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers


def jpeg_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of a JPEG file from its SOF header (no decoding)."""
    with open(path, "rb") as f:
        if f.read(2) != b"\xff\xd8":
            raise DataError("not a JPEG file (no SOI marker)", path=path)
        while True:
            b = f.read(1)
            while b and b != b"\xff":  # tolerate garbage between segments
                b = f.read(1)
            while b == b"\xff":  # fill bytes
                b = f.read(1)
            if not b:
                raise DataError("JPEG ends before its frame header (truncated?)", path=path)
            marker = b[0]
            if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # stand-alone markers
                continue
            if marker in (0xD9, 0xDA):
                raise DataError("JPEG has no frame header before its image data", path=path)
            head = f.read(2)
            if len(head) < 2:
                raise DataError("JPEG ends inside a segment header (truncated?)", path=path)
            length = int.from_bytes(head, "big")
            if marker in _SOF:
                sof = f.read(5)
                if len(sof) < 5:
                    raise DataError("JPEG ends inside its frame header (truncated?)", path=path)
                return int.from_bytes(sof[3:5], "big"), int.from_bytes(sof[1:3], "big")
            f.seek(length - 2, os.SEEK_CUR)


def _csv_path(base: Path, stem: str) -> Path:
    plain, packed = base / f"{stem}.csv", base / f"{stem}.csv.gz"
    if plain.is_file():
        return plain
    if packed.is_file():
        return packed
    raise DataError(f"not a YouTube-BB root: {plain} (or .csv.gz) does not exist", path=base)


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return open(path, newline="", encoding="utf-8")


class _Rows:
    """The CSV as flat columns (array.array: no Python object per row kept)."""

    def __init__(self) -> None:
        self.group = array.array("q")
        self.ts = array.array("q")
        self.present = array.array("b")
        self.coords = array.array("d")  # xmin, xmax, ymin, ymax per row
        self.keys: dict[tuple[str, int, int], int] = {}
        self.class_names: dict[int, str] = {}


def _read_csv(path: Path) -> _Rows:
    rows = _Rows()
    with _open(path) as f:
        for line, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) != 10:
                msg = f"expected 10 columns (youtube_id, ..., ymax), got {len(row)}: {row!r}"
                raise DataError(msg, path=path, line=line)
            presence = row[5]
            if presence not in ("present", "absent"):
                msg = f"object_presence must be 'present' or 'absent', got {presence!r}"
                raise DataError(msg, path=path, line=line)
            try:
                key = (row[0], int(row[2]), int(row[4]))
                ts = int(row[1])
                coords = [float(v) for v in row[6:10]]
            except ValueError:
                raise DataError(f"bad number in {row!r}", path=path, line=line) from None
            rows.group.append(rows.keys.setdefault(key, len(rows.keys)))
            rows.class_names.setdefault(key[1], row[3])
            rows.ts.append(ts)
            rows.present.append(presence == "present")
            rows.coords.extend(coords)
    return rows


class _Frames:
    """Which frame files exist (one listing per class folder) and their sizes."""

    def __init__(self, split_dir: Path, frame_size: SeqLike[int] | None) -> None:
        self.split_dir = split_dir
        self.fixed = None if frame_size is None else (int(frame_size[0]), int(frame_size[1]))
        self._listed: dict[int, tuple[str, frozenset[str]]] = {}

    def path(self, yt: str, cls: int, obj: int, ts: int) -> str | None:
        """The frame's path, or None when the file is not there."""
        if cls not in self._listed:
            d = self.split_dir / str(cls)
            names = frozenset(os.listdir(d)) if d.is_dir() else frozenset()
            self._listed[cls] = (f"{d}{os.sep}", names)
        prefix, names = self._listed[cls]
        name = f"{yt}_{ts}_{cls}_{obj}.jpg"
        return prefix + name if name in names else None

    def size(self, path: str) -> tuple[int, int]:
        """``(W, H)`` of a frame."""
        return self.fixed if self.fixed is not None else jpeg_size(path)


def _sequences(rows: _Rows, frames: _Frames, src: str, strict: bool) -> tuple[list, dict]:
    group = np.frombuffer(rows.group, dtype=np.int64)
    ts_all = np.frombuffer(rows.ts, dtype=np.int64)
    present = np.frombuffer(rows.present, dtype=np.int8).astype(bool)
    x0, x1, y0, y1 = np.frombuffer(rows.coords, dtype=np.float64).reshape(-1, 4).T
    valid = present & (np.minimum(x0, y0) >= 0) & (x1 >= x0) & (y1 >= y0)  # else a NaN box
    rel = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)  # (R, 4) normalised x, y, w, h
    ts_list, valid_list = ts_all.tolist(), valid.tolist()
    order = np.lexsort((ts_all, group))  # stable: duplicates keep their CSV order
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    counts = {"missing": 0, "unreadable": 0, "duplicate": 0, "empty": 0}
    seqs = []
    for (yt, cls, obj), rows_k in zip(rows.keys, np.split(order, bounds)):
        keep = np.concatenate([[True], np.diff(ts_all[rows_k]) > 0])
        counts["duplicate"] += int((~keep).sum())
        paths, sizes, kept = [], [], []
        for r in rows_k[keep].tolist():
            p = frames.path(yt, cls, obj, ts_list[r])
            if p is None:
                counts["missing"] += 1
                if strict:
                    raise DataError(f"frame {yt}_{ts_list[r]}_{cls}_{obj}.jpg missing", path=src)
                continue
            size = (np.nan, np.nan)
            if valid_list[r]:  # absent frames need no size
                try:
                    size = frames.size(p)
                except (DataError, OSError) as exc:
                    counts["unreadable"] += 1
                    if strict:
                        raise DataError(f"cannot read frame size ({exc})", path=p) from None
                    continue
            paths.append(p)
            sizes.append(size)
            kept.append(r)
        if not paths:
            counts["empty"] += 1
            continue
        wh = np.array(sizes, dtype=np.float64)
        boxes = rel[kept] * np.concatenate([wh, wh], axis=1)
        meta: dict[str, Any] = {
            "youtube_id": yt,
            "class_id": cls,
            "class_name": rows.class_names[cls],
            "object_id": obj,
            "timestamps_ms": ts_all[kept],
            "annotation_file": src,
        }
        name = f"{yt}_{cls}_{obj}"
        seqs.append(Sequence(name, paths, boxes, absent=~present[kept], meta=meta))
    return seqs, counts


def _subdirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as it:
        return sorted(Path(e.path) for e in it if e.is_dir())


def cache_files(root: str | Path, split: str | None = None, **options: Any) -> list[Path]:
    """The CSV, the split folder and its class folders: their modification times tell the index
    cache that frames were added or removed (a few dozen stats; in-place edits are not seen)."""
    stem = SPLITS.get(_ALIASES.get(split, split) or "", "")
    if not stem:
        return []
    base, top = Path(root), Path(root, stem)
    return [base / f"{stem}.csv", base / f"{stem}.csv.gz", top, *_subdirs(top)]


def load(
    root: str | Path,
    split: str | None = None,
    *,
    frame_size: SeqLike[int] | None = None,
    strict: bool = False,
) -> SequenceIndex:
    """Read one YouTube-BB detection split (``train``/``validation``) into a `SequenceIndex`."""
    split = _ALIASES.get(split, split)
    if split not in SPLITS:
        raise ValueError(f"youtube_bb: no split {split!r}; use 'train' or 'validation'")
    if root is None:
        raise ValueError("youtube_bb: root (the folder holding the CSV files) is required")
    base = Path(root)
    if not base.is_dir():
        raise DataError("YouTube-BB root folder does not exist", path=base)
    stem = SPLITS[split]
    csv_path = _csv_path(base, stem)
    if not (base / stem).is_dir():
        raise DataError(f"YouTube-BB frame folder {base / stem} does not exist", path=base)
    rows = _read_csv(csv_path)
    seqs, counts = _sequences(rows, _Frames(base / stem, frame_size), str(csv_path), strict)
    if counts["missing"] or counts["unreadable"] or counts["empty"]:
        warnings.warn(
            f"youtube_bb {split}: dropped {counts['missing']} frames with no JPEG and "
            f"{counts['unreadable']} unreadable ones under {base / stem}; "
            f"{counts['empty']} objects had no frame left",
            stacklevel=2,
        )
    log.info(
        "youtube_bb %s: %d objects, %d duplicated rows skipped",
        split,
        len(seqs),
        counts["duplicate"],
    )
    return SequenceIndex(seqs, name="youtube_bb", root=str(base))
