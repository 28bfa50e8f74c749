"""Need for Speed (NfS): the raw layout as distributed, and pytracking's repackaged one.

Raw layout (got10k-toolkit ``datasets/nfs.py``): ``<root>/<seq>/<fps>/<seq>.txt`` and frames
``<root>/<seq>/<fps>/<seq>/*.jpg`` (natural order), ``fps`` 30 or 240 (option ``fps=`` or
``split="nfs30"``/``"nfs240"``; default 30, the benchmark usually reported). Annotation lines are
whitespace separated VATIC rows ``id left top right bottom frame lost occluded generated
"label"``; boxes are ``left, top, right - left, bottom - top`` (no +1, as got10k). The 30 fps
folders often keep the 240 fps annotation: when it has about 8x the frames, every 8th row (from
the first) is used; a one-frame difference left over is cut from the longer side, as got10k does.
``occluded`` flags come from the ``occluded`` column; the ``lost`` column goes to
``meta["lost"]`` (not used as absent: no OPE toolkit does), ``label`` to ``meta["label"]``.

Repackaged layout (pytracking ``nfsdataset.py``, 30 fps only): ``<root>/sequences/<name>/
00001.jpg...`` and ``<root>/anno/nfs_<name>.txt`` (tab separated ``x,y,w,h``); when a folder holds
more frames than annotation lines, the first ones are used. Sequence names drop the ``nfs_``.
"""

from __future__ import annotations

from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._frames import check_contiguous
from siamlightning.data.sources._text import read_lines
from siamlightning.data.sources._tolerant import build_sequences
from siamlightning.data.sources.otb import read_otb_boxes, sorted_frames
from siamlightning.errors import DataError

__all__ = ["load", "read_nfs_annotation"]

CACHE = False  # open_dataset does not cache this index by default (see SourceReader)

_SPLITS = {None: None, "test": None, "nfs30": 30, "nfs240": 240}


def read_nfs_annotation(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Raw NfS file -> boxes (N, 4) ``x, y, w, h``, lost (N,) bool, occluded (N,) bool, label."""
    p = Path(path)
    lines = read_lines(p, "annotation file")
    rows = np.zeros((len(lines), 6))
    label = ""
    for k, line in enumerate(lines):
        parts = line.split()
        if len(parts) < 5:
            raise DataError(
                f"expected 'id left top right bottom ...', got {len(parts)} values: {line!r}",
                path=p,
                line=k + 1,
            )
        try:
            numbers = [float(v) for v in parts[1:5]] + [float(v) for v in parts[6:8]]
        except ValueError:
            raise DataError(f"non-numeric value in {line!r}", path=p, line=k + 1) from None
        rows[k, : len(numbers)] = numbers
        label = label or (parts[9].strip('"') if len(parts) > 9 else "")
    boxes = np.concatenate([rows[:, :2], rows[:, 2:4] - rows[:, :2]], axis=1)
    return boxes, rows[:, 4] > 0, rows[:, 5] > 0, label


def _raw(ann: Path, fps: int) -> Sequence:
    name = ann.stem
    frames = sorted_frames(ann.parent / name)
    check_contiguous(frames, folder=ann.parent / name)
    boxes, lost, occluded, label = read_nfs_annotation(ann)
    meta: dict[str, Any] = {"annotation_file": str(ann), "folder": str(ann.parent), "fps": fps}
    n_rows, n = len(boxes), len(frames)
    if n_rows != n and abs(n_rows / n - 8) < 1:
        boxes, lost, occluded = boxes[::8], lost[::8], occluded[::8]
        meta["annotation_stride"] = 8
    if abs(len(boxes) - n) == 1:
        m = min(len(boxes), n)
        boxes, lost, occluded, frames = boxes[:m], lost[:m], occluded[:m], frames[:m]
    if len(boxes) != len(frames):
        raise DataError(
            f"{n_rows} annotation rows do not fit the {n} frames of {ann.parent / name} "
            "(equal counts, or about 8x as many rows, expected)",
            path=ann,
        )
    meta.update(lost=lost, label=label)
    return Sequence(name, [str(f) for f in frames], boxes, occluded=occluded, meta=meta)


def _repackaged(base: Path, ann: Path) -> Sequence:
    name = ann.stem.removeprefix("nfs_")
    boxes = read_otb_boxes(ann)
    frames = sorted_frames(base / "sequences" / name)
    if len(frames) < len(boxes):
        raise DataError(
            f"{len(boxes)} annotation lines but only {len(frames)} frames in "
            f"{base / 'sequences' / name}",
            path=ann,
        )
    check_contiguous(frames[: len(boxes)], folder=base / "sequences" / name)
    meta = {"annotation_file": str(ann), "folder": str(base / "sequences" / name), "fps": 30}
    return Sequence(name, [str(f) for f in frames[: len(boxes)]], boxes, meta=meta)


def load(
    root: str | Path,
    split: str | None = None,
    *,
    fps: int | None = None,
    sequences: SeqLike[str] | None = None,
) -> SequenceIndex:
    """Read NfS (raw or pytracking layout) at ``fps`` 30 or 240 into a `SequenceIndex`."""
    if split not in _SPLITS:
        raise ValueError(f"nfs: no split {split!r}; use None, 'test', 'nfs30' or 'nfs240'")
    if fps is not None and _SPLITS[split] is not None and fps != _SPLITS[split]:
        raise ValueError(f"nfs: split {split!r} contradicts fps={fps}")
    rate = int(fps or _SPLITS[split] or 30)
    if rate not in (30, 240):
        raise ValueError(f"nfs: fps must be 30 or 240, got {fps!r}")
    if root is None:
        raise ValueError("nfs: root (the folder of sequence folders) is required")
    base = Path(root)
    if not base.is_dir():
        raise DataError("NfS root folder does not exist", path=base)
    repackaged = (base / "anno").is_dir() and (base / "sequences").is_dir()
    if repackaged:
        if rate != 30:
            raise ValueError(
                "nfs: the repackaged (pytracking) layout holds the 30 fps version only"
            )
        anns = {p.stem.removeprefix("nfs_"): p for p in (base / "anno").glob("nfs_*.txt")}
    else:
        anns = {p.stem: p for p in base.glob(f"*/{rate}/*.txt")}
    if not anns:
        raise DataError(
            f"not an NfS root: no <seq>/{rate}/<seq>.txt (raw layout) and no anno/nfs_*.txt "
            "with sequences/ (pytracking layout)",
            path=base,
        )
    names = sorted(anns)
    if sequences is not None:
        names = [sequences] if isinstance(sequences, str) else list(sequences)
        missing = [n for n in names if n not in anns]
        if missing:
            raise DataError(f"no sequence(s) {missing}; available: {sorted(anns)}", path=base)

    def build(n: str) -> Sequence:
        return _repackaged(base, anns[n]) if repackaged else _raw(anns[n], rate)

    seqs = build_sequences(names, build, strict=True, source="nfs")
    return SequenceIndex(seqs, name="nfs", root=str(base))
