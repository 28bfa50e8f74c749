"""pysot's pre-cropped training data: ``par_crop.py 511`` crops plus the ``gen_json.py`` JSON.

Layout under ``root`` (one pysot ``training_dataset/<ds>`` folder: vid, det, coco, yt_bb, ...)::

    crop511/<video>/<frame:06d>.<track>.x.jpg     # 511 px search crops (.z.jpg ignored)
    train.json                                    # train2017.json for COCO, val.json, ...

The JSON is ``{video: {track: {frame: [x1, y1, x2, y2]}}}`` (``[w, h]`` entries are accepted, as
pysot does); ``video`` may hold slashes (``ILSVRC2015_VID_train_0000/...``, ``train2017/...``).
Which JSON: ``anno=`` (a file name in ``root`` or a path), else ``<split>.json``, else the only
``*.json`` in ``root``. One `Sequence` per ``(video, track)``, named ``<video>/<track>``, with
the frames in numeric order of their keys.

The boxes in the JSON are in the ORIGINAL frame, but each crop re-centres its target at
exemplar scale. Like pysot's ``_get_bbox``, the sequence boxes are the in-crop boxes: a
``w, h`` box scaled by ``exemplar_size / context_size(w, h, context_amount)``,
centred on pixel ``crop_size // 2`` (255), i.e. ``x = 255 - w'/2``. ``meta``: ``video``,
``track``, ``crop_size``, ``exemplar_size``, ``original_boxes`` (N, 4) ``x, y, w, h`` of the JSON
(NaN ``x, y`` for ``[w, h]`` entries) and ``annotation_file``.

Boxes with ``w <= 0`` or ``h <= 0`` are dropped like pysot's ``_filter_zero`` (counted, logged at
INFO); frames whose crop file is missing are dropped with one counted warning (``strict=True``:
an error); tracks left with no frame are dropped. pysot's YT-BB
``gen_json.py`` stores normalised 0..1 coordinates: a JSON whose every coordinate lies in
[0, 1] is flagged (``meta["normalised"]``) and, unless ``normalised_aspect=W/H`` of the source
frames is given to restore the pixel aspect, warned about (the in-crop aspect is then wrong for
non-square frames; the scale is right, as it does not depend on units).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.crops import context_size
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError

__all__ = ["VERSION", "cache_files", "crop_boxes", "load"]

VERSION = 1
CACHE = True  # open_dataset keeps the parsed index in the index cache
log = logging.getLogger(__name__)


def crop_boxes(
    wh: np.ndarray, *, crop_size: int = 511, exemplar_size: int = 127, context_amount: float = 0.5
) -> np.ndarray:
    """Original target sizes (N, 2) ``w, h`` -> (N, 4) ``x, y, w, h`` in a pysot search crop."""
    wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
    side = np.array([[context_size(w, h, context_amount)] for w, h in wh]).reshape(-1, 1)
    scale = exemplar_size / side
    size = wh * scale
    centre = float(crop_size // 2)
    return np.concatenate([centre - size / 2, size], axis=1)


def _anno_path(base: Path, split: str | None, anno: str | Path | None) -> Path:
    if anno is not None:
        p = Path(anno)
        p = p if p.is_absolute() else base / p
    elif split is not None:
        p = base / f"{split}.json"
    else:
        found = sorted(base.glob("*.json"))
        if len(found) != 1:
            names = ", ".join(f.name for f in found) or "none"
            raise DataError(
                f"expected exactly one *.json annotation in the root, found {names}; "
                "choose with anno=<file> or split=<name>",
                path=base,
            )
        p = found[0]
    if not p.is_file():
        raise DataError("pysot annotation JSON does not exist", path=p)
    return p


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from None
    if not isinstance(data, dict):
        raise DataError("expected {video: {track: {frame: box}}} at the top level", path=path)
    return data


def _track(video: str, track: str, frames: Any, path: Path) -> tuple[list[int], np.ndarray, int]:
    """Numeric frame keys and (N, 4) ``x, y, w, h`` original boxes (NaN x, y for [w, h])."""
    if not isinstance(frames, dict):
        raise DataError(f"{video}/{track}: expected {{frame: box}}, got {frames!r:.60}", path=path)
    keys, rows, zero = [], [], 0
    for key in sorted((k for k in frames if k.isdigit()), key=int):
        box = frames[key]
        if isinstance(box, list) and len(box) == 4:
            x1, y1, x2, y2 = (float(v) for v in box)
            row = (x1, y1, x2 - x1, y2 - y1)
        elif isinstance(box, list) and len(box) == 2:
            row = (np.nan, np.nan, float(box[0]), float(box[1]))
        else:
            msg = f"{video}/{track}/{key}: expected [x1, y1, x2, y2] or [w, h], got {box!r:.60}"
            raise DataError(msg, path=path)
        if not (row[2] > 0 and row[3] > 0):  # pysot's _filter_zero
            zero += 1
            continue
        keys.append(int(key))
        rows.append(row)
    return keys, np.array(rows, dtype=np.float64).reshape(-1, 4), zero


def _tracks(data: dict[str, Any], path: Path) -> tuple[list[tuple], int]:
    """``(video, track, frame numbers, (N, 4) original boxes)`` per track; zero boxes dropped."""
    tracks, zero = [], 0
    for video, by_track in data.items():
        if not isinstance(by_track, dict):
            raise DataError(f"{video}: expected {{track: {{frame: box}}}}", path=path)
        for track, frames in by_track.items():
            keys, orig, z = _track(video, track, frames, path)
            zero += z
            tracks.append((video, track, keys, orig))
    return tracks, zero


def _looks_normalised(tracks: list[tuple]) -> bool:
    """True when every finite coordinate of every box lies in [0, 1]."""
    coords = np.concatenate([t[3] for t in tracks] + [np.zeros((0, 4))])
    coords = coords[np.isfinite(coords)]
    return bool(coords.size > 0 and coords.min() >= 0 and coords.max() <= 1)


def cache_files(root: str | Path, split: str | None = None, **options: Any) -> list[Path]:
    """The JSON, the crop folder and its sub-folders, whose modification times the index cache
    checks (crops added inside a video folder are not seen)."""
    base = Path(root)
    crop_dir = base / f"crop{options.get('crop_size', 511)}"
    try:
        out = [_anno_path(base, split, options.get("anno"))]
    except DataError:
        out = []
    if crop_dir.is_dir():
        with os.scandir(crop_dir) as it:
            out += [crop_dir, *sorted(Path(e.path) for e in it if e.is_dir())]
    return out


def load(
    root: str | Path,
    split: str | None = None,
    *,
    anno: str | Path | None = None,
    crop_size: int = 511,
    exemplar_size: int = 127,
    context_amount: float = 0.5,
    normalised_aspect: float | None = None,
    strict: bool = False,
) -> SequenceIndex:
    """Read a pysot ``crop511`` folder and its JSON into a `SequenceIndex` of in-crop boxes."""
    if root is None:
        raise ValueError("pysot_crops: root (the folder holding crop511/ and the JSON) is required")
    base = Path(root)
    if not base.is_dir():
        raise DataError("pysot crop root folder does not exist", path=base)
    crop_dir = base / f"crop{crop_size}"
    if not crop_dir.is_dir():
        raise DataError(
            f"no crop folder {crop_dir.name}/ (from par_crop.py {crop_size})", path=base
        )
    path = _anno_path(base, split, anno)
    src = str(path)
    tracks, zero = _tracks(_read_json(path), path)
    normalised = _looks_normalised(tracks)
    if normalised and normalised_aspect is None:
        warnings.warn(
            f"{path}: every box lies in [0, 1] - normalised coordinates (pysot's YT-BB "
            "gen_json.py); in-crop boxes keep that aspect: pass normalised_aspect=W/H",
            stacklevel=2,
        )
    aspect = np.array([normalised_aspect or 1.0, 1.0]) if normalised else np.ones(2)
    listed: dict[str, frozenset[str]] = {}
    seqs, missing = [], 0
    for video, track, keys, orig in tracks:
        if video not in listed:
            d = crop_dir / video
            listed[video] = frozenset(os.listdir(d)) if d.is_dir() else frozenset()
        names = [f"{k:06d}.{track}.x.jpg" for k in keys]
        have = np.array([n in listed[video] for n in names], dtype=bool)
        if strict and not have.all():
            bad = crop_dir / video / names[int(np.argmin(have))]
            raise DataError(f"crop of {video}/{track} listed in {path.name} is missing", path=bad)
        missing += int((~have).sum())
        if not have.any():
            continue
        orig = orig[have]
        meta: dict[str, Any] = {
            "video": video,
            "track": track,
            "crop_size": crop_size,
            "exemplar_size": exemplar_size,
            "original_boxes": orig,
            "annotation_file": src,
        }
        if normalised:
            meta["normalised"] = True
        boxes = crop_boxes(
            orig[:, 2:] * aspect,
            crop_size=crop_size,
            exemplar_size=exemplar_size,
            context_amount=context_amount,
        )
        prefix = f"{crop_dir / video}{os.sep}"
        frames = [prefix + n for n, ok in zip(names, have) if ok]
        seqs.append(Sequence(f"{video}/{track}", frames, boxes, meta=meta))
    if missing:
        warnings.warn(
            f"pysot_crops: dropped {missing} frames listed in {path} with no crop file under "
            f"{crop_dir}",
            stacklevel=2,
        )
    log.info("pysot_crops %s: %d tracks, %d zero-size boxes skipped", path, len(seqs), zero)
    return SequenceIndex(seqs, name="pysot_crops", root=str(base))
