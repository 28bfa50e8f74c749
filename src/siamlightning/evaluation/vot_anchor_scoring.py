"""VOT2020+ anchor-based ("multistart") experiment: its runs, trajectories and folder scorer
(spec metrics.md §2.6).

The runs of a sequence are its anchors (`sequence_anchors`, as votchallenge
``experiment/multistart.py`` defines them); `vot_anchor_runner` makes them. The scorer reads
``.txt`` region lines and the toolkit's binary ``.bin`` trajectories (a ``.txt`` wins when both
exist, as in ``Trajectory.read``).

Scoring follows ``analysis/multistart.py``: per-frame rasterised overlaps against the exact ground
truth (``meta["gt_regions_file"]``, else the polygons / boxes), bounded by the image size; the
init frame and ``0`` (unknown) entries are empty regions (overlap 0 against a non-empty GT, 1
against an empty one); masks read from text files are cropped to their foreground as the
toolkit's default ``mask_optimize_read`` does (its quirk included: a mask whose foreground lies in
the first column of its box becomes empty). A, R and EAO then come from
`siamlightning.metrics.vot_anchor`. The toolkit's ``_ignore`` object masks are not supported.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError
from siamlightning.evaluation.result import BenchmarkResult, Scores
from siamlightning.evaluation.result_folder import ResultFolder
from siamlightning.evaluation.vot_reset_scoring import runs_dir, sequence_runs_dir
from siamlightning.metrics.raster import raster_overlaps
from siamlightning.metrics.regions import (
    UNKNOWN,
    Mask,
    Region,
    Special,
    parse_region,
    read_regions,
    region_is_empty,
    rle_to_mask,
)
from siamlightning.metrics.vot_anchor import (
    AnchorSequence,
    anchor_ar,
    anchor_eao_curve,
    find_anchors,
)
from siamlightning.metrics.vot_codes import check_anchor_codes

__all__ = [
    "ANCHOR_EAO_INTERVALS",
    "anchor_frames",
    "groundtruth_regions",
    "read_trajectory",
    "score_vot_multistart_folder",
    "sequence_anchors",
]

ANCHOR_EAO_INTERVALS: dict[int, tuple[int, int]] = {y: (115, 755) for y in (2020, 2021, 2022)}


def sequence_anchors(seq: Sequence) -> list[tuple[int, bool]]:
    """``(frame, reverse)`` of every anchor run, forward ones first; ``[(0, False)]`` if none."""
    values = seq.meta.get("values", {}).get("anchor")
    forward, backward = find_anchors(values) if values is not None else ([], [])
    if not forward and not backward:
        return [(0, False)]
    return [(f, False) for f in forward] + [(b, True) for b in backward]


def anchor_frames(anchor: int, reverse: bool, n: int) -> np.ndarray:
    """Frame numbers (L,) of the run from ``anchor``, in run order."""
    return np.arange(anchor, -1, -1) if reverse else np.arange(anchor, n)


def _toolkit_mask(m: Mask) -> Mask:
    """The toolkit's ``Mask(optimize=True)``: crop to the foreground; empty if it ends in col 0."""
    ys, xs = np.nonzero(m.mask)
    if xs.size == 0 or xs.max() == 0:
        return Mask(np.zeros((0, 0), dtype=bool), (0, 0))
    crop = m.mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return Mask(crop, (int(m.offset[0] + xs.min()), int(m.offset[1] + ys.min())))


def _as_read(regions: list[Region]) -> list[Region]:
    return [_toolkit_mask(r) if isinstance(r, Mask) else r for r in regions]


def groundtruth_regions(seq: Sequence) -> list[Region]:
    """Exact per-frame GT (N,): ``meta["gt_regions_file"]`` lines, else polygons / boxes rows."""
    path = seq.meta.get("gt_regions_file")
    if path is None:
        rows = seq.polygons if seq.polygons is not None else seq.boxes
        return [r.copy() if np.isfinite(r).all() else Special(UNKNOWN) for r in rows]
    p = Path(path)
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) != len(seq):
        raise DataError(f"{len(lines)} regions for a sequence of {len(seq)} frames", path=p)
    out: list[Region] = []
    for k, line in enumerate(lines, start=1):
        s = line.strip()
        try:  # blank / single-value lines (a code, or NaN) are "no annotation"
            out.append(parse_region(s) if "," in s else Special(UNKNOWN))
        except ValueError as exc:
            raise DataError(str(exc), path=p, line=k) from None
    return _as_read(out)


