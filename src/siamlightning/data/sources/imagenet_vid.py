"""ImageNet VID (ILSVRC2015): one sequence per continuous run of each object track.

Layout (``root`` = the ``ILSVRC2015`` folder, or a folder holding it)::

    Data/VID/train/ILSVRC2015_VID_train_000{0-3}/ILSVRC2015_train_%08d/%06d.JPEG
    Annotations/VID/train/ILSVRC2015_VID_train_000{0-3}/ILSVRC2015_train_%08d/%06d.xml
    Data/VID/val/ILSVRC2015_val_%08d/%06d.JPEG  (+ Annotations/VID/val/.../%06d.xml)

Each XML holds ``size/{width,height}`` and zero or more ``object`` elements with ``trackid``,
``name`` (the WordNet id), ``bndbox/{xmin,ymin,xmax,ymax}``, ``occluded`` and ``generated``.
Only the ``ILSVRC2015_VID_train_*`` folders of ``train`` are read (pysot's ``a``..``e`` symlinks
are ignored). Images are never opened; each video's image folder is listed once.

Tracklets: a track's run of consecutive frame numbers (like pytracking's ``imagenetvid.py``, a
tracklet ends at the track's first missing frame) is sequence ``<video>-t<trackid>-<k>``, ``k``
counting that track's runs in the video from 0 (so ``-t0-1`` is the track's reappearance). Runs
shorter than ``min_length`` frames (default 2: pysot's ``gen_json.py`` drops isolated frames) are
dropped, but still counted in ``k``, so names do not depend on ``min_length``.

Box = ``[xmin, ymin, xmax - xmin, ymax - ymin]`` with no ``+1``, as pysot and pytracking use it.
``occluded`` = the XML's ``occluded == 1`` (such frames stay samplable, as in pysot).
``meta``: ``class`` (WordNet id), ``width``, ``height``, ``video``, ``trackid``, ``first_frame``
(frame number of the first frame), ``generated`` ((N,) bool) and, when some box had
``xmax <= xmin`` or ``ymax <= ymin``, ``repaired = {"degenerate_box": count}`` (those boxes are
NaN, so the frames read as absent).

Defects: ``strict=True`` raises `DataError` naming the file of the first malformed XML, missing
image or degenerate box; ``strict=False`` (default) drops frames with a bad XML or no image (their
tracklets end there), NaNs degenerate boxes, and warns once per load (counts, first paths).
"""

from __future__ import annotations

import os
import re
import sys
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError

__all__ = ["LoadReport", "XmlObject", "cache_files", "load", "read_ilsvrc_xml", "resolve_root"]

VERSION = 1
"""Bumped whenever the parsed output changes (index caches key on it)."""
CACHE = True
"""`open_dataset` keeps the parsed index in the index cache (see `cache_files`)."""

_SPLITS = (None, "train", "val")
_TRAIN_SET = re.compile(r"^ILSVRC2015_VID_train_\d+$")
_NAN4 = (float("nan"),) * 4


@dataclass(frozen=True, slots=True)
class XmlObject:
    """One ``object`` of an ILSVRC XML; ``box`` is ``(xmin, ymin, xmax, ymax)`` as written."""

    name: str
    box: tuple[float, float, float, float]
    trackid: int | None = None
    occluded: bool = False
    generated: bool = False


