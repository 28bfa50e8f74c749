"""OTB layout: ``<root>/<Seq>/img/0001.jpg...`` and ``<root>/<Seq>/groundtruth_rect.txt``.

- Annotation lines hold ``x, y, w, h`` separated by commas, tabs or spaces (mixed is fine, e.g.
  ``"1,2\\t3 4"``); trailing empty lines are ignored. Boxes are used as-is (OTB's nominal 1-based
  values, as every toolkit does). ``nan``/``NaN`` values are read as NaN: OTB itself has no
  absent-target convention, but `data.tools.writers.write_otb` writes absent frames so.
- Several targets in one video (``groundtruth_rect.1.txt``, ``groundtruth_rect.2.txt``, as in
  OTB's Jogging and Skating2) give sequences ``<Seq>-1``, ``<Seq>-2`` (pysot's naming) that share
  the frames; Human4's lone ``groundtruth_rect.2.txt`` gives ``Human4-2``.
- Frames are the image files (jpg/jpeg/png/bmp) of ``img/`` in natural order. When ``img/`` holds
  more frames than the annotation has lines, a frame range picks the annotated ones: the
  ``frame_ranges`` option (``{name: (first, last)}``, 1-based inclusive frame numbers; also
  applied when the counts agree, cutting frames and lines alike), else `OTB_FRAME_RANGES`.
- ``root`` may also be a single sequence folder. Sequences are sorted by name.
- ``meta["attributes"]``: the OTB toolkit's attribute codes (IV, SV, OCC, DEF, MB, FM, IPR, OPR,
  OV, BC, LR) of every OTB100 target (`siamlightning.data.sources._otb_attributes`); absent for
  other folders. Per-attribute success/precision plots use them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._frames import check_contiguous, frame_number
from siamlightning.data.sources._otb_attributes import otb_attributes
from siamlightning.data.sources._text import read_lines
from siamlightning.data.sources._tolerant import build_sequences
from siamlightning.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "OTB_FRAME_RANGES", "load", "read_otb_boxes", "sorted_frames"]

CACHE = False  # open_dataset does not cache this index by default (see SourceReader)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})

# OTB-100 sequences whose img/ holds more frames than annotation lines: the annotated frames as
# (first, last), 1-based inclusive. David, Football1, Freeman3, Freeman4, Diving: got10k-toolkit's
# and siamfc-pytorch's OTB reader. BlurCar1/3/4: startFrame/endFrame of the OTB toolkit's
# configSeqs100.m (as in pytracking's otbdataset.py); their lengths (742, 357, 380) match the
# annotated counts in the benchmark's MakeSequenceConfigVer11.m. Used only when the counts differ.
# Tiger1 is not listed: its 354 lines match its 354 frames (pytracking alone skips the first 5;
# pass frame_ranges={"Tiger1": (6, 354)} to do the same).
OTB_FRAME_RANGES: dict[str, tuple[int, int]] = {
    "David": (300, 770),
    "Football1": (1, 74),
    "Freeman3": (1, 460),
    "Freeman4": (1, 283),
    "Diving": (1, 215),
    "BlurCar1": (247, 988),
    "BlurCar3": (3, 359),
    "BlurCar4": (18, 397),
}
_BUILTIN = {k.lower(): v for k, v in OTB_FRAME_RANGES.items()}
_GT = re.compile(r"^groundtruth_rect(?:\.(\d+))?\.txt$")
_SEP = re.compile(r"\s*,\s*|\s+")
_SPLITS = (None, "test", "all", "otb2013", "otb50", "otb100")

# benchmark sequence lists (folder names), as in the got-10k toolkit's OTB reader
OTB2013 = """Basketball Bolt Boy Car4 CarDark CarScale Coke Couple Crossing David David2 David3 Deer
Dog1 Doll Dudek FaceOcc1 FaceOcc2 Fish FleetFace Football Football1 Freeman1 Freeman3 Freeman4
Girl Ironman Jogging Jumping Lemming Liquor Matrix Mhyang MotorRolling MountainBike Shaking
Singer1 Singer2 Skating1 Skiing Soccer Subway Suv Sylvester Tiger1 Tiger2 Trellis Walking
Walking2 Woman""".split()
OTB50 = """Basketball Biker Bird1 BlurBody BlurCar2 BlurFace BlurOwl Bolt Box Car1 Car4 CarDark
CarScale ClifBar Couple Crowds David Deer Diving DragonBaby Dudek Football Freeman4 Girl Human3
Human4 Human6 Human9 Ironman Jump Jumping Liquor Matrix MotorRolling Panda RedTeam Shaking
Singer2 Skating1 Skating2 Skiing Soccer Surfer Sylvester Tiger2 Trellis Walking Walking2
Woman""".split()
OTB100 = (
    """Bird2 BlurCar1 BlurCar3 BlurCar4 Board Bolt2 Boy Car2 Car24 Coke Coupon Crossing Dancer
