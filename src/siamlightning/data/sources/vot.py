"""VOT short-term layouts: the official one (VOT2013-2022, list.txt) and pysot's ``VOTxxxx.json``.

Official layout, ``<root>/list.txt`` naming one folder per sequence, each holding:

- ``sequence``: ``key=value`` lines (``channels.color=color/%08d.jpg``, ``fps``, ...) ->
  ``meta["properties"]``.
- ``groundtruth.txt``: one region per line, comma separated: 8 values ``x1,y1,...,x4,y4`` (a
  rotated box, VOT2014-2019), 4 values ``x,y,w,h`` (rectangles, some editions), a VOT2020+ mask
  ``m<x0>,<y0>,<w>,<h>,<rle...>`` (RLE runs zeros first, row-major in the ``w x h`` box at
  ``(x0, y0)``), or a single value / NaNs (no annotation: a NaN row). Kinds may be mixed. A mask
  is stored as its tight bounding box: ``x, y`` = its top-left foreground pixel, ``w, h`` = the
  number of foreground columns / rows, so it covers pixels ``x .. x+w-1`` (as a VOT rectangle
  does); an empty mask (VOT2020's absent target) is a NaN row. The exact regions stay in the file,
  ``meta["gt_regions_file"]`` (parse it with `siamlightning.metrics.regions.read_regions`).
- frames ``color/00000001.jpg...`` (the folder of ``channels.color``; older editions keep the
  frames in the sequence folder itself), in natural order.
- per-frame tags ``*.tag`` / ``*.label`` (``camera_motion``, ``illum_change``, ``motion_change``,
  ``size_change``, ``occlusion``, ...): one 0/1 per line, a shorter file meaning trailing zeros
  -> ``meta["tags"] = {name: (N,) bool}``; ``occlusion`` also sets the ``occluded`` flags.
- VOT2020+ per-frame values ``*.value`` (e.g. ``anchor.value``) -> ``meta["values"] = {name:
  (N,) float64}`` (a shorter file is padded with zeros too).

pysot layout: ``<root>/<json>`` (option ``json="VOT2018.json"``; found automatically as
``<root>/<root.name>.json`` when there is no ``list.txt``), ``{video: {video_dir, init_rect,
img_names, gt_rect, camera_motion, illum_change, motion_change, size_change, occlusion}}`` with
image names relative to ``root``.

Regions are stored twice: ``polygons`` (N, 8) always - polygon lines as given, rectangle lines as
the corners ``x .. x+w-1`` (pysot's ``tools/test.py``: VOT rasterises a rectangle to pixels
``x .. x+w-1`` and a polygon between its corner nodes inclusive, so both cover the same pixels);
``boxes`` (N, 4) - rectangle lines as given, polygon lines as the min/max bounds of the corners
(``w = max x - min x``), mask lines as their bounding box (and its corners ``x .. x+w-1`` in
``polygons``). To initialise a tracker the way pysot and got10k do, use `vot_init_box` on the
polygon (for a mask's rectangle with w, h > 1 it gives back the box). ``meta["width"/"height"]``
come from the first frame's image.
"""

from __future__ import annotations

import json as _json
import math
from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.io import read_image
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._frames import check_contiguous
from siamlightning.data.sources._text import read_lines as _lines
from siamlightning.data.sources._tolerant import build_sequences, listed_folders
from siamlightning.data.sources.otb import sorted_frames
from siamlightning.errors import DataError
from siamlightning.metrics.regions import parse_region

__all__ = ["load", "read_regions", "vot_init_box"]

CACHE = False  # open_dataset does not cache this index by default (see SourceReader)

_SPLITS = (None, "test", "all")
_JSON_TAGS = ("camera_motion", "illum_change", "motion_change", "size_change", "occlusion")