def _read_bin(p: Path) -> list[Region]:
    """The toolkit's ``write_trajectory_binary`` format (little endian, version 1)."""
    data, at = p.read_bytes(), 0

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal at
        out = struct.unpack_from("<" + fmt, data, at)
        at += struct.calcsize("<" + fmt)
        return out

    out: list[Region] = []
    try:
        _, length = take("hI")
        for _ in range(length):
            (kind,) = take("B")
            if kind == 0:
                out.append(Special(int(take("I")[0])))
            elif kind in (1, 2):
                n = 2 if kind == 1 else take("H")[0]
                out.append(np.asarray(take(f"{2 * n}f"), dtype=np.float64))
            elif kind == 3:
                x0, y0, w, h, n = take("hhHHH")
                out.append(Mask(rle_to_mask(take(f"{n}H"), w, h), (x0, y0)))
            else:
                raise ValueError(f"region type {kind} (4 = point) is not a tracking region")
    except (struct.error, ValueError) as exc:
        raise DataError(f"bad binary trajectory after {len(out)} regions: {exc}", path=p) from None
    return out


def read_trajectory(path: str | Path) -> list[Region]:
    """A trajectory file (text region lines, or the toolkit's ``.bin``) -> its regions, in order."""
    p, binary = Path(path), False
    if p.suffix != ".bin" and p.is_file():
        with p.open("rb") as fh:
            binary = fh.read(2) == b"\x01\x00"  # the toolkit's version-1 header
    if p.suffix == ".bin" or binary:
        return _read_bin(p)
    return _as_read(read_regions(p))


def _trajectory(run_dir: Path, stem: str, length: int) -> list[Region]:
    files = [run_dir / f"{stem}{ext}" for ext in (".txt", ".bin")]
    found = next((f for f in files if f.is_file()), None)
    if found is None:
        raise DataError(f"no trajectory {stem}.txt or {stem}.bin", path=run_dir)
    regions = read_trajectory(found)
    if len(regions) != length:
        raise DataError(f"{len(regions)} regions for a run of {length} frames", path=found)
    check_anchor_codes(regions, path=found)
    return regions


def score_vot_multistart_folder(
    folder: str | Path,
    index: SequenceIndex,
    *,
    year: int | str = 2020,
    interval: tuple[int, int] | None = None,
    threshold: float = 0.1,
    grace: int = 10,
) -> BenchmarkResult:
    """EAO, accuracy and robustness of the anchor runs under ``folder`` (or its ``baseline/``)
    -> a `BenchmarkResult` of kind ``vot_multistart``."""
    listing = ResultFolder(runs_dir(folder))
    key = int(str(year).lower().removeprefix("vot"))
    if interval is None and key not in ANCHOR_EAO_INTERVALS:
        raise ValueError(
            f"no anchor EAO interval for VOT{key}; known: {list(ANCHOR_EAO_INTERVALS)}"
        )
    low, high = interval or ANCHOR_EAO_INTERVALS[key]
    sequences: list[AnchorSequence] = []
    per_seq: dict[str, dict[str, float]] = {}
    for seq in index:
        gt, size = groundtruth_regions(seq), seq.image_size()
        empty = np.array([region_is_empty(r) for r in gt], dtype=bool)
        overlaps, empties = [], []
        run_dir = sequence_runs_dir(listing, seq.name)
        for anchor, reverse in sequence_anchors(seq):
            frames = anchor_frames(anchor, reverse, len(seq))
            traj = _trajectory(run_dir, f"{run_dir.name}_{anchor:08d}", frames.size)
            overlaps.append(raster_overlaps(traj, [gt[f] for f in frames], size))
            empties.append(empty[frames])
        one = AnchorSequence(overlaps, len(seq), empties)
        sequences.append(one)
        acc, rob = anchor_ar([one], threshold=threshold, grace=grace)
        per_seq[seq.name] = {"accuracy": acc, "robustness": rob, "anchors": len(overlaps)}
    acc, rob = anchor_ar(sequences, threshold=threshold, grace=grace)
    curve = anchor_eao_curve(sequences, high=high, threshold=threshold, grace=grace)
    part = curve[low : high + 1]  # the toolkit's mean(curve[low:high + 1]) on `high` entries
    overall = Scores(
        values={
            "eao": float(part.mean()) if part.size else float("nan"),
            "accuracy": float(acc),
            "robustness": float(rob),
        },
        curves={"eao": curve.tolist()},
        counts={"num_sequences": len(index)},
    )
    return BenchmarkResult(
        kind="vot_multistart",
        protocol=f"vot{key}-anchor",
        overall=overall,
        sequences=per_seq,
        eao_interval=(int(low), int(high)),
    )
