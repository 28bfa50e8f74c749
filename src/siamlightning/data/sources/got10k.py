"""GOT-10k layout: ``<root>/{train,val,test}/list.txt`` + one folder per listed sequence.

Each sequence folder holds ``00000001.jpg...`` (natural order), ``groundtruth.txt`` (``x,y,w,h``
comma separated; in the test split only the first line: the other rows are NaN and
``meta["first_frame_only"]`` is True), the per-frame labels ``absence.label`` (0/1),
``cover.label`` (0-8: the visible fraction in eighths, 0 = fully hidden) and
``cut_by_image.label`` (0/1), and ``meta_info.ini`` (``[METAINFO]`` then ``key: value`` lines).
Missing label or ini files (the test split has none) simply leave those fields out.

Mapping: ``absent`` = absence == 1 (their boxes are NaN; the file repeats a box there);
``occluded`` = cover in 1..7 (partly hidden, by an occluder or the image border);
``out_of_view`` = cut_by_image == 1; ``meta["cover"]`` (N,) uint8 and ``meta["visible_ratio"]`` =
cover / 8 (pytracking's convention; what `data.tools.writers.write_got10k` writes back);
every ini key goes to ``meta`` as a string, except ``resolution: (W, H)`` -> ``meta["width"]``,
``meta["height"]`` (ints). The ``"got10k"`` OPE protocol scores frames with cover > 0.

``split``: ``"train"``, ``"val"`` or ``"test"``; ``None`` reads ``root`` itself when it holds a
``list.txt`` (a split folder), else ``train``. ``list_file`` replaces ``list.txt`` (e.g.
pytracking's ``got10k_vot_train_split.txt``, one name per line).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._frames import check_contiguous
from siamlightning.data.sources._text import read_lines as _lines
from siamlightning.data.sources._tolerant import build_sequences, listed_folders
from siamlightning.data.sources.otb import read_otb_boxes, sorted_frames
from siamlightning.errors import DataError

__all__ = ["load", "read_label", "read_meta_info"]

_SPLITS = (None, "train", "val", "test")

#: Bumped when the parsed output changes (the index cache keys on it); CACHE: training-size
#: dataset, cached by `open_dataset` (see `siamlightning.data.index.cache`).
VERSION = 1
CACHE = True


def cache_files(root: str | Path, split: str | None = None, **options: Any) -> list[Path]:
    """Files whose modification time invalidates a cached index: the split's ``list.txt``."""
    base = Path(root)
    if (base / "list.txt").is_file():
        return [base / "list.txt"]
    return [base / (split or "train"), base / (split or "train") / "list.txt"]


def read_label(path: str | Path, n: int) -> np.ndarray:
    """A ``*.label`` file (one integer per line, ``n`` lines) -> (n,) int64."""
    p = Path(path)
    lines = _lines(p)
    if len(lines) != n:
        raise DataError(f"{len(lines)} lines for a sequence of {n} frames", path=p)
    out = np.empty(n, dtype=np.int64)
    for k, line in enumerate(lines):
        try:
            out[k] = int(line.strip())
        except ValueError:
            raise DataError(f"expected an integer, got {line!r}", path=p, line=k + 1) from None
    return out


def read_meta_info(path: str | Path) -> dict[str, Any]:
    """``meta_info.ini`` -> {key: value str}; ``resolution: (W, H)`` -> width, height ints."""
    p = Path(path)
    out: dict[str, Any] = {}
    for k, line in enumerate(_lines(p)):
        s = line.strip()
        if not s or s.startswith("["):
            continue
        key, sep, value = s.partition(":")
        if not sep:
            raise DataError(f"expected 'key: value', got {line!r}", path=p, line=k + 1)
        key, value = key.strip(), value.strip()
        if key == "resolution":
            try:
                w, h = (int(v) for v in ast.literal_eval(value))
            except (ValueError, TypeError, SyntaxError):
                msg = f"expected 'resolution: (W, H)', got {line!r}"
                raise DataError(msg, path=p, line=k + 1) from None
            out.update(width=w, height=h)
        else:
            out[key] = value
    return out