def vot_init_box(polygon: np.ndarray | SeqLike[float]) -> np.ndarray:
    """pysot's ``get_axis_aligned_bbox`` init box: (..., 8) polygons -> (..., 4) ``x, y, w, h``.

    Centre = mean of the corners; s = sqrt(|p1 - p2| * |p2 - p3| / bounds area); ``w = s * (x2 -
    x1) + 1`` (same for h); box ``[cx - (w-1)/2, cy - (h-1)/2, w, h]`` as pysot's ``tools/test.py``
    passes it to the tracker (got10k's ``_corner2rect`` uses ``cx - w/2``, half a pixel less).
    """
    p = np.asarray(polygon, dtype=np.float64)
    if p.shape[-1:] != (8,):
        raise ValueError(f"vot_init_box: polygons must have shape (..., 8), got {p.shape}")
    xs, ys = p[..., 0::2], p[..., 1::2]
    cx, cy = xs.mean(axis=-1), ys.mean(axis=-1)
    x1, x2, y1, y2 = xs.min(-1), xs.max(-1), ys.min(-1), ys.max(-1)
    a1 = np.linalg.norm(p[..., 0:2] - p[..., 2:4], axis=-1) * np.linalg.norm(
        p[..., 2:4] - p[..., 4:6], axis=-1
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sqrt(a1 / ((x2 - x1) * (y2 - y1)))
    w, h = s * (x2 - x1) + 1, s * (y2 - y1) + 1
    return np.stack([cx - (w - 1) / 2, cy - (h - 1) / 2, w, h], axis=-1)


def _region(values: list[float], where: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
    """One region -> box (4,), polygon (8,), kind ("rectangle", "polygon" or "none")."""
    nan4, nan8 = np.full(4, np.nan), np.full(8, np.nan)
    if len(values) <= 1 or any(math.isnan(v) for v in values):
        return nan4, nan8, "none"
    if any(math.isinf(v) for v in values):
        raise DataError(f"infinite value in region {values}", **where)
    if len(values) == 4:
        x, y, w, h = values
        poly = np.array([x, y, x + w - 1, y, x + w - 1, y + h - 1, x, y + h - 1])
        return np.array(values), poly, "rectangle"
    if len(values) == 8:
        p = np.array(values)
        x1, y1, x2, y2 = p[0::2].min(), p[1::2].min(), p[0::2].max(), p[1::2].max()
        return np.array([x1, y1, x2 - x1, y2 - y1]), p, "polygon"
    raise DataError(
        f"expected a region of 4 values (x,y,w,h) or 8 (x1,y1,...,x4,y4), got {len(values)}",
        **where,
    )


def _mask(line: str, where: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, str]:
    """One ``m...`` line -> its tight bounding box (4,), that box's polygon (8,), "mask"."""
    try:
        region = parse_region(line)
    except ValueError as exc:
        raise DataError(f"bad mask region: {exc}", **where) from None
    ys, xs = np.nonzero(region.mask)
    if xs.size == 0:  # VOT2020 writes an empty mask where the target is absent
        return np.full(4, np.nan), np.full(8, np.nan), "none"
    x, y = region.offset[0] + xs.min(), region.offset[1] + ys.min()
    box = [x, y, xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    return (*_region([float(v) for v in box], where)[:2], "mask")


def read_regions(path: str | Path) -> tuple[np.ndarray, np.ndarray, set[str]]:
    """Parse a VOT ``groundtruth.txt`` -> boxes (N, 4), polygons (N, 8), region kinds found."""
    p = Path(path)
    lines = _lines(p)
    boxes, polys, kinds = np.empty((len(lines), 4)), np.empty((len(lines), 8)), set()
    for k, line in enumerate(lines):
        s = line.strip()
        if s.startswith("m"):
            boxes[k], polys[k], kind = _mask(s, {"path": p, "line": k + 1})
            kinds.add(kind)
            continue
        try:
            values = [float(v) for v in s.split(",")] if s else []
        except ValueError:
            raise DataError(f"non-numeric value in {line!r}", path=p, line=k + 1) from None
        boxes[k], polys[k], kind = _region(values, {"path": p, "line": k + 1})
        kinds.add(kind)
    return boxes, polys, kinds - {"none"}


def _per_frame(p: Path, n: int, kind: type) -> np.ndarray:
    """A tag (0/1) or value file: one number per line, padded with zeros to ``n`` frames."""
    lines = _lines(p)
    if len(lines) > n:
        raise DataError(f"{len(lines)} lines for a sequence of {n} frames", path=p, line=n + 1)
    out = np.zeros(n, dtype=np.float64)
    for k, line in enumerate(lines):
        s = line.strip()
        try:
            out[k] = float(s) if s else 0.0
        except ValueError:
            raise DataError(f"expected a number, got {line!r}", path=p, line=k + 1) from None
        if kind is bool and out[k] not in (0.0, 1.0):
            raise DataError(f"expected a 0/1 tag, got {line!r}", path=p, line=k + 1)
    return out.astype(bool) if kind is bool else out


def _properties(p: Path) -> dict[str, str]:
    if not p.is_file():
        return {}
    out = {}
    for k, line in enumerate(_lines(p)):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if "=" not in s:
            raise DataError(f"expected key=value, got {line!r}", path=p, line=k + 1)
        key, value = s.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _size(meta: dict[str, Any], first_frame: str) -> None:
    if "width" not in meta or "height" not in meta:
        h, w = read_image(first_frame).shape[:2]
        meta.update(width=w, height=h)


def _official(folder: Path, *, image_size: bool) -> Sequence:
    ann = folder / "groundtruth.txt"
    props = _properties(folder / "sequence")
    color = props.get("channels.color")
    frame_dir = folder / Path(color).parent if color else folder / "color"
    frames = sorted_frames(frame_dir if frame_dir.is_dir() else folder)
    check_contiguous(frames, folder=frames[0].parent)
    boxes, polys, kinds = read_regions(ann)
    n = len(boxes)
    if len(frames) != n:
        raise DataError(f"{n} regions but {len(frames)} frames in {frames[0].parent}", path=ann)
    tags = {p.stem: _per_frame(p, n, bool) for f in ("*.tag", "*.label") for p in folder.glob(f)}
    values = {p.stem: _per_frame(p, n, float) for p in folder.glob("*.value")}
    meta: dict[str, Any] = {"annotation_file": str(ann), "gt_regions_file": str(ann)}
    meta["folder"] = str(folder)
    meta.update(properties=props, tags=dict(sorted(tags.items())), region_format=sorted(kinds))
    if values:
        meta["values"] = dict(sorted(values.items()))
    if image_size:
        _size(meta, str(frames[0]))
    frames_s = [str(f) for f in frames]
    return Sequence(folder.name, frames_s, boxes, polys, occluded=tags.get("occlusion"), meta=meta)


def _from_json(root: Path, path: Path, *, image_size: bool) -> list[Sequence]:
    try:
        data = _json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("pysot json file does not exist", path=path) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read pysot json ({exc})", path=path) from None
    out = []
    for name, v in sorted(data.items()):
        try:
            regions = [_region([float(x) for x in r], {"path": path}) for r in v["gt_rect"]]
            frames = [str(root / f) for f in v["img_names"]]
        except DataError as exc:
            raise DataError(f"video {name!r}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"video {name!r}: bad entry ({exc!r})", path=path) from None
        n = len(regions)
        tags = {}
        for t in (t for t in _JSON_TAGS if t in v):
            flags = np.asarray(v[t], dtype=bool).reshape(-1)
            if flags.shape[0] > n:
                raise DataError(f"video {name!r}: {t} has {flags.shape[0]} of {n}", path=path)
            tags[t] = np.pad(flags, (0, n - flags.shape[0]))
        meta: dict[str, Any] = {"annotation_file": str(path), "tags": tags}
        meta.update({k: v[k] for k in ("init_rect", "video_dir", "width", "height") if k in v})
        meta["region_format"] = sorted({r[2] for r in regions} - {"none"})
        if image_size and frames:
            _size(meta, frames[0])
        boxes = np.array([r[0] for r in regions]).reshape(-1, 4)
        polys = np.array([r[1] for r in regions]).reshape(-1, 8)
        out.append(Sequence(name, frames, boxes, polys, occluded=tags.get("occlusion"), meta=meta))
    return out


def _names(base: Path) -> list[str]:
    lst = base / "list.txt"
    if lst.is_file():
        return listed_folders(lst, base)
    found = sorted(d.name for d in base.iterdir() if (d / "groundtruth.txt").is_file())
    if not found:
        raise DataError(
            "not a VOT root: no list.txt, no <name>.json and no sequence folder with a "
            "groundtruth.txt",
            path=base,
        )
    return found


def load(
    root: str | Path,
    split: str | None = None,
    *,
    sequences: SeqLike[str] | None = None,
    json: str | Path | None = None,
    image_size: bool = True,
) -> SequenceIndex:
    """Read a VOT root (official layout, or pysot's json) into a `SequenceIndex`."""
    if split not in _SPLITS:
        raise ValueError(f"vot: the VOT layout has no split {split!r}; use None, 'test' or 'all'")
    if root is None:
        raise ValueError("vot: root (the folder holding list.txt) is required")
    base = Path(root)
    if not base.is_dir():
        raise DataError("VOT root folder does not exist", path=base)
    auto = base / f"{base.name}.json"
    if json is not None or (auto.is_file() and not (base / "list.txt").is_file()):
        seqs = _from_json(base, base / json if json is not None else auto, image_size=image_size)
    elif (base / "groundtruth.txt").is_file():
        seqs = [_official(base, image_size=image_size)]
    else:
        folders = [base / s for s in _names(base)]

        def build(f: Path) -> Sequence:
            return _official(f, image_size=image_size)

        seqs = build_sequences(folders, build, strict=True, source="vot")
    if sequences is not None:
        wanted = [sequences] if isinstance(sequences, str) else list(sequences)
        by_name = {s.name: s for s in seqs}
        missing = [w for w in wanted if w not in by_name]
        if missing:
            raise DataError(f"no sequence(s) {missing}; available: {sorted(by_name)}", path=base)
        seqs = [by_name[w] for w in wanted]
    return SequenceIndex(seqs, name="vot", root=str(base))
