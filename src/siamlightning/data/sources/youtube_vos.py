"""YouTube-VOS (2018 / 2019): ``root`` is the year folder, e.g. ``YouTubeVOS/2018``.

Layout: ``<root>/<split>/JPEGImages/<vid>/<5-digit>.jpg``, ``<root>/<split>/Annotations/<vid>/
<5-digit>.png`` (palette PNGs, pixel value = object id, 0 = background) and ``<root>/<split>/
meta.json`` = ``{"videos": {vid: {"objects": {id: {"category": c, "frames": ["00000", ...]}}}}}``.
Frame numbers need not start at 0 and are sparse: ``train`` holds every 5th frame, all annotated;
``<split>_all_frames/JPEGImages`` (a separate download) holds every frame, annotations still
every 5th.

One `Sequence` per (video, object), named ``<vid>-<id>`` (videos and ids in meta.json order):

- ``split="train"`` (default): frames = the object's frames listed in meta.json, sorted by number;
  with ``all_frames=True`` every frame of ``train_all_frames/JPEGImages/<vid>`` instead, NaN boxes
  (and ``""`` masks) on the unannotated ones.
- ``split="valid"`` / ``"test"``: only the frame where each object first appears is annotated
  (the challenge withholds the rest). Frames = the video's JPEGs from that frame on, the first
  box from its PNG, NaN after it, ``meta["first_frame_only"] = True`` (as GOT-10k's test split).

Boxes come from the object's pixels (``x = min col, y = min row, w = max - min + 1``; see
`_palette`); a listed frame where the object has fewer than ``min_pixels`` pixels is absent (NaN).
Each PNG is decoded once for all its objects. ``masks`` are the PNG paths; the PNGs hold every
object, so ``meta["mask_id"]`` is the object's id (``mask_format = "palette"``) and
`data.core.masks.read_object_mask` gives its mask. ``meta``: ``video``, ``object_id``,
``category`` (None when absent, as in 2019 valid), ``width``, ``height``, ``frame_ids`` (N,)
int64 frame numbers, ``pixels`` (N,) int64 counts.

Bad input: a missing split/Annotations/JPEG folder, a PNG without its JPEG or an undecodable PNG
is a `DataError` naming the file. A PNG listed in meta.json but missing is skipped (one counted
warning per load); ``strict=True`` makes it an error. ``videos`` restricts to some videos (e.g.
pytracking's jjtrain / jjvalid lists); ``workers`` threads decode the PNGs.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._palette import LabelStats, list_frames, object_track, scan_pngs
from siamlightning.errors import DataError

__all__ = ["VERSION", "load", "read_meta"]

CACHE = False  # open_dataset does not cache this index by default (see SourceReader)

VERSION = 2  # 2: meta["mask_format"]
_SPLITS = ("train", "valid", "test")
# video -> [(object id, category, sorted frame numbers)]
_Objects = dict[str, list[tuple[int, str | None, list[int]]]]


def read_meta(path: str | Path) -> _Objects:
    """``meta.json`` -> {video: [(object id, category or None, sorted frame numbers)]}."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("meta.json does not exist", path=p) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path=p, line=exc.lineno) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read file ({exc})", path=p) from None
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict):
        raise DataError('expected {"videos": {<video id>: {"objects": ...}}}', path=p)
    out: _Objects = {}
    for vid, entry in videos.items():
        objs = entry.get("objects") if isinstance(entry, dict) else None
        if not isinstance(objs, dict):
            raise DataError(f'video {vid!r} has no "objects" mapping', path=p)
        out[vid] = []
        for oid, o in objs.items():
            try:
                frames = sorted({int(f) for f in o["frames"]})
                obj = int(oid)
            except (KeyError, TypeError, ValueError):
                raise DataError(
                    f'video {vid!r} object {oid!r}: expected an integer id and "frames": '
                    f"[<5-digit frame number>, ...], got {o!r}",
                    path=p,
                ) from None
            if obj <= 0 or obj > 255:
                raise DataError(f"video {vid!r}: object id {oid!r} is not in 1..255", path=p)
            out[vid].append((obj, o.get("category"), frames))
    return out


def _video_plan(
    vid: str,
    objs: list[tuple[int, str | None, list[int]]],
    ann: Path,
    jpg: Path,
    first_only: bool,
    missing: list[Path],
) -> tuple[dict[int, Path], dict[int, Path]]:
    """JPEGs and the PNGs to decode of one video; listed-but-missing PNGs go to ``missing``."""
    jpgs = list_frames(jpg / vid, ".jpg")
    pngs = list_frames(ann / vid, ".png")
    for f, p in pngs.items():
        if f not in jpgs:
            want = jpg / vid / f"{p.stem}.jpg"
            raise DataError(f"annotation without its frame: {want} does not exist", path=p)
    wanted = {o[2][0] for o in objs if o[2]} if first_only else {f for o in objs for f in o[2]}
    for f in sorted(wanted - set(pngs)):
        missing.append(ann / vid / f"{f:05d}.png")
    return jpgs, {f: pngs[f] for f in sorted(wanted) if f in pngs}