def read_ilsvrc_xml(path: str | Path) -> tuple[int, int, list[XmlObject]]:
    """One ILSVRC VID/DET annotation -> ``(width, height, objects)``; `DataError` if malformed."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DataError(f"cannot read annotation ({exc.strerror})", path=path) from None
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise DataError(f"malformed XML ({exc})", path=path, line=exc.position[0]) from None
    size = root.find("size")  # find/findtext of a plain tag stay in C; "a/b" paths do not
    dims = [None if size is None else size.findtext(c) for c in ("width", "height")]
    try:
        width, height = (int(d) for d in dims)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError("expected integer size/width and size/height", path=path) from None
    objects = []
    for k, obj in enumerate(root.findall("object")):
        name, tid = obj.findtext("name"), obj.findtext("trackid")
        bb = obj.find("bndbox")
        coords = [None if bb is None else bb.findtext(c) for c in ("xmin", "ymin", "xmax", "ymax")]
        try:
            x1, y1, x2, y2 = (float(c) for c in coords)  # type: ignore[arg-type]
            trackid = None if tid is None else int(tid)
        except (TypeError, ValueError):
            msg = f"object {k}: expected numeric bndbox xmin/ymin/xmax/ymax and trackid"
            raise DataError(f"{msg}, got {coords} and {tid!r}", path=path) from None
        if not name:
            raise DataError(f"object {k} has no <name>", path=path)
        occ, gen = obj.findtext("occluded", "0").strip(), obj.findtext("generated", "0").strip()
        wnid = sys.intern(name.strip())  # ~200 classes shared by a million objects
        objects.append(XmlObject(wnid, (x1, y1, x2, y2), trackid, occ == "1", gen == "1"))
    return width, height, objects


class LoadReport:
    """Defects met during one load: raises them when strict, else counts them for one warning."""

    def __init__(self, source: str, *, strict: bool) -> None:
        self.source, self.strict = source, strict
        self.skipped = self.repaired = self.repaired_sequences = 0
        self.first_skipped: list[str] = []

    def skip(self, err: DataError) -> None:
        """Record a skipped file (or raise ``err`` when strict)."""
        if self.strict:
            raise err
        self.skipped += 1
        if len(self.first_skipped) < 3:
            self.first_skipped.append(str(err))

    def xywh(self, obj: XmlObject, path: str) -> tuple[float, float, float, float]:
        """``obj``'s box as ``x, y, w, h``; NaN (counted) or `DataError` when degenerate."""
        x1, y1, x2, y2 = obj.box
        if x2 > x1 and y2 > y1:
            return x1, y1, x2 - x1, y2 - y1
        if self.strict:
            msg = f"degenerate box of {obj.name}: xmin={x1:g} ymin={y1:g} xmax={x2:g} ymax={y2:g}"
            raise DataError(msg + " (expected xmax > xmin and ymax > ymin)", path=path)
        self.repaired += 1
        return _NAN4

    def warn(self) -> None:
        """Emit the one summary warning of this load, if anything was skipped or repaired."""
        parts = []
        if self.skipped:
            first = "; ".join(self.first_skipped)
            parts.append(f"skipped {self.skipped} unreadable/unmatched file(s) (first: {first})")
        if self.repaired:
            parts.append(
                f"set {self.repaired} degenerate box(es) (xmax<=xmin or ymax<=ymin) to NaN in "
                f"{self.repaired_sequences} sequence(s) (see seq.meta['repaired'])"
            )
        if parts:
            hint = "; pass strict=True to raise instead"
            warnings.warn(f"{self.source}: " + "; ".join(parts) + hint, stacklevel=3)


def resolve_root(
    root: str | Path | None, kind: str, split: str | None
) -> tuple[Path, str, str, str]:
    """``(ILSVRC folder, annotation folder, image folder, split)`` of ``kind`` (VID/DET)."""
    if split not in _SPLITS:
        raise ValueError(f"imagenet_{kind.lower()}: no split {split!r}; use 'train', 'val' or None")
    split = split or "train"
    if root is None:
        raise ValueError(f"imagenet_{kind.lower()}: root (the ILSVRC2015 folder) is required")
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"ImageNet {kind} root folder does not exist", path=base)
    if not (base / "Annotations").is_dir():
        for child in ("ILSVRC2015", "ILSVRC"):
            if (base / child / "Annotations" / kind).is_dir():
                base = base / child
                break
    ann, data = base / "Annotations" / kind / split, base / "Data" / kind / split
    for folder in (ann, data):
        if not folder.is_dir():
            raise DataError(
                f"not an ILSVRC2015 {kind} root: {folder} does not exist (expected "
                f"<root>/Annotations/{kind}/{split}/ and <root>/Data/{kind}/{split}/)",
                path=base,
            )
    return base, str(ann), str(data), split


class _Frame(NamedTuple):
    number: int
    image: str
    width: int
    height: int
    objects: list[XmlObject]
    xml: str


def _subdirs(folder: str) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir())


