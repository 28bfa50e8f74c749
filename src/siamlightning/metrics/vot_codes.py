"""Validate the special codes of VOT trajectory files before they are scored (spec §2.1).

Reset-based runs (VOT2013-2019 "baseline", `check_reset_codes`) are what every official runner
writes: the result is pre-filled with ``0`` (unknown), frame 0 gets ``1``; a failure writes
``2`` on its frame and the tracker is re-initialised (``1``) ``skip_initialize`` frames later,
or later still past ``skip_tags`` frames, or never when the sequence ends first:

- votchallenge/toolkit ``vot/tracker/results.py:164`` (``[Special(UNKNOWN)] * length``),
  ``vot/experiment/multirun.py:285-307`` (``skip_initialize``: 1 by default, 5 in the VOT2018
  stack; ``skip_tags`` skips further);
- votchallenge/toolkit-legacy ``experiment/experiment_supervised.m:66`` (``repmat({0}, ...)``),
  ``:118-148`` (``2``; ``start = index + skip_initialize``; past the end: stop; ``1`` on init);
- pysot ``tools/test.py:80-101`` (``1``; ``2`` then ``frame_counter = idx + 5``; ``0`` between).

So after a ``2`` come zero or more ``0`` lines, then a ``1`` or the end of the file (a run may
end on ``2`` or on zeros). A region line with NaN values while tracking is a tracker that reported
no region: pysot's toolkit scores it as overlap 0 (its reader keeps the NaN rectangle,
``toolkit/datasets/vot.py``, and the Cython ``vot_overlap`` gives 0), so `check_reset_codes` returns
those frames for the scorer to count and score as 0 instead of refusing the file. Anything else
(a code other than 0/1/2, a ``0`` while tracking, a
``1`` with no failure before it, a region before the re-initialisation, a first line that is not
``1``) is a `DataError` naming the file, the line and the value. The toolkits' own readers parse
a 1-value line as ``float`` (``vot/region/io.py:165-166``, pysot ``datasets/vot.py``
``map(float, ...)``), so ``1.0`` / ``2.0`` / ``0.0`` are the codes (`regions.parse_region`).

Anchor-based runs (VOT2020+ multistart, `check_anchor_codes`): ``vot/experiment/multistart.py``
writes ``1`` on the anchor frame and the tracker's output after it; a ``0`` there is an
unknown (empty) output, which the analysis scores as an empty region. No resets, so ``1`` later
on, ``2`` and other codes are errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from siamlightning.errors import DataError
from siamlightning.metrics.regions import FAILURE, INIT, UNKNOWN, Region, Special

__all__ = ["check_anchor_codes", "check_reset_codes"]

_TRACKING, _SKIPPING = "tracking", "skipping"


def _value(region: Region) -> str:
    if isinstance(region, Special):
        if region.code == UNKNOWN:
            return "0 (unknown)"
        return str(region.code)
    return "a region"


def _first_line(regions: Sequence[Region], path: Path | None) -> None:
    if not regions:
        raise DataError("empty trajectory: expected 1 (initialisation) on line 1", path=path)
    first = regions[0]
    if not (isinstance(first, Special) and first.code == INIT):
        raise DataError(
            f"the first line must be 1 (initialisation), got {_value(first)}", path=path, line=1
        )


def check_reset_codes(regions: Sequence[Region], *, path: str | Path | None = None) -> list[int]:
    """A reset-based run's regions (N,) -> the 0-based frames holding a NaN region while tracking
    (to score as overlap 0), or `DataError` at the first bad code (module doc).

    Tolerated, as the official runners write them: ``1``, regions, ``2``, any number of ``0``
    (``skip_initialize - 1`` normally, fewer at the end, more past ``skip_tags``), ``1``..."""
    p = Path(path) if path is not None else None
    _first_line(regions, p)
    state, failed_at, nan_frames = _TRACKING, 0, []
    for line, region in enumerate(regions[1:], start=2):
        if state == _TRACKING and isinstance(region, Special) and region.nan:
            nan_frames.append(line - 1)
            continue
        code = region.code if isinstance(region, Special) else None
        if code not in (None, UNKNOWN, INIT, FAILURE):
            raise DataError(
                f"trajectory code {code}: expected 0 (skipped), 1 (initialisation), "
                "2 (failure) or a region",
                path=p,
                line=line,
            )
        if state == _TRACKING:
            if code == FAILURE:
                state, failed_at = _SKIPPING, line
            elif code == UNKNOWN:
                raise DataError(
                    f"{_value(region)} while tracking: a 0 only follows a failure (2), "
                    "until the re-initialisation (1)",
                    path=p,
                    line=line,
                )
            elif code == INIT:
                raise DataError(
                    "1 (re-initialisation) with no failure (2) before it since the last "
                    "initialisation; expected a region or 2",
                    path=p,
                    line=line,
                )
        elif code == INIT:
            state = _TRACKING
        elif code != UNKNOWN:
            raise DataError(
                f"{_value(region)} after the failure on line {failed_at}: expected 0 (skipped "
                "frames) until the re-initialisation 1",
                path=p,
                line=line,
            )
    return nan_frames


def check_anchor_codes(regions: Sequence[Region], *, path: str | Path | None = None) -> None:
    """An anchor run's regions (L,) -> None, or `DataError`: ``1`` first, then regions or ``0``."""
    p = Path(path) if path is not None else None
    _first_line(regions, p)
    for line, region in enumerate(regions[1:], start=2):
        if isinstance(region, Special) and region.code != UNKNOWN:
            raise DataError(
                f"trajectory code {region.code} in an anchor-based (multistart) run: after the "
                "1 on its first line only regions or 0 (unknown) are expected",
                path=p,
                line=line,
            )
