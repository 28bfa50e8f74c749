"""VOT2020+ anchor-based ("multistart") experiment: runner and folder scorer (spec metrics.md §2.6).

Runs follow votchallenge ``experiment/multistart.py``: for each anchor of ``anchor.value``
(``meta["values"]["anchor"]``; > 0 forward, < 0 backward) a fresh tracker is initialised on the
anchor frame's ground truth and run to the last frame, or back to frame 0 (frames fed in reverse
order), without resets. A sequence without anchors runs once, forward from frame 0 (the toolkit
refuses it). Each run is written in the toolkit's results layout,
``<folder>/baseline/<seq>/<seq>_<anchor:08d>.txt`` (line k = k-th frame of the run, ``1`` on the
anchor frame) plus ``..._time.value`` (seconds per frame, init included); the scorer also reads the
toolkit's binary ``.bin`` trajectories (a ``.txt`` wins when both exist, as in ``Trajectory.read``).

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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources.vot import vot_init_box
from siamlightning.errors import DataError
from siamlightning.evaluation.result import BenchmarkResult, Scores
from siamlightning.evaluation.result_folder import ResultFolder
from siamlightning.evaluation.vot_reset_scoring import runs_dir, sequence_runs_dir
from siamlightning.metrics.raster import raster_overlaps
from siamlightning.metrics.regions import (
    INIT,
    UNKNOWN,
    Mask,
    Region,
    Special,
    parse_region,
    read_regions,
    region_is_empty,
    rle_to_mask,
    write_regions,
)
from siamlightning.metrics.vot_anchor import (
    AnchorSequence,
    anchor_ar,
    anchor_eao_curve,
    find_anchors,
)
from siamlightning.metrics.vot_codes import check_anchor_codes
from siamlightning.tracking.base import Tracker, TrackResult

__all__ = [
    "ANCHOR_EAO_INTERVALS",
    "AnchorRun",
    "groundtruth_regions",
    "read_trajectory",
    "run_anchor",
    "run_vot_multistart",
    "score_vot_multistart_folder",
    "sequence_anchors",
]

ANCHOR_EAO_INTERVALS: dict[int, tuple[int, int]] = {y: (115, 755) for y in (2020, 2021, 2022)}
Output = Literal["auto", "mask", "polygon", "box"]


@dataclass
class AnchorRun:
    """One run from ``anchor``: regions (L,) in run order (frame 0 = `Special(1)`), seconds (L,)."""

    anchor: int
    reverse: bool
    regions: list[Region]
    times: np.ndarray


def sequence_anchors(seq: Sequence) -> list[tuple[int, bool]]:
    """``(frame, reverse)`` of every anchor run, forward ones first; ``[(0, False)]`` if none."""
    values = seq.meta.get("values", {}).get("anchor")
    forward, backward = find_anchors(values) if values is not None else ([], [])
    if not forward and not backward:
        return [(0, False)]
    return [(f, False) for f in forward] + [(b, True) for b in backward]


def _frames(anchor: int, reverse: bool, n: int) -> np.ndarray:
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


def _init_box(seq: Sequence, frame: int, region: Region) -> np.ndarray:
    """Init box (4,): a rectangle as is, a 4-point polygon via `vot_init_box`, else its bbox."""
    if isinstance(region, np.ndarray) and region.size in (4, 8):
        box = region if region.size == 4 else vot_init_box(region)
    else:
        box = seq.boxes[frame]  # masks: the reader's tight bounding box
    if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
        where = seq.meta.get("gt_regions_file") or seq.meta.get("annotation_file")
        raise DataError(
            f"sequence {seq.name!r}: no target to initialise on at frame {frame}", path=where
        )
    return np.asarray(box, dtype=np.float64)


def _output(res: TrackResult, tracker: Tracker, output: Output) -> Region:
    """The region to record: the binary mask, the polygon or the box (``auto``: the first given)."""
    if output in ("auto", "mask") and res.mask is not None:
        m = (
            res.mask
            if res.mask.dtype == bool
            else res.mask > getattr(tracker, "mask_threshold", 0.5)
        )
        if m.any():
            return Mask.from_image(m)
    if output in ("auto", "polygon", "mask") and res.polygon is not None:
        return np.asarray(res.polygon, dtype=np.float64)
    return np.asarray(res.box, dtype=np.float64)


def run_anchor(
    tracker: Tracker,
    seq: Sequence,
    anchor: int,
    reverse: bool,
    init_box: np.ndarray,
    *,
    output: Output = "auto",
    bar: tqdm | None = None,
) -> AnchorRun:
    """Initialise ``tracker`` on frame ``anchor`` and run to the end (or back to frame 0)."""
    frames = _frames(anchor, reverse, len(seq))
    regions: list[Region] = [Special(INIT)] + [Special(UNKNOWN)] * (frames.size - 1)
    times = np.zeros(frames.size)
    for k, f in enumerate(frames):
        image = seq.read_frame(int(f))
        t0 = time.perf_counter()
        if k == 0:
            tracker.init(image, init_box)
        else:
            regions[k] = _output(tracker.track(image), tracker, output)
        times[k] = time.perf_counter() - t0
        if bar is not None:
            bar.update(1)
    return AnchorRun(anchor=anchor, reverse=reverse, regions=regions, times=times)


def run_vot_multistart(
    tracker_factory: Callable[[], Tracker],
    index: SequenceIndex,
    out_dir: Path | None,
    *,
    output: Output = "auto",
    rank: int = 0,
    world_size: int = 1,
    progress: bool = True,
    name: str = "tracker",
) -> dict[str, list[AnchorRun]]:
    """Run every anchor of this rank's shard of ``index``; write the trajectories if asked."""
    shard = index.shard(rank, world_size)
    plan = [(seq, sequence_anchors(seq)) for seq in shard]
    total = sum(_frames(a, r, len(s)).size for s, anchors in plan for a, r in anchors)
    out: dict[str, list[AnchorRun]] = {}
    with tqdm(total=total, desc=f"VOT anchors {name}", unit="frame", disable=not progress) as bar:
        for seq, anchors in plan:
            gt = groundtruth_regions(seq)
            runs = [
                run_anchor(
                    tracker_factory(), seq, a, r, _init_box(seq, a, gt[a]), output=output, bar=bar
                )
                for a, r in anchors
            ]
            out[seq.name] = runs
            if out_dir is None:
                continue
            base = Path(out_dir) / "baseline" / seq.name
            for run in runs:
                stem = f"{seq.name}_{run.anchor:08d}"
                write_regions(base / f"{stem}.txt", run.regions)
                np.savetxt(base / f"{stem}_time.value", run.times, fmt="%.6f")
    return out


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
            frames = _frames(anchor, reverse, len(seq))
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
