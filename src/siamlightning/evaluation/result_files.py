"""Result files, both ways: OPE box and times files, and the layouts of the official toolkits
and of pysot / pytracking.

A box file holds one ``x,y,w,h`` line per frame, comma separated, written with ``%.4f`` (NaN as
``nan``); the reader also accepts tab- and space-separated files as other toolkits write them.
The layouts differ in where a sequence's file lives:

| layout | file of sequence ``s`` (run ``k``) |
|---|---|
| ``otb`` (also LaSOT, UAV, NfS, pytracking, pysot OPE) | ``<dir>/s.txt`` (+ ``times/s_time.txt``) |
| ``got10k`` | ``<dir>/s/s_00k.txt`` and ``<dir>/s/s_time.txt`` |
| ``vot`` (reset-based, box trajectories) | ``<dir>/baseline/s/s_00k.txt`` |

A sequence's file is found whatever its case and ``-``/``_``/``.`` spelling (pysot writes OTB's
``Jogging-1`` as ``jogging_1.txt``, got10k's toolkit as ``Jogging.1.txt``): see
`siamlightning.evaluation.result_folder`.
"""

from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.errors import DataError
from siamlightning.evaluation.result_folder import (
    ResultFolder,
    check_results_folder,
    single_target_alias,
)

__all__ = [
    "LAYOUTS",
    "SequenceResult",
    "box_file",
    "detect_layout",
    "find_result_file",
    "read_ope_result",
    "read_ope_results",
    "read_results",
    "read_times",
    "time_file",
    "write_ope_result",
    "write_result",
    "write_times",
    "write_trackingnet_submission",
]

_SPLIT = re.compile(r"[,\s]+")


@dataclass
class SequenceResult:
    """One sequence's trajectory: boxes (N, 4) float64 x,y,w,h; times (N,) seconds; Sequence.uid.

    ``repeats`` holds the boxes (N, 4) of further runs of a repeated OPE (GOT-10k's
    ``<seq>_002.txt``, ``_003``...); ``boxes`` is run 1.
    """

    name: str
    boxes: np.ndarray
    times: np.ndarray
    uid: int
    repeats: tuple[np.ndarray, ...] = field(default_factory=tuple)

    @property
    def runs(self) -> list[np.ndarray]:
        """Every run's boxes (N, 4), run 1 first."""
        return [self.boxes, *self.repeats]

    @property
    def fps(self) -> float:
        """Frames per second over frames 1..N-1 (the init frame excluded); NaN if unknown."""
        t = float(np.sum(self.times[1:]))
        n = len(self.times) - 1
        return n / t if n > 0 and t > 0 and math.isfinite(t) else float("nan")


def box_file(out_dir: str | Path, name: str) -> Path:
    """Path of sequence ``name``'s box file: ``<out_dir>/<name>.txt``."""
    return Path(out_dir) / f"{name}.txt"


def time_file(out_dir: str | Path, name: str) -> Path:
    """Path of sequence ``name``'s times file: ``<out_dir>/times/<name>_time.txt``."""
    return Path(out_dir) / "times" / f"{name}_time.txt"


