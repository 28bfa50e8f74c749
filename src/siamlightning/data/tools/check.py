"""Dataset validation for ``siamlightning-prep check``: every frame file and box of an index.

Frames are read (and decoded, unless ``decode=False``) by a thread pool; OpenCV releases the GIL
while decoding. Each problem kind is counted and its first examples kept with the file (and the
annotation line for box problems: row ``i + 1`` of a one-row-per-frame ``.txt`` annotation).
`check_source` reads the dataset first so that every reader problem is reported too (see
`siamlightning.data.sources._tolerant.collect_problems`), each with its file and line.
"""

from __future__ import annotations

import collections
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._tolerant import collect_problems
from siamlightning.errors import DataError

__all__ = ["PROBLEMS", "CheckReport", "Problem", "check_dataset", "check_source"]

PROBLEMS: dict[str, str] = {
    "load_error": "the reader rejects a sequence (a tolerant load skips it) or the dataset",
    "empty_sequence": "a sequence without frames",
    "missing_frame": "frame file does not exist",
    "unreadable_frame": "frame file is empty or cannot be decoded",
    "truncated_frame": "JPEG without its end-of-image marker (cut short)",
    "size_mismatch": "decoded frame size differs from the sequence's meta width/height",
    "bad_box": "zero or negative width/height on a frame not flagged absent",
    "box_outside_image": "box does not overlap the image",
    "missing_mask": "mask file does not exist",
}


@dataclass
class Problem:
    """One finding: its kind (a `PROBLEMS` key), where it is, and what is wrong."""

    kind: str
    message: str
    path: str | None = None
    line: int | None = None
    sequence: str | None = None
    frame: int | None = None

    @classmethod
    def from_error(cls, kind: str, error: DataError) -> Problem:
        """The problem a reader's `DataError` describes (its message without the file prefix)."""
        msg, path, line = str(error), error.path, error.line
        where = f"{path}:{line}: " if line else f"{path}: "
        return cls(kind, msg[len(where) :] if path and msg.startswith(where) else msg, path, line)

    def __str__(self) -> str:
        out = self.message
        if self.path is not None:
            out = f"{self.path}:{self.line}: {out}" if self.line else f"{self.path}: {out}"
        if self.sequence is not None:
            frame = "" if self.frame is None else f", frame {self.frame}"
            out += f" (sequence {self.sequence!r}{frame})"
        return out


@dataclass
class CheckReport:
    """Counts per problem kind, the first ``max_examples`` of each, and dataset totals."""

    dataset: str
    max_examples: int = 20
    sequences: int = 0
    frames: int = 0
    absent: int = 0
    unannotated: int = 0
    skipped: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROBLEMS, 0))
    examples: dict[str, list[Problem]] = field(default_factory=dict)

    def add(self, problem: Problem) -> None:
        """Count ``problem``; keep it as an example while fewer than ``max_examples`` are kept."""
        self.counts[problem.kind] = self.counts.get(problem.kind, 0) + 1
        kept = self.examples.setdefault(problem.kind, [])
        if len(kept) < self.max_examples:
            kept.append(problem)

    @property
    def num_problems(self) -> int:
        """Total number of problems found."""
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return self.num_problems == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        out = {k: v for k, v in asdict(self).items() if k != "examples"}
        out.update(ok=self.ok, problems=self.num_problems)
        out["examples"] = {k: [asdict(p) for p in v] for k, v in self.examples.items()}
        return out

    def lines(self) -> list[str]:
        """Human-readable summary: totals, a count per problem kind, then the examples."""
        c = self.counts
        out = [
            f"{self.dataset}: {self.sequences} sequences, {self.frames} frames, {self.absent} "
            f"absent, {c['bad_box']} zero/negative boxes, "
            f"{c['unreadable_frame'] + c['missing_frame']} unreadable frames, "
            f"{self.skipped} sequences a tolerant load skips"
        ]
        for kind, n in c.items():
            if n:
                out.append(f"  {kind:<18} {n:>8}  {PROBLEMS.get(kind, '')}")
        for kind, examples in self.examples.items():
            out.append(f"first {len(examples)} {kind}:")
            out += [f"  {p}" for p in examples]
        verdict = "OK: no problems" if self.ok else f"FAILED: {self.num_problems} problems"
        out.append(f"{verdict} ({self.unannotated} unannotated frames, {self.seconds:.1f} s)")
        return out


def _frame(path: str, decode: bool) -> tuple[str | None, str, tuple[int, int] | None]:
    """(problem kind or None, message, (h, w) when decoded) for one frame file."""
    try:
        if decode:
            data = np.fromfile(path, dtype=np.uint8)
            size, head, tail = data.size, data[:2].tobytes(), data[-64:].tobytes()
        else:
            size = os.path.getsize(path)
            with open(path, "rb") as f:
                head = f.read(2)
                f.seek(max(size - 64, 0))
                tail = f.read(64)
    except FileNotFoundError:
        return "missing_frame", "frame file does not exist", None
    except OSError as exc:
        return "unreadable_frame", f"cannot read frame file ({exc})", None
    if size == 0:
        return "unreadable_frame", "frame file is empty", None
    if head == b"\xff\xd8" and b"\xff\xd9" not in tail:
        return "truncated_frame", f"JPEG has no end-of-image marker ({size} bytes)", None
    if not decode:
        return None, "", None
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        return "unreadable_frame", "frame file cannot be decoded as an image", None
    return None, "", img.shape[:2]


