"""TrackingNet layout: chunk folders ``TRAIN_0`` ... ``TRAIN_11`` and ``TEST`` under ``root``.

Each chunk holds ``anno/<video>.txt`` (``x,y,w,h`` comma separated, one line per frame; in
``TEST`` only the first frame's line: the other rows are NaN and ``meta["first_frame_only"]`` is
True) and ``frames/<video>/0.jpg, 1.jpg, ...`` sorted numerically (0, 1, 2, 10 - not 0, 1, 10,
2), as extracted by the devkit; ``zips/`` is ignored. ``split="train"`` (or None) reads every
``TRAIN_<k>`` present, or the ``chunks=[0, 1]`` asked for (which must exist); ``split="test"``
reads ``TEST``. Videos are ordered by chunk, then name; ``meta["chunk"]`` names the chunk.
"""

from __future__ import annotations

import re
from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._frames import check_contiguous
from siamlightning.data.sources._tolerant import build_sequences
from siamlightning.data.sources.otb import read_otb_boxes, sorted_frames
from siamlightning.errors import DataError

__all__ = ["load"]

_SPLITS = (None, "train", "test")
_TRAIN = re.compile(r"^TRAIN_(\d+)$")

#: Bumped when the parsed output changes (the index cache keys on it); CACHE: training-size
#: dataset, cached by `open_dataset`.
VERSION = 1
CACHE = True


def cache_files(root: str | Path, split: str | None = None, **options: Any) -> list[Path]:
    """Every chunk's ``anno`` folder (its mtime changes when a video is added or removed)."""
    base = Path(root)
    chunks = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    return [c / "anno" for c in chunks if (c / "anno").is_dir()]


def _chunks(base: Path, split: str | None, chunks: SeqLike[int] | None) -> list[Path]:
    if split == "test":
        if chunks is not None:
            raise ValueError("trackingnet: chunks= selects TRAIN_<k> folders; not with 'test'")
        if not (base / "TEST").is_dir():
            raise DataError("not a TrackingNet root: no TEST/ folder", path=base)
        return [base / "TEST"]
    if chunks is not None:
        dirs = [base / f"TRAIN_{int(k)}" for k in chunks]
        for d in dirs:
            if not d.is_dir():
                raise DataError("TrackingNet chunk folder does not exist", path=d)
        return dirs
    found = [(int(m[1]), d) for d in base.iterdir() if (m := _TRAIN.match(d.name)) and d.is_dir()]
    if not found:
        raise DataError("not a TrackingNet root: no TRAIN_<k>/ folder", path=base)
    return [d for _, d in sorted(found)]


def _frames(folder: Path, n_lines: int) -> list[Path]:
    """``0.jpg``.. built from the line count when the files bear it out (names, not positions),
    else listed (a gap in the numbering is then a `DataError`)."""
    if n_lines > 1 and (folder / "0.jpg").is_file() and (folder / f"{n_lines - 1}.jpg").is_file():
        if not (folder / f"{n_lines}.jpg").exists():
            return [folder / f"{i}.jpg" for i in range(n_lines)]
    frames = sorted_frames(folder)  # numeric order: 0, 1, 2, 10
    check_contiguous(frames, folder=folder, first=0)
    return frames


def _sequence(chunk: Path, ann: Path) -> Sequence:
    name = ann.stem
    boxes = read_otb_boxes(ann)
    frames = _frames(chunk / "frames" / name, len(boxes))
    n = len(frames)
    meta: dict[str, Any] = {"annotation_file": str(ann), "chunk": chunk.name}
    meta["folder"] = str(chunk / "frames" / name)
    if len(boxes) == 1 and n > 1:
        boxes = np.concatenate([boxes, np.full((n - 1, 4), np.nan)])
        meta["first_frame_only"] = True
    elif len(boxes) != n:
        raise DataError(
            f"{len(boxes)} annotation lines but {n} frames in {chunk / 'frames' / name}", path=ann
        )
    return Sequence(name, [str(f) for f in frames], boxes, meta=meta)


def load(
    root: str | Path,
    split: str | None = None,
    *,
    chunks: SeqLike[int] | None = None,
    sequences: SeqLike[str] | None = None,
    strict: bool = True,
) -> SequenceIndex:
    """Read TrackingNet's training chunks (or ``split="test"``) into a `SequenceIndex`.

    ``strict=False`` (training mixes) drops sequences whose files raise `DataError`, with
    one warning naming the first files and lines, instead of failing the whole dataset.
    """
    if split not in _SPLITS:
        raise ValueError(f"trackingnet: no split {split!r}; use 'train', 'test' or None")
    if root is None:
        raise ValueError("trackingnet: root (the folder holding TRAIN_<k>/ and TEST/) is required")
    base = Path(root)
    if not base.is_dir():
        raise DataError("TrackingNet root folder does not exist", path=base)
    anns: dict[str, tuple[Path, Path]] = {}
    for chunk in _chunks(base, split, chunks):
        if not (chunk / "anno").is_dir():
            raise DataError("chunk has no anno/ folder", path=chunk)
        for ann in sorted(chunk.joinpath("anno").glob("*.txt")):
            if ann.stem in anns:
                raise DataError(f"video {ann.stem!r} is also in {anns[ann.stem][0]}", path=ann)
            anns[ann.stem] = (chunk, ann)
    names = list(anns)
    if sequences is not None:
        names = [sequences] if isinstance(sequences, str) else list(sequences)
        missing = [n for n in names if n not in anns]
        if missing:
            raise DataError(f"no video(s) {missing} in the chunks read", path=base)
    if not names:
        raise DataError("no annotation files (anno/*.txt) in the chunks read", path=base)
    seqs = build_sequences(
        [anns[n] for n in names], lambda a: _sequence(*a), strict=strict, source="trackingnet"
    )
    return SequenceIndex(seqs, name="trackingnet", root=str(base))