Dancer2 David2 David3 Dog Dog1 Doll FaceOcc1 FaceOcc2 Fish FleetFace Football1 Freeman1 Freeman3
Girl2 Gym Human2 Human5 Human7 Human8 Jogging KiteSurf Lemming Man Mhyang MountainBike Rubik
Singer1 Skater Skater2 Subway Suv Tiger1 Toy Trans Twinnings Vase""".split()
    + OTB50
)
BENCHMARK_LISTS = {"otb2013": OTB2013, "otb50": OTB50, "otb100": OTB100}


def read_otb_boxes(path: str | Path) -> np.ndarray:
    """Parse an OTB annotation file into (N, 4) float64 ``x, y, w, h``; errors name the line."""
    p = Path(path)
    lines = read_lines(p, "annotation file")
    boxes = np.empty((len(lines), 4), np.float64)
    for k, line in enumerate(lines):
        s = line.strip()
        parts = _SEP.split(s) if s else []
        if len(parts) != 4:
            raise DataError(
                f"expected 4 values x,y,w,h separated by commas, tabs or spaces, got "
                f"{len(parts)}: {line!r}",
                path=p,
                line=k + 1,
            )
        try:
            values = [float(v) for v in parts]
        except ValueError:
            raise DataError(f"non-numeric value in {line!r}", path=p, line=k + 1) from None
        if any(math.isinf(v) for v in values):
            raise DataError(f"infinite value in {line!r}", path=p, line=k + 1)
        boxes[k] = values
    return boxes


def sorted_frames(folder: str | Path) -> list[Path]:
    """Image files (jpg/jpeg/png/bmp) of ``folder``, natural order (``2.jpg`` before ``10.jpg``)."""
    d = Path(folder)
    if not d.is_dir():
        raise DataError("frame folder does not exist", path=d)
    with os.scandir(d) as entries:  # no stat per file where the OS gives the entry type
        files = [
            d / e.name
            for e in entries
            if os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES and e.is_file()
        ]
    if not files:
        raise DataError("frame folder holds no jpg/jpeg/png/bmp images", path=d)
    return sorted(files, key=lambda p: (frame_number(p) is None, frame_number(p) or 0, p.name))


def _is_sequence(d: Path) -> bool:
    return (d / "img").is_dir() or any(_GT.match(p.name) for p in d.glob("groundtruth_rect*.txt"))


def _targets(folder: Path) -> list[tuple[str, Path]]:
    """(sequence name, annotation file) for every target annotated in ``folder``."""
    found = []
    for p in folder.glob("groundtruth_rect*.txt"):
        m = _GT.match(p.name)
        if m:
            found.append((folder.name if m[1] is None else f"{folder.name}-{m[1]}", p))
    if not found:
        raise DataError(
            "no groundtruth_rect.txt (or groundtruth_rect.N.txt) in folder", path=folder
        )
    if not (folder / "img").is_dir():
        raise DataError("missing img/ folder of the sequence", path=folder / "img")
    return sorted(found)


def _range(value: Any, name: str) -> tuple[int, int]:
    try:
        first, last = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"otb: frame range of {name!r} must be (first, last), got {value!r}"
        ) from None
    if not 1 <= first <= last:
        raise ValueError(
            f"otb: frame range of {name!r} must have 1 <= first <= last, got {value!r}"
        )
    return first, last


def _first(folder: Path, frames: list[Path], used: tuple[int, int] | None) -> int | None:
    """The frame number the annotation starts at: the range's first, OTB's own range start
    when the folder begins there (e.g. David's frames 0300-0770 alone), else 0 or 1."""
    if used is not None:
        return used[0]
    builtin = _BUILTIN.get(folder.name.lower())
    if builtin is not None and frames and frame_number(frames[0]) == builtin[0]:
        return builtin[0]
    return None


def _select(
    name: str, folder: Path, ann: Path, frames: list[Path], boxes: np.ndarray, ranges: Mapping
) -> tuple[list[Path], np.ndarray, tuple[int, int] | None]:
    """Apply a frame range when one is given or needed; check frame and line counts agree."""
    rng = ranges.get(name, ranges.get(folder.name))
    if rng is None and len(frames) != len(boxes):
        rng = _BUILTIN.get(folder.name.lower())
    if rng is None:
        if len(frames) != len(boxes):
            raise DataError(
                f"{len(boxes)} annotation lines but {len(frames)} frames in {folder / 'img'}; "
                f"pass frame_ranges={{{name!r}: (first, last)}} to pick the annotated frames",
                path=ann,
            )
        return frames, boxes, None
    first, last = _range(rng, name)
    numbers = [frame_number(p) for p in frames]
    if all(n is not None for n in numbers):
        keep = [k for k, n in enumerate(numbers) if first <= n <= last]
    else:
        keep = list(range(first - 1, min(last, len(frames))))
    if len(boxes) == len(frames) and len(keep) != len(frames):
        boxes = boxes[keep]
    if len(boxes) != len(keep):
        raise DataError(
            f"frame range {first}-{last} selects {len(keep)} of the {len(frames)} frames in "
            f"{folder / 'img'}, but the annotation has {len(boxes)} lines",
            path=ann,
        )
    return [frames[k] for k in keep], boxes, (first, last)


def _sequence(name: str, folder: Path, ann: Path, ranges: Mapping) -> Sequence:
    frames = sorted_frames(folder / "img")
    frames, boxes, used = _select(name, folder, ann, frames, read_otb_boxes(ann), ranges)
    check_contiguous(frames, folder=folder / "img", first=_first(folder, frames, used))
    meta: dict[str, Any] = {"annotation_file": str(ann), "folder": str(folder)}
    if used is not None:
        meta["frame_range"] = used
    attrs = otb_attributes(name)
    if attrs is not None:
        meta["attributes"] = list(attrs)
    return Sequence(name, [str(p) for p in frames], boxes, meta=meta)


def load(
    root: str | Path,
    split: str | None = None,
    *,
    sequences: SeqLike[str] | None = None,
    frame_ranges: Mapping[str, tuple[int, int]] | None = None,
) -> SequenceIndex:
    """Read an OTB-layout folder (or one sequence folder) into a `SequenceIndex` sorted by name."""
    if split not in _SPLITS:
        raise ValueError(f"otb: no split {split!r}; use one of {', '.join(map(str, _SPLITS))}")
    if root is None:
        raise ValueError("otb: root (the folder of sequence folders) is required")
    base = Path(root)
    if not base.is_dir():
        raise DataError("OTB root folder does not exist", path=base)
    if _is_sequence(base):
        folders = [base]
    else:
        subdirs = (d for d in base.iterdir() if d.is_dir() and not d.name.startswith("."))
        folders = sorted(d for d in subdirs if _is_sequence(d))
    targets = {name: (folder, ann) for folder in folders for name, ann in _targets(folder)}
    if split in BENCHMARK_LISTS and sequences is None:
        missing = sorted(set(BENCHMARK_LISTS[split]) - {f.name for f in folders})
        if missing:
            raise DataError(
                f"{split}: {len(missing)} sequence folder(s) missing: {', '.join(missing[:10])}",
                path=base,
            )
        sequences = BENCHMARK_LISTS[split]
    if sequences is not None:
        if isinstance(sequences, str):
            sequences = [sequences]
        chosen: dict[str, tuple[Path, Path]] = {}
        for want in sequences:
            hits = {k: v for k, v in targets.items() if k == want or v[0].name == want}
            if not hits:
                raise DataError(
                    f"no sequence {want!r}; available: {', '.join(sorted(targets)) or 'none'}",
                    path=base,
                )
            chosen.update(hits)
        targets = chosen
    ranges = dict(frame_ranges or {})

    def build(name: str) -> Sequence:
        return _sequence(name, *targets[name], ranges)

    out = build_sequences(sorted(targets), build, strict=True, source="otb")
    return SequenceIndex(out, name="otb", root=str(base))