def _sequences(
    vid: str,
    objs: list[tuple[int, str | None, list[int]]],
    jpgs: dict[int, Path],
    pngs: dict[int, Path],
    stats: dict[int, LabelStats],
    *,
    first_only: bool,
    all_frames: bool,
    min_pixels: int,
    meta_file: Path,
) -> list[Sequence]:
    """The sequences of one video's objects from its decoded PNGs ``stats`` {frame: stats}."""
    shape = next(iter(stats.values())).shape if stats else (0, 0)
    out = []
    for oid, category, listed in objs:
        ann = [f for f in listed if f in stats]
        if first_only:
            ann = ann[:1] if listed and ann[:1] == listed[:1] else []
            fids = [f for f in jpgs if ann and f >= ann[0]]
        else:
            fids = list(jpgs) if all_frames else ann
        if not fids:
            continue
        has = set(ann)
        boxes, pixels = object_track({f: stats[f] for f in has}, fids, oid, min_pixels)
        meta: dict[str, Any] = {
            "video": vid,
            "object_id": oid,
            "category": category,
            "mask_id": oid,
            "mask_format": "palette",  # one object of a palette PNG (data.core.masks)
            "height": shape[0],
            "width": shape[1],
            "frame_ids": np.array(fids, np.int64),
            "pixels": pixels,
            "annotation_file": str(meta_file),
        }
        if first_only:
            meta["first_frame_only"] = True
        frames = [str(jpgs[f]) for f in fids]
        masks = [str(pngs[f]) if f in has else "" for f in fids]
        out.append(Sequence(f"{vid}-{oid}", frames, boxes, masks=masks, meta=meta))
    return out


def load(
    root: str | Path,
    split: str | None = None,
    *,
    all_frames: bool = False,
    videos: SeqLike[str] | None = None,
    strict: bool = False,
    min_pixels: int = 1,
    workers: int | None = None,
) -> SequenceIndex:
    """Read one YouTube-VOS split into a `SequenceIndex` (one sequence per video and object)."""
    split = split or "train"
    if split not in _SPLITS:
        raise ValueError(f"youtube_vos: no split {split!r}; use 'train', 'valid' or 'test'")
    if root is None:
        raise ValueError("youtube_vos: root (the year folder, e.g. YouTubeVOS/2018) is required")
    base = Path(root)
    meta_file = base / split / "meta.json"
    if not meta_file.is_file():
        raise DataError(
            f"not a YouTube-VOS year folder: {meta_file} does not exist (root is the folder "
            "holding train/, valid/, e.g. YouTubeVOS/2018)",
            path=base,
        )
    ann = base / split / "Annotations"
    jpg = base / (f"{split}_all_frames" if all_frames else split) / "JPEGImages"
    for d in (ann, jpg):
        if not d.is_dir():
            raise DataError("folder does not exist", path=d)
    objects = read_meta(meta_file)
    if videos is not None:
        wanted = [videos] if isinstance(videos, str) else list(videos)
        unknown = [v for v in wanted if v not in objects]
        if unknown:
            raise DataError(f"no video(s) {unknown[:5]} in meta.json", path=meta_file)
        objects = {v: objects[v] for v in wanted}
    first_only = split != "train"
    missing: list[Path] = []
    plans = {v: _video_plan(v, o, ann, jpg, first_only, missing) for v, o in objects.items()}
    if missing and strict:
        msg = f"annotation PNG listed in {meta_file} is missing ({len(missing)} in all)"
        raise DataError(msg, path=missing[0])
    flat = [(v, f, p) for v, (_, pngs) in plans.items() for f, p in pngs.items()]
    stats = scan_pngs([p for *_, p in flat], workers=workers, desc=f"youtube_vos {split}")
    per_video: dict[str, dict[int, LabelStats]] = {v: {} for v in objects}
    for (v, f, _), s in zip(flat, stats):
        per_video[v][f] = s
    seqs: list[Sequence] = []
    for v, objs in objects.items():
        jpgs, pngs = plans[v]
        seqs += _sequences(
            v,
            objs,
            jpgs,
            pngs,
            per_video[v],
            first_only=first_only,
            all_frames=all_frames,
            min_pixels=min_pixels,
            meta_file=meta_file,
        )
    if missing:
        warnings.warn(
            f"youtube_vos: {len(missing)} annotation PNG(s) listed in {meta_file} are missing "
            f"and were skipped (first: {missing[0]}); pass strict=True to make this an error",
            stacklevel=2,
        )
    return SequenceIndex(seqs, name="youtube_vos", root=str(base))
