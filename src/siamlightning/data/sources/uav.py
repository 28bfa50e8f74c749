"""UAV123 / UAV20L: ``<root>/data_seq/UAV123/<folder>/000001.jpg...`` + ``anno/<set>/*.txt``.

- ``anno/UAV123/<seq>.txt`` (``split=None``, ``"test"``, ``"uav123"``) or ``anno/UAV20L/<seq>.txt``
  (``split="uav20l"``): ``x,y,w,h`` comma separated, ``NaN,NaN,NaN,NaN`` where the target is
  absent (read as NaN rows, so those frames are flagged absent).
- The 123 sequences are sub-ranges of 91 frame folders (``bird1_2`` = frames 775-1477 of
  ``bird1``): `UAV123_RANGES` is the official table (identical in got10k-toolkit's
  ``uav123.json`` and pytracking's ``uavdataset.py``). UAV20L's 20 sequences are whole folders.
  A sequence missing from the table is read from frame 1 of the folder of the same name (or,
  for ``<folder>_<k>`` names, of ``<folder>``) with one frame per annotation line.
- Frame names are built as ``%06d.jpg`` over the range; the first and last must exist.
- ``meta``: ``annotation_file``, ``folder``, ``frame_range`` (1-based inclusive), ``object_class``
  (pytracking's classes). ``root`` may also be the folder above ``UAV123/`` as unpacked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import Any

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._tolerant import build_sequences
from siamlightning.data.sources.otb import read_otb_boxes
from siamlightning.errors import DataError

__all__ = ["UAV123_RANGES", "UAV_CLASSES", "load"]

CACHE = False  # open_dataset does not cache this index by default (see SourceReader)

# name:last (first = 1) or name:first-last, 1-based inclusive frame numbers in the sequence's
# folder (the name itself, or <folder> for <folder>_<k> names).
_TABLE = """
bike1:3085 bike2:553 bike3:433 bird1_1:253 bird1_2:775-1477 bird1_3:1573-2437 boat1:901
boat2:799 boat3:901 boat4:553 boat5:505 boat6:805 boat7:535 boat8:685 boat9:1399
building1:469 building2:577 building3:829 building4:787 building5:481 car10:1405 car11:337
car12:499 car13:415 car14:1327 car15:469 car16_1:415 car16_2:415-1993 car17:1057
car18:1207 car1_1:751 car1_2:751-1627 car1_3:1627-2629 car1_s:1475 car2:1321 car2_s:320
car3:1717 car3_s:1300 car4:1345 car4_s:830 car5:745 car6_1:487 car6_2:487-1807
car6_3:1807-2953 car6_4:2953-3925 car6_5:3925-4861 car7:1033 car8_1:1357 car8_2:1357-2575
car9:1879 group1_1:1333 group1_2:1333-2515 group1_3:2515-3925 group1_4:3925-4873
group2_1:907 group2_2:907-1771 group2_3:1771-2683 group3_1:1567 group3_2:1567-2827
group3_3:2827-4369 group3_4:4369-5527 person1:799 person10:1021 person11:721
person12_1:601 person12_2:601-1621 person13:883 person14_1:847 person14_2:847-1813
person14_3:1813-2923 person15:1339 person16:1147 person17_1:1501 person17_2:1501-2347
person18:1393 person19_1:1243 person19_2:1243-2791 person19_3:2791-4357 person1_s:1600
person20:1783 person21:487 person22:199 person23:397 person2_1:1189 person2_2:1189-2623
person2_s:250 person3:643 person3_s:505 person4_1:1501 person4_2:1501-2743 person5_1:877
person5_2:877-2101 person6:901 person7_1:1249 person7_2:1249-2065 person8_1:1075
person8_2:1075-1525 person9:661 truck1:463 truck2:385 truck3:535 truck4_1:577
truck4_2:577-1261 uav1_1:1555 uav1_2:1555-2377 uav1_3:2473-3469 uav2:133 uav3:265 uav4:157
uav5:139 uav6:109 uav7:373 uav8:301 wakeboard1:421 wakeboard10:469 wakeboard2:733
wakeboard3:823 wakeboard4:697 wakeboard5:1675 wakeboard6:1165 wakeboard7:199
wakeboard8:1543 wakeboard9:355
"""
_SUB = re.compile(r"^(.*\d)_(\d)$")  # bird1_2 -> folder bird1 (car1_s is its own folder)


def _folder(name: str) -> str:
    m = _SUB.match(name)
    return m[1] if m else name


def _parse_table() -> dict[str, tuple[str, int, int]]:
    out = {}
    for entry in _TABLE.split():
        name, rng = entry.split(":")
        first, _, last = rng.rpartition("-")
        out[name] = (_folder(name), int(first or 1), int(last))
    return out


UAV123_RANGES: dict[str, tuple[str, int, int]] = _parse_table()
"""UAV123 sequence -> (frame folder, first frame, last frame), 1-based inclusive."""

UAV_CLASSES = {
    "bike": "vehicle",
    "bird": "bird",
    "boat": "vessel",
    "building": "other",
    "car": "car",
    "group": "person",
    "person": "person",
    "truck": "truck",
    "uav": "aircraft",
    "wakeboard": "person",
}
_SETS = {None: "UAV123", "test": "UAV123", "uav123": "UAV123", "uav20l": "UAV20L"}


def _range(name: str, version: str, n_lines: int) -> tuple[str, int, int]:
    if version == "UAV123" and name in UAV123_RANGES:
        return UAV123_RANGES[name]
    if version == "UAV20L":  # whole folders: from 1 to the last frame of any UAV123 sub-range
        last = max((r[2] for r in UAV123_RANGES.values() if r[0] == name), default=n_lines)
        return name, 1, last
    return _folder(name), 1, n_lines


def _sequence(base: Path, ann: Path, version: str) -> Sequence:
    name = ann.stem
    boxes = read_otb_boxes(ann)
    folder_name, first, last = _range(name, version, len(boxes))
    folder = base / "data_seq" / "UAV123" / folder_name
    if len(boxes) != last - first + 1:
        raise DataError(
            f"{len(boxes)} annotation lines but the frame range {first}-{last} of {folder_name!r} "
            f"has {last - first + 1} frames",
            path=ann,
        )
    frames = [str(folder / f"{i:06d}.jpg") for i in range(first, last + 1)]
    for f in (frames[0], frames[-1]):
        if not Path(f).is_file():
            raise DataError(
                f"frame of sequence {name!r} (frames {first}-{last}) is missing", path=f
            )
    prefix = re.match(r"[A-Za-z]*", name)[0].lower()
    meta: dict[str, Any] = {"annotation_file": str(ann), "folder": str(folder)}
    meta.update(frame_range=(first, last), object_class=UAV_CLASSES.get(prefix, "unknown"))
    return Sequence(name, frames, boxes, meta=meta)


def load(
    root: str | Path,
    split: str | None = None,
    *,
    sequences: SeqLike[str] | None = None,
) -> SequenceIndex:
    """Read UAV123 (or ``split="uav20l"``) into a `SequenceIndex` sorted by sequence name."""
    key = split.lower() if isinstance(split, str) else split
    if key not in _SETS:
        raise ValueError(f"uav: no split {split!r}; use None, 'test', 'uav123' or 'uav20l'")
    if root is None:
        raise ValueError("uav: root (the folder holding anno/ and data_seq/) is required")
    base = Path(root)
    if not (base / "anno").is_dir() and (base / "UAV123" / "anno").is_dir():
        base = base / "UAV123"
    version = _SETS[key]
    anno_dir = base / "anno" / version
    if not anno_dir.is_dir() or not (base / "data_seq" / "UAV123").is_dir():
        raise DataError(
            f"not a UAV123 root: expected anno/{version}/ and data_seq/UAV123/ folders", path=base
        )
    anns = {p.stem: p for p in anno_dir.glob("*.txt")}
    names = sorted(anns)
    if sequences is not None:
        names = [sequences] if isinstance(sequences, str) else list(sequences)
        missing = [n for n in names if n not in anns]
        if missing:
            raise DataError(f"no annotation for sequence(s) {missing}", path=anno_dir)
    if not names:
        raise DataError("no annotation files (*.txt)", path=anno_dir)

    def build(n: str) -> Sequence:
        return _sequence(base, anns[n], version)

    seqs = build_sequences(names, build, strict=True, source="uav")
    return SequenceIndex(seqs, name="uav", root=str(base))
