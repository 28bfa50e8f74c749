"""Numbered frame files stay aligned with annotation lines: a gap in the numbering is an error.

Readers that list a folder pair frame ``k`` with annotation line ``k``. A folder whose numbering
skips a frame (``0050.jpg`` missing) but holds one more at the end (``0121.jpg``) has the right
count and would shift every box after the gap by one frame. `check_contiguous` raises
`DataError` naming the folder, the first missing frame and the first frame after the gap; it
works on the listing the reader already made (no image is opened). Readers that build frame
names from the line count (LaSOT, UAV123, GOT-10k's fast path) pair by name, not position: a
file missing there stays a missing frame (skipped at training time, reported by ``check``).
"""

from __future__ import annotations

from collections.abc import Sequence as SeqLike
from pathlib import Path

from siamlightning.errors import DataError

__all__ = ["check_contiguous", "frame_number"]


def frame_number(path: str | Path) -> int | None:
    """The frame number of ``0050.jpg`` (50); None when the stem is not all digits."""
    stem = Path(path).stem
    return int(stem) if stem.isdigit() else None


def _name(number: int, like: Path, first: Path) -> str:
    """``number`` written as the folder writes its frames: ``first``'s zero padding, ``like``'s
    suffix."""
    stem = first.stem
    width = len(stem) if len(stem) > 1 and stem.startswith("0") else 0
    return f"{number:0{width}d}{like.suffix}"


def _gap(folder: Path, missing: str, after: str | None, first: str, last: str) -> DataError:
    tail = f"the next frame present is {after}" if after else "no later frame is present"
    return DataError(
        f"frame numbering has a gap: {missing} is missing and {tail} (frames {first} to "
        f"{last} expected without gaps); frames and annotation lines would be misaligned",
        path=folder,
    )


def check_contiguous(
    frames: SeqLike[Path], *, folder: str | Path, first: int | None = None
) -> None:
    """`DataError` unless numbered ``frames`` (sorted) are ``first, first+1, ...``.

    ``first=None`` accepts a numbering from 0 or 1. Frames whose names are not all digits are
    not checked (their order is the name order).
    """
    numbers = [frame_number(p) for p in frames]
    if not numbers or any(n is None for n in numbers):
        return
    start = first if first is not None else (numbers[0] if numbers[0] in (0, 1) else 1)
    d = Path(folder)
    for k, n in enumerate(numbers):
        if n == start + k:
            continue
        if n is not None and n < start + k:  # two files with one number (0001.jpg, 0001.png)
            raise DataError(
                f"frame number {n} is used twice ({frames[k - 1].name}, {frames[k].name}); "
                "frames and annotation lines would be misaligned",
                path=d,
            )
        like, ref = frames[k], frames[0]
        last = _name(start + len(numbers) - 1, like, ref)
        raise _gap(d, _name(start + k, like, ref), like.name, _name(start, like, ref), last)
