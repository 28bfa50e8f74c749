"""VOT region lines: special codes, rectangles, polygons and ``m`` RLE masks (spec §2.1).

One region per line, comma-separated (the votchallenge toolkit's ``region/io.py`` format):

- 1 value: a special code. In trajectories 0 = unknown/skipped, 1 = initialisation, 2 = failure.
- 4 values: a rectangle ``x, y, w, h``; an even count >= 6: a polygon ``x1, y1, x2, y2, ...``.
- ``m x0,y0,w,h,rle...``: a mask in the ``w x h`` box at ``(x0, y0)``; the RLE alternates runs
  starting with zeros, row-major inside the box.
- A NaN anywhere in a 2-, 4- or polygon-format line makes it `Special(0)` with ``nan=True``
  (a tracker that reported no region; `vot_codes.check_reset_codes` finds those read while
  tracking, which the scorers count and score as overlap 0, as pysot's toolkit does).

Rectangles and polygons are float64 arrays of shape (4,) and (2k,); masks are `Mask` and codes
`Special`. `read_regions` raises `DataError` naming the file and 1-based line of a bad value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from siamlightning.errors import DataError

__all__ = [
    "FAILURE",
    "INIT",
    "REGION",
    "UNKNOWN",
    "Mask",
    "Region",
    "Special",
    "format_region",
    "mask_to_rle",
    "parse_region",
    "read_regions",
    "region_codes",
    "region_is_empty",
    "rle_to_mask",
    "write_regions",
]

REGION, UNKNOWN, INIT, FAILURE = -1, 0, 1, 2  # per-frame codes; REGION = an ordinary region


@dataclass(frozen=True)
class Special:
    """A special trajectory entry: 0 unknown, 1 initialisation, 2 failure.

    ``nan`` marks a region line with NaN values read as unknown (not part of equality)."""

    code: int
    nan: bool = field(default=False, compare=False)


@dataclass(frozen=True, eq=False)
class Mask:
    """A binary mask (h, w) bool whose top-left pixel sits at image pixel ``offset = (x0, y0)``."""

    mask: np.ndarray
    offset: tuple[int, int] = (0, 0)

    @classmethod
    def from_image(cls, image: np.ndarray) -> Mask:
        """Full-image mask (H, W) -> `Mask` cropped to its foreground (empty: a 0 x 0 mask)."""
        m = np.asarray(image).astype(bool)
        rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        if rows.size == 0:
            return cls(np.zeros((0, 0), dtype=bool), (0, 0))
        y0, y1, x0, x1 = rows[0], rows[-1], cols[0], cols[-1]
        return cls(m[y0 : y1 + 1, x0 : x1 + 1].copy(), (int(x0), int(y0)))


Region = Special | Mask | np.ndarray


def mask_to_rle(mask: np.ndarray) -> list[int]:
    """Binary mask (h, w) -> run lengths, row-major, starting with a (possibly empty) zero run."""
    v = np.asarray(mask).astype(bool).ravel()
    if v.size == 0:
        return [0]
    change = np.flatnonzero(v[1:] != v[:-1]) + 1
    runs = np.diff(np.concatenate([[0], change, [v.size]])).tolist()
    return [0, *runs] if v[0] else runs


def rle_to_mask(rle: Sequence[int], width: int, height: int) -> np.ndarray:
    """Run lengths (zeros first) -> bool mask (height, width); ValueError if they overflow it."""
    runs = np.asarray(rle, dtype=np.int64)
    if runs.size and runs.min() < 0:
        raise ValueError(f"negative run length {int(runs.min())} in mask RLE")
    if width < 0 or height < 0:
        raise ValueError(f"negative mask size {width} x {height}")
    if runs.sum() > width * height:
        raise ValueError(f"mask RLE covers {int(runs.sum())} pixels, box has {width * height}")
    flags = np.arange(runs.size) % 2 == 1  # odd runs are ones
    v = np.repeat(flags, runs)
    out = np.zeros(width * height, dtype=bool)
    out[: v.size] = v
    return out.reshape(height, width)


def _parse_float(token: str) -> float:
    try:
        return float(token)
    except ValueError:
        raise ValueError(f"non-numeric value {token.strip()!r}") from None


def parse_region(text: str) -> Region:
    """One region line (no newline) -> `Special`, (4,) rectangle, (2k,) polygon or `Mask`."""
    line = text.strip()
    if not line:
        raise ValueError("empty line; expected a region")
    if line[0] == "m":
        tokens = line[1:].split(",")
        try:
            values = [int(t) for t in tokens]
        except ValueError:
            raise ValueError(f"mask line must hold integers, got {line[:40]!r}") from None
        if len(values) < 5:
            raise ValueError(f"mask line needs x0,y0,w,h and an RLE, got {len(values)} values")
        x0, y0, w, h = values[:4]
        return Mask(rle_to_mask(values[4:], w, h), (x0, y0))
    values = [_parse_float(t) for t in line.split(",")]
    n = len(values)
    if n == 1:
        if not math.isfinite(values[0]) or values[0] != int(values[0]):
            raise ValueError(
                f"a 1-value line is a special code (0, 1 or 2 in trajectories), got {line!r}"
            )
        return Special(int(values[0]))
    if n in (2, 4) or (n % 2 == 0 and n >= 6):
        if any(math.isnan(v) for v in values):
            return Special(UNKNOWN, nan=True)
        if n == 2:
            raise ValueError("2 values (a point) is not a region; expected 1, 4 or an even >= 6")
        return np.asarray(values, dtype=np.float64)
    raise ValueError(
        f"{n} values: expected 1 (special code), 4 (rectangle) or an even count >= 6 (polygon)"
    )


def _format_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def format_region(region: Region) -> str:
    """`Special`, (4,)/(2k,) array or `Mask` -> its region line (no newline)."""
    if isinstance(region, Special):
        return str(int(region.code))
    if isinstance(region, Mask):
        h, w = region.mask.shape
        rle = ",".join(str(r) for r in mask_to_rle(region.mask))
        return f"m{int(region.offset[0])},{int(region.offset[1])},{w},{h},{rle}"
    values = np.asarray(region, dtype=np.float64).ravel()
    if values.size == 1:
        return str(int(values[0]))
    return ",".join(_format_number(v) for v in values)


def read_regions(path: str | Path) -> list[Region]:
    """A region file (groundtruth.txt, <seq>_001.txt) -> one region per line, in order.

    Blank lines at the end of the file and a UTF-8 byte-order mark carry no region and are
    dropped; a blank line before the last region is an error naming its line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("region file not found", path=p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read region file: {exc}", path=p) from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    out: list[Region] = []
    for number, line in enumerate(lines, start=1):
        try:
            out.append(parse_region(line))
        except ValueError as exc:
            raise DataError(str(exc), path=p, line=number) from None
    return out


def write_regions(path: str | Path, regions: Iterable[Region]) -> None:
    """Write one region line per entry (creating parent folders), as `read_regions` reads them."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(format_region(r) + "\n" for r in regions))


def region_codes(regions: Sequence[Region]) -> np.ndarray:
    """Per-frame codes (N,) int8: the special code, or `REGION` (-1) for a region or mask;
    ValueError for a special code other than 0, 1, 2 (a ``-1`` line is not a region)."""
    bad = [r.code for r in regions if isinstance(r, Special) and r.code not in (0, 1, 2)]
    if bad:
        raise ValueError(f"trajectory code {bad[0]}: expected 0, 1 or 2")
    return np.array(
        [r.code if isinstance(r, Special) else REGION for r in regions], dtype=np.int8
    ).reshape(-1)


def region_is_empty(region: Region) -> bool:
    """votchallenge ``is_empty``: specials always; w or h <= 0; a flat polygon; a mask whose
    foreground box ends at column 0 or row 0 of the mask (the toolkit's ``mask_bounds`` quirk)."""
    if isinstance(region, Special):
        return True
    if isinstance(region, Mask):
        ys, xs = np.nonzero(region.mask)
        return xs.size == 0 or xs.max() == 0 or ys.max() == 0
    v = np.asarray(region, dtype=np.float64).ravel()
    if v.size == 4:
        return not (v[2] > 0 and v[3] > 0)
    return v[0::2].min() == v[0::2].max() or v[1::2].min() == v[1::2].max()