def write_ope_result(path: str | Path, boxes: np.ndarray) -> None:
    """Write boxes (N, 4) x,y,w,h as N comma-separated ``%.4f`` lines (NaN as ``nan``)."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {b.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, b, fmt="%.4f", delimiter=",")


def write_times(path: str | Path, seconds: np.ndarray) -> None:
    """Write per-frame times (N,) in seconds, one ``%.6f`` value per line."""
    t = np.asarray(seconds, dtype=np.float64).reshape(-1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, t, fmt="%.6f")


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("result file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read result file: {e}", path=path) from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():  # trailing blank lines are harmless
        lines.pop()
    return lines


def _parse(path: Path, lines: list[str], width: int, what: str) -> np.ndarray:
    out = np.empty((len(lines), width), dtype=np.float64)
    for k, line in enumerate(lines):
        fields = [f for f in _SPLIT.split(line.strip()) if f]
        if len(fields) != width:
            raise DataError(
                f"expected {width} values ({what}), got {len(fields)}: {line.strip()!r}",
                path=path,
                line=k + 1,
            )
        try:
            out[k] = [float(f) for f in fields]
        except ValueError:
            bad = next(f for f in fields if not _is_float(f))
            raise DataError(
                f"non-numeric value {bad!r} in {line.strip()!r} ({what})", path=path, line=k + 1
            ) from None
    return out


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _check_len(path: Path, n: int, expected_len: int | None) -> None:
    if expected_len is not None and n != expected_len:
        raise DataError(f"{n} lines but the sequence has {expected_len} frames", path=path)


def read_ope_result(path: str | Path, expected_len: int | None = None) -> np.ndarray:
    """Read an OTB-style box file -> (N, 4) float64; DataError naming path and line if malformed."""
    path = Path(path)
    boxes = _parse(path, _read_lines(path), 4, "x,y,w,h")
    _check_len(path, boxes.shape[0], expected_len)
    return boxes


def read_times(path: str | Path, expected_len: int | None = None) -> np.ndarray:
    """Read a per-frame times file -> (N,) float64 seconds; DataError naming path and line."""
    path = Path(path)
    times = _parse(path, _read_lines(path), 1, "seconds")[:, 0]
    _check_len(path, times.shape[0], expected_len)
    return times


def read_ope_results(result_dir: str | Path, index: SequenceIndex) -> dict[str, SequenceResult]:
    """Read ``<dir>/<seq>.txt`` for every sequence of ``index`` (times NaN where no times file)."""
    out: dict[str, SequenceResult] = {}
    for seq in index:
        n = len(seq)
        boxes = read_ope_result(box_file(result_dir, seq.name), expected_len=n)
        tf = time_file(result_dir, seq.name)
        times = read_times(tf, expected_len=n) if tf.exists() else np.full(n, np.nan)
        out[seq.name] = SequenceResult(name=seq.name, boxes=boxes, times=times, uid=seq.uid)
    return out


LAYOUTS = ("otb", "got10k", "vot")


def find_result_file(folder: str | Path, name: str, run: int = 1) -> Path:
    """The result file of sequence ``name`` in any known layout, whatever its case and
    ``-``/``_``/``.`` spelling; `DataError` when the folder is missing or empty, or the file is
    missing or twice."""
    return ResultFolder(check_results_folder(folder)).file(name, run)


def detect_layout(folder: str | Path) -> str:
    """Guess a result layout: ``vot`` (baseline/), ``got10k`` (per-sequence dirs) or ``otb``."""
    folder = Path(folder)
    if (folder / "baseline").is_dir() or (folder / "longterm").is_dir():
        return "vot"
    if any(p.is_dir() and (p / f"{p.name}_001.txt").is_file() for p in folder.iterdir()):
        return "got10k"
    return "otb"


def write_result(
    folder: str | Path,
    name: str,
    boxes: np.ndarray,
    *,
    layout: str = "otb",
    run: int = 1,
    times: np.ndarray | None = None,
) -> Path:
    """Write one run's boxes (N, 4) of sequence ``name`` in ``layout``; returns the box file."""
    folder = Path(folder)
    if layout == "otb":
        path = folder / f"{name}.txt"
        if times is not None:
            write_times(folder / "times" / f"{name}_time.txt", times)
    elif layout == "got10k":
        path = folder / name / f"{name}_{run:03d}.txt"
        if times is not None:
            write_times(folder / name / f"{name}_time.txt", times)
    elif layout == "vot":
        path = folder / "baseline" / name / f"{name}_{run:03d}.txt"
    else:
        raise ValueError(f"unknown result layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    write_ope_result(path, boxes)
    return path


def write_trackingnet_submission(folder: str | Path, results: Mapping[str, np.ndarray]) -> Path:
    """TrackingNet server submission: ``<seq>.txt`` files zipped flat into ``<folder>.zip``."""
    folder = Path(folder)
    for name, boxes in results.items():
        write_ope_result(folder / f"{name}.txt", boxes)
    archive = folder.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(results):
            z.write(folder / f"{name}.txt", arcname=f"{name}.txt")
    return archive


def _times_file(box: Path, name: str) -> Path | None:
    """``name``: the sequence as the box file spells it (its stem, or its run folder's name)."""
    for p in (box.parent / "times" / f"{name}_time.txt", box.parent / f"{name}_time.txt"):
        if p.is_file():
            return p
    return None


def read_results(
    folder: str | Path, index: SequenceIndex, run: int = 1, *, repeats: bool = True
) -> dict[str, SequenceResult]:
    """Read run ``run`` of every sequence of ``index`` from ``folder`` in any OPE-style layout.

    With ``repeats`` (and ``run=1``), the further runs of a numbered layout (``<seq>_002.txt``,
    ``_003``... next to ``<seq>_001.txt``, as GOT-10k's toolkit writes them) are read too, up to
    the first missing number, into `SequenceResult.repeats`: scoring pools them like the toolkit.
    """
    listing = ResultFolder(check_results_folder(folder))
    names = [seq.name for seq in index]
    out: dict[str, SequenceResult] = {}
    for seq in index:
        box = listing.file(seq.name, run, alias=single_target_alias(seq.name, names))
        boxes = read_ope_result(box, expected_len=len(seq))
        nested = box.parent != listing.folder
        tf = _times_file(box, box.parent.name if nested else box.stem)
        times = read_times(tf, expected_len=len(seq)) if tf else np.full(len(seq), np.nan)
        more: list[np.ndarray] = []
        if repeats and run == 1 and nested:
            numbered, k = listing.runs(seq.name), 2
            while (nxt := numbered.get(k)) is not None:
                more.append(read_ope_result(nxt, expected_len=len(seq)))
                k += 1
        out[seq.name] = SequenceResult(
            name=seq.name, boxes=boxes, times=times, uid=seq.uid, repeats=tuple(more)
        )
    return out
