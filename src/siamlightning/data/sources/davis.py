"""DAVIS 2016 / 2017: ``root`` is the unpacked ``DAVIS`` folder.

Layout: ``<root>/JPEGImages/<res>/<seq>/00000.jpg...``, ``<root>/Annotations/<res>/<seq>/
00000.png...`` and ``<root>/ImageSets/<year>/<split>.txt`` (one sequence name per line), with
``<res>`` = ``480p`` (default) or ``Full-Resolution`` (2017), ``1080p`` (2016). The DAVIS 2016
package has no ``ImageSets/2016`` but ``ImageSets/<res>/<split>.txt`` lines
``/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png``; both are read.

- ``year=2017`` (default): palette PNGs whose pixel value is the object id. One `Sequence` per
  (sequence, object id), named ``<seq>-<id>``, for every nonzero id seen in the sequence's PNGs;
  ``meta["mask_id"]`` is the id (`data.core.masks.read_object_mask(path, id)` gives its mask).
- ``year=2016``: one object per sequence (every nonzero pixel; the 2016 package's masks are
  binary 0/255), named ``<seq>``; no ``mask_id`` (``Sequence.read_mask``'s ``> 0`` is right).
  Read from the 2017 package, the 2016 lists get the union of the 2017 objects as their mask.

``split``: a list of ``ImageSets`` (``train`` default, ``val``, ``trainval``, ``test-dev``...).
``train`` / ``val``: every frame is annotated; boxes come from the masks (``x = min col, y = min
row, w = max - min + 1``); frames where the object has fewer than ``min_pixels`` pixels are
absent (NaN). ``test-*`` splits: only the first frame is annotated: the other boxes are NaN,
masks ``""`` and ``meta["first_frame_only"] = True``. ``meta``: ``sequence``, ``object_id``,
``width``, ``height``, ``year``, ``pixels`` (N,) int64.

Bad input: a missing folder, a PNG without its JPEG or an undecodable PNG is a `DataError` naming
the file; a JPEG without its PNG (train/val) is skipped with NaN box and one counted warning per
load, an error with ``strict=True``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import Any

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._palette import LabelStats, list_frames, object_track, scan_pngs
from siamlightning.data.sources._text import read_lines
from siamlightning.errors import DataError

__all__ = ["VERSION", "load", "read_split"]

CACHE = False  # open_dataset does not cache this index by default (see SourceReader)

VERSION = 2  # 2: meta["mask_format"]


def read_split(root: str | Path, year: int, split: str, resolution: str = "480p") -> list[str]:
    """Sequence names of ``ImageSets/<year>/<split>.txt`` (or the 2016 ``ImageSets/<res>``)."""
    base = Path(root)
    tried = [base / "ImageSets" / str(year) / f"{split}.txt"]
    if year == 2016:
        tried.append(base / "ImageSets" / resolution / f"{split}.txt")
    lst = next((p for p in tried if p.is_file()), None)
    if lst is None:
        raise DataError(f"no split file: expected {' or '.join(map(str, tried))}", path=base)
    lines = read_lines(lst, "split file")
    names: list[str] = []
    for line in lines:
        s = line.strip()
        if "/" in s:  # 2016 package: "/JPEGImages/480p/<seq>/00000.jpg /Annotations/..."
            s = Path(s.split()[0]).parent.name
        if s and s not in names:
            names.append(s)
    return names


def _objects(stats: list[LabelStats], merge: bool) -> list[int]:
    if merge:
        return [1]
    return sorted({int(i) for s in stats for i in s.ids})


def _sequences(
    name: str,
    jpgs: dict[int, Path],
    pngs: dict[int, Path],
    stats: dict[int, LabelStats],
    *,
    year: int,
    min_pixels: int,
    first_only: bool,
) -> list[Sequence]:
    """The sequences of one DAVIS video from its decoded PNGs ``stats`` {frame: stats}."""
    fids = list(jpgs)
    shape = next(iter(stats.values())).shape if stats else (0, 0)
    out = []
    for oid in _objects(list(stats.values()), year == 2016):
        boxes, pixels = object_track(stats, fids, oid, min_pixels)
        meta: dict[str, Any] = {
            "sequence": name,
            "object_id": oid,
            "year": year,
            "height": shape[0],
            "width": shape[1],
            "pixels": pixels,
        }
        if year == 2017:  # one object of a palette PNG (data.core.masks)
            meta["mask_id"] = oid
            meta["mask_format"] = "palette"
        if first_only:
            meta["first_frame_only"] = True
        masks = [str(pngs[f]) if f in stats else "" for f in fids]
        seq_name = name if year == 2016 else f"{name}-{oid}"
        out.append(Sequence(seq_name, [str(jpgs[f]) for f in fids], boxes, masks=masks, meta=meta))
    return out


def load(
    root: str | Path,
    split: str | None = None,
    *,
    year: int | str = 2017,
    resolution: str = "480p",
    sequences: SeqLike[str] | None = None,
    strict: bool = False,
    min_pixels: int = 1,
    workers: int | None = None,
) -> SequenceIndex:
    """Read one DAVIS split into a `SequenceIndex` (2017: one sequence per object)."""
    year = int(year)
    if year not in (2016, 2017):
        raise ValueError(f"davis: year must be 2016 or 2017, got {year}")
    if root is None:
        raise ValueError("davis: root (the DAVIS folder holding JPEGImages/) is required")
    split = split or "train"
    base = Path(root)
    jpeg_root = base / "JPEGImages" / resolution
    ann_root = base / "Annotations" / resolution
    for d in (jpeg_root, ann_root):
        if not d.is_dir():
            raise DataError(f"folder does not exist (resolution={resolution!r})", path=d)
    names = read_split(base, year, split, resolution)
    if sequences is not None:
        wanted = [sequences] if isinstance(sequences, str) else list(sequences)
        unknown = [s for s in wanted if s not in names]
        if unknown:
            raise DataError(f"no sequence(s) {unknown[:5]} in split {split!r}", path=base)
        names = wanted
    first_only = split.startswith("test")
    missing: list[Path] = []
    plans: dict[str, tuple[dict[int, Path], dict[int, Path]]] = {}
    for name in names:
        jpgs = list_frames(jpeg_root / name, ".jpg")
        pngs = list_frames(ann_root / name, ".png")
        for f, p in pngs.items():
            if f not in jpgs:
                want = jpeg_root / name / f"{p.stem}.jpg"
                raise DataError(f"annotation without its frame: {want} does not exist", path=p)
        if first_only:
            pngs = dict(list(pngs.items())[:1])
        else:
            missing += [ann_root / name / f"{jpgs[f].stem}.png" for f in jpgs if f not in pngs]
        plans[name] = (jpgs, pngs)
    if missing and strict:
        raise DataError(f"frame without annotation PNG ({len(missing)} in all)", path=missing[0])
    flat = [(n, f, p) for n, (_, pngs) in plans.items() for f, p in pngs.items()]
    stats = scan_pngs([p for *_, p in flat], merge=year == 2016, workers=workers, desc="davis")
    per_seq: dict[str, dict[int, LabelStats]] = {n: {} for n in names}
    for (n, f, _), s in zip(flat, stats):
        per_seq[n][f] = s
    seqs: list[Sequence] = []
    for name in names:
        jpgs, pngs = plans[name]
        seqs += _sequences(
            name,
            jpgs,
            pngs,
            per_seq[name],
            year=year,
            min_pixels=min_pixels,
            first_only=first_only,
        )
    if missing:
        warnings.warn(
            f"davis: {len(missing)} frame(s) have no annotation PNG and are unannotated (NaN) "
            f"(first: {missing[0]}); pass strict=True to make this an error",
            stacklevel=2,
        )
    return SequenceIndex(seqs, name="davis", root=str(base))