def _frames(folder: Path, n_lines: int) -> list[Path]:
    """``00000001.jpg``.. built from the line count when the files bear it out (names, not
    positions: a file missing inside stays a missing frame), else listed (a gap in the
    numbering is then a `DataError`: listed frames pair with lines by position)."""
    built = [folder / f"{i:08d}.jpg" for i in range(1, n_lines + 1)]
    if n_lines > 1 and built[0].is_file() and built[-1].is_file():
        if not (folder / f"{n_lines + 1:08d}.jpg").exists():
            return built  # 3 stats instead of listing thousands of folders
    frames = sorted_frames(folder)
    check_contiguous(frames, folder=folder, first=1)
    return frames


def _sequence(folder: Path) -> Sequence:
    ann = folder / "groundtruth.txt"
    boxes = read_otb_boxes(ann)
    frames = _frames(folder, len(boxes))
    n = len(frames)
    meta: dict[str, Any] = {"annotation_file": str(ann), "folder": str(folder)}
    if len(boxes) == 1 and n > 1:
        boxes = np.concatenate([boxes, np.full((n - 1, 4), np.nan)])
        meta["first_frame_only"] = True
    elif len(boxes) != n:
        raise DataError(f"{len(boxes)} annotation lines but {n} frames in {folder}", path=ann)
    labels = {
        key: read_label(folder / f"{key}.label", n)
        for key in ("absence", "cover", "cut_by_image")
        if (folder / f"{key}.label").is_file()
    }
    if (folder / "meta_info.ini").is_file():
        meta.update(read_meta_info(folder / "meta_info.ini"))
    absent = labels["absence"] == 1 if "absence" in labels else None
    occluded = None
    if "cover" in labels:
        cover = labels["cover"]
        if ((cover < 0) | (cover > 8)).any():
            k = int(np.argmax((cover < 0) | (cover > 8)))
            raise DataError(
                f"cover must be 0-8, got {cover[k]}", path=folder / "cover.label", line=k + 1
            )
        meta["cover"] = cover.astype(np.uint8)
        meta["visible_ratio"] = cover / 8.0
        occluded = (cover >= 1) & (cover <= 7)
    if absent is not None:
        boxes[absent] = np.nan
    cut = labels["cut_by_image"] == 1 if "cut_by_image" in labels else None
    return Sequence(
        folder.name,
        [str(f) for f in frames],
        boxes,
        absent=absent,
        occluded=occluded,
        out_of_view=cut,
        meta=meta,
    )


def load(
    root: str | Path,
    split: str | None = None,
    *,
    sequences: SeqLike[str] | None = None,
    list_file: str | Path | None = None,
    strict: bool = True,
) -> SequenceIndex:
    """Read one GOT-10k split into a `SequenceIndex` in ``list.txt`` order.

    ``strict=False`` (training mixes) drops sequences whose files raise `DataError`, with
    one warning naming the first files and lines, instead of failing the whole dataset.
    """
    if split not in _SPLITS:
        raise ValueError(f"got10k: no split {split!r}; use 'train', 'val', 'test' or None")
    if root is None:
        raise ValueError("got10k: root (the folder holding train/, val/, test/) is required")
    base = Path(root)
    if not base.is_dir():
        raise DataError("GOT-10k root folder does not exist", path=base)
    if split is None and (base / "list.txt").is_file():
        split_dir = base
    else:
        split_dir = base / (split or "train")
    lst = Path(list_file) if list_file is not None else split_dir / "list.txt"
    if not lst.is_file():
        raise DataError(
            f"not a GOT-10k root: {lst} does not exist (expected <root>/<split>/list.txt)",
            path=base,
        )
    names = listed_folders(lst, split_dir)
    if sequences is not None:
        wanted = [sequences] if isinstance(sequences, str) else list(sequences)
        missing = [w for w in wanted if w not in names]
        if missing:
            raise DataError(f"no sequence(s) {missing} in the list", path=lst)
        names = wanted
    seqs = build_sequences(
        [split_dir / s for s in names], _sequence, strict=strict, source="got10k"
    )
    return SequenceIndex(seqs, name="got10k", root=str(base))