def _sequence(seq: Sequence, decode: bool) -> tuple[list[Problem], int, int]:
    """Problems of one sequence, its absent and unannotated frame counts."""
    n, name, meta = len(seq), seq.name, seq.meta
    out: list[Problem] = []
    if n == 0:
        out.append(
            Problem("empty_sequence", "sequence has no frames", meta.get("folder"), None, name)
        )
    wh = (meta.get("width"), meta.get("height"))
    known = all(isinstance(v, (int, np.integer)) and v > 0 for v in wh)
    size = np.tile(np.array(wh if known else (np.nan, np.nan), np.float64), (n, 1))
    for i in range(n):
        path = seq.frames[i] if seq.renderer is None else None
        if path is None:
            try:
                kind, msg, shape = None, "", seq.read_frame(i).shape[:2]
            except DataError as exc:
                kind, msg, shape = "unreadable_frame", str(exc), None
        else:
            kind, msg, shape = _frame(path, decode)
        if kind is not None:
            out.append(Problem(kind, msg, path, None, name, i))
        if shape is not None:
            if known and (shape[1], shape[0]) != wh:
                msg = f"frame is {shape[1]}x{shape[0]}, meta says {wh[0]}x{wh[1]}"
                out.append(Problem("size_mismatch", msg, path, None, name, i))
            size[i] = (shape[1], shape[0])
    b, ok = seq.boxes, ~seq.absent & np.isfinite(seq.boxes).all(axis=1)
    with np.errstate(invalid="ignore"):
        bad = ok & ((b[:, 2] <= 0) | (b[:, 3] <= 0))
        far = (b[:, 0] >= size[:, 0]) | (b[:, 1] >= size[:, 1]) | (b[:, 0] + b[:, 2] <= 0)
        outside = ok & ~bad & (far | (b[:, 1] + b[:, 3] <= 0))
    ann = meta.get("annotation_file")
    rows = ann is not None and str(ann).endswith(".txt")
    for kind, mask, what in (("bad_box", bad, "size"), ("box_outside_image", outside, "place")):
        for i in np.flatnonzero(mask):
            msg = f"box {b[i].tolist()} has a bad {what}" + (
                f" (image {size[i, 0]:.0f}x{size[i, 1]:.0f})" if what == "place" else ""
            )
            out.append(Problem(kind, msg, ann, int(i) + 1 if rows else None, name, int(i)))
    for i, m in enumerate(seq.masks or []):
        if m and not os.path.exists(m):
            out.append(Problem("missing_mask", "mask file does not exist", m, None, name, i))
    return out, int(seq.absent.sum()), int((~np.isfinite(b).all(axis=1)).sum())


def check_dataset(
    index: SequenceIndex,
    *,
    workers: int = 4,
    decode: bool = True,
    progress: bool = True,
    max_examples: int = 20,
) -> CheckReport:
    """Check every sequence of ``index`` (frames on ``workers`` threads); see `PROBLEMS`."""
    t0 = time.perf_counter()
    report = CheckReport(index.name, max_examples=max_examples, sequences=len(index))
    report.frames = index.num_frames
    bar = tqdm(total=report.frames, desc="checking", unit="frame", disable=not progress)

    def merge(result: tuple[list[Problem], int, int], n: int) -> None:
        for p in result[0]:
            report.add(p)
        report.absent += result[1]
        report.unannotated += result[2]
        bar.update(n)

    with ThreadPoolExecutor(max(1, workers)) as pool:
        pending: collections.deque = collections.deque()
        for seq in index:  # a bounded window keeps the results in sequence order
            pending.append((pool.submit(_sequence, seq, decode), len(seq)))
            if len(pending) >= 4 * max(1, workers):
                fut, n = pending.popleft()
                merge(fut.result(), n)
        while pending:
            fut, n = pending.popleft()
            merge(fut.result(), n)
    bar.close()
    report.seconds = time.perf_counter() - t0
    return report


def check_source(
    name: str,
    root: str | Path | None,
    split: str | None = None,
    *,
    options: dict[str, Any] | None = None,
    **kw: Any,
) -> CheckReport:
    """Read dataset ``name`` afresh (no cache) and `check_dataset` what loads; every problem
    the reader met is reported too (``load_error``: dataset-level ones first) and ``skipped``
    counts the sequences a tolerant (``strict=False``) load leaves out. ``kw``: as
    `check_dataset`."""
    from siamlightning.data import open_dataset

    index: SequenceIndex | None = None
    with collect_problems() as found:
        try:
            index = open_dataset(name, root, split, cache=False, **(options or {}))
        except DataError as exc:
            found.dataset.append(exc)
        except FileNotFoundError:  # open_dataset: the root folder itself is missing
            found.dataset.append(DataError(f"{name} root folder does not exist", path=root))
    if index is not None:
        report = check_dataset(index, **kw)
    else:
        report = CheckReport(name, max_examples=kw.get("max_examples", 20))
    for exc in found.dataset + found.skipped:
        report.add(Problem.from_error("load_error", exc))
    report.skipped = len(found.skipped)
    return report