def _read_video(ann_dir: str, data_dir: str, report: LoadReport) -> list[_Frame]:
    """The parsed frames of one video, sorted by frame number."""
    try:
        images = set(os.listdir(data_dir))
    except OSError:
        images = set()
    frames = []
    for name in sorted(n for n in os.listdir(ann_dir) if n.endswith(".xml")):
        xml, stem = os.path.join(ann_dir, name), name[:-4]
        image = os.path.join(data_dir, stem + ".JPEG")
        try:
            if not stem.isdigit():
                raise DataError("annotation name is not a frame number (%06d.xml)", path=xml)
            if stem + ".JPEG" not in images:
                raise DataError(f"image missing for annotation {xml}", path=image)
            width, height, objects = read_ilsvrc_xml(xml)
            if any(o.trackid is None for o in objects):
                raise DataError("an object has no <trackid>", path=xml)
        except DataError as err:
            report.skip(err)
            continue
        frames.append(_Frame(int(stem), image, width, height, objects, xml))
    frames.sort(key=lambda f: f.number)
    return frames


def _tracklets(
    video: str, frames: list[_Frame], min_length: int, report: LoadReport
) -> list[Sequence]:
    """Split each track of one video into runs of consecutive frame numbers -> `Sequence`s."""
    tracks: dict[int, list[tuple[_Frame, XmlObject]]] = {}
    for fr in frames:
        seen: set[int] = set()
        for obj in fr.objects:
            if obj.trackid not in seen:  # a repeated trackid within a frame: the first counts
                seen.add(obj.trackid)
                tracks.setdefault(obj.trackid, []).append((fr, obj))
    out = []
    for tid in sorted(tracks):
        entries = tracks[tid]
        numbers = np.array([fr.number for fr, _ in entries])
        cuts = np.flatnonzero(np.diff(numbers) != 1) + 1
        for k, (a, b) in enumerate(zip([0, *cuts], [*cuts, len(entries)])):
            if b - a < min_length:
                continue
            run = entries[a:b]
            before = report.repaired
            boxes = np.array([report.xywh(obj, fr.xml) for fr, obj in run], dtype=np.float64)
            first = run[0][0]
            meta: dict[str, Any] = {
                "class": run[0][1].name,
                "width": first.width,
                "height": first.height,
                "video": video,
                "trackid": tid,
                "first_frame": first.number,
                "generated": np.array([obj.generated for _, obj in run]),
            }
            if report.repaired > before:
                meta["repaired"] = {"degenerate_box": report.repaired - before}
                report.repaired_sequences += 1
            occluded = np.array([obj.occluded for _, obj in run])
            images = [fr.image for fr, _ in run]
            out.append(Sequence(f"{video}-t{tid}-{k}", images, boxes, occluded=occluded, meta=meta))
    return out


def _videos(ann: str, split: str) -> list[str]:
    """Video folders relative to the annotation split folder, in sorted order."""
    if split != "train":
        return _subdirs(ann)
    sets = [s for s in _subdirs(ann) if _TRAIN_SET.match(s)]
    if not sets:
        raise DataError("no ILSVRC2015_VID_train_<k> folder", path=ann)
    return [os.path.join(s, v) for s in sets for v in _subdirs(os.path.join(ann, s))]


def cache_files(root: str | Path, split: str | None = None, **options: Any) -> list[Path]:
    """Folders whose modification times tell the index cache that videos were added or removed
    (a few stats; frames changed inside a video or an XML edited in place are not seen)."""
    _, ann, data, split = resolve_root(root, "VID", split)
    sets = [s for s in _subdirs(ann) if _TRAIN_SET.match(s)] if split == "train" else []
    return [Path(top, s) for top in (ann, data) for s in ["", *sets]]


def load(
    root: str | Path | None,
    split: str | None = None,
    *,
    min_length: int = 2,
    strict: bool = False,
) -> SequenceIndex:
    """Read ImageNet VID ``split`` (``train`` default, or ``val``) as per-track tracklets."""
    if min_length < 1:
        raise ValueError(f"imagenet_vid: min_length must be >= 1, got {min_length}")
    base, ann, data, split = resolve_root(root, "VID", split)
    videos = _videos(ann, split)
    if not videos:
        raise DataError("no video annotation folder", path=ann)
    report = LoadReport("imagenet_vid", strict=strict)
    seqs: list[Sequence] = []
    for rel in videos:
        frames = _read_video(os.path.join(ann, rel), os.path.join(data, rel), report)
        seqs.extend(_tracklets(os.path.basename(rel), frames, min_length, report))
    report.warn()
    return SequenceIndex(seqs, name="imagenet_vid", root=str(base))
