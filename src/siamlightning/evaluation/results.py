"""OPE result files (OTB/LaSOT/UAV/NfS ``<seq>.txt`` and ``times/<seq>_time.txt``).

A box file holds one ``x,y,w,h`` line per frame, comma separated, written with ``%.4f`` (NaN as
``nan``); the reader also accepts tab- and space-separated files as other toolkits write them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.errors import DataError

__all__ = [
    "SequenceResult",
    "box_file",
    "read_ope_result",
    "read_ope_results",
    "read_times",
    "time_file",
    "write_ope_result",
    "write_times",
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
