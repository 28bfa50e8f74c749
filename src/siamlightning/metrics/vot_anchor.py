"""VOT2020+ anchor-based ("multistart") protocol, spec §2.6: A, R and EAO without resets.

The tracker starts at every anchor frame and runs to the sequence end (forward anchors, anchor
value > 0) or back to frame 0 (backward, < 0). Each such run gives an overlap sequence whose
frame 0 is the initialisation (overlap 0 against a non-empty GT, as the python toolkit writes
``Special(1)`` there). Matching votchallenge ``analysis/multistart.py``:

- a run fails at the first window of ``grace`` (10) consecutive frames with overlap <=
  ``threshold`` (0.1) and a non-empty GT; its ``progress`` is the window's first frame, else the
  run length;
- per sequence A = Σ overlaps[:progress] / Σ progress and R = Σ progress / Σ run length; the
  dataset A is weighted by Σ progress, R by the sequence length;
- EAO: overlaps after ``progress`` are zeroed; for j < run length the run adds mean(o[1:j+1]),
  beyond the end of a failed run it adds sum(o[1:]) / (j - 1) (the toolkit's j - 1); per
  sequence Φ / active, across sequences the active-weighted mean; the curve has ``high`` entries
  and EAO = mean(curve[low:high + 1]) on 0-based indices, VOT2020/2021 [115, 755].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

__all__ = [
    "AnchorSequence",
    "anchor_ar",
    "anchor_eao",
    "anchor_eao_curve",
    "anchor_progress",
    "find_anchors",
]


class AnchorSequence(NamedTuple):
    """One sequence: overlaps of each anchor run [(N_a,)], its length, GT-empty flags [(N_a,)]."""

    overlaps: Sequence[np.ndarray]
    length: int
    gt_empty: Sequence[np.ndarray] | None = None


def find_anchors(values: np.ndarray) -> tuple[list[int], list[int]]:
    """Per-frame ``anchor.value`` (N,) -> forward (> 0) and backward (< 0) anchor frames."""
    v = np.asarray(values, dtype=np.float64)
    return np.flatnonzero(v > 0).tolist(), np.flatnonzero(v < 0).tolist()


def anchor_progress(
    overlaps: np.ndarray,
    gt_empty: np.ndarray | None = None,
    *,
    threshold: float = 0.1,
    grace: int = 10,
) -> int:
    """One run's overlaps (N,) (+ GT-empty flags (N,)) -> frames tracked before the failure."""
    o = np.asarray(overlaps, dtype=np.float64)
    bad = o <= threshold
    if gt_empty is not None:
        bad &= ~np.asarray(gt_empty, dtype=bool)
    if grace <= 0 or o.size < grace:
        return int(o.size)
    run = np.concatenate([[0], np.cumsum(bad)])
    full = np.flatnonzero(run[grace:] - run[:-grace] == grace)  # windows [i, i + grace)
    return int(full[0]) if full.size else int(o.size)


def _runs(seq: AnchorSequence, threshold: float, grace: int) -> list[tuple[np.ndarray, int]]:
    empties = seq.gt_empty if seq.gt_empty is not None else [None] * len(seq.overlaps)
    if len(empties) != len(seq.overlaps):
        raise ValueError(f"{len(seq.overlaps)} anchor runs but {len(empties)} GT-empty arrays")
    out = []
    for o, e in zip(seq.overlaps, empties):
        o = np.asarray(o, dtype=np.float64).ravel()
        out.append((o, anchor_progress(o, e, threshold=threshold, grace=grace)))
    return out


def anchor_ar(
    sequences: Sequence[AnchorSequence], *, threshold: float = 0.1, grace: int = 10
) -> tuple[float, float]:
    """Anchor runs of each sequence -> dataset (accuracy, robustness)."""
    acc_num = acc_den = rob_num = rob_den = 0.0
    for seq in sequences:
        runs = _runs(seq, threshold, grace)
        progress = sum(p for _, p in runs)
        total = sum(o.size for o, _ in runs)
        tracked = sum(float(o[:p].sum()) for o, p in runs)
        acc = tracked / progress if progress > 0 else 0.0
        acc_num, acc_den = acc_num + acc * progress, acc_den + progress
        rob_num, rob_den = rob_num + progress / total * seq.length, rob_den + seq.length
    nan = float("nan")
    return (acc_num / acc_den if acc_den else nan, rob_num / rob_den if rob_den else nan)


def _partial(o: np.ndarray, progress: int, high: int) -> tuple[np.ndarray, np.ndarray]:
    """One run -> its (high,) contributions to Φ and to the active count."""
    phi, active = np.zeros(high), np.zeros(high)
    o = np.where(np.arange(o.size) < progress, o, 0.0)
    j = np.arange(1, high)
    inside = j < o.size
    tail = np.cumsum(o[1:])
    phi[1:][inside] = tail[j[inside] - 1] / j[inside]
    active[1:][inside] = 1
    if progress < o.size:  # failed: counts at every length beyond its end
        with np.errstate(divide="ignore", invalid="ignore"):
            phi[1:][~inside] = (tail[-1] if tail.size else 0.0) / (j[~inside] - 1)
        active[1:][~inside] = 1
    return phi, active


def anchor_eao_curve(
    sequences: Sequence[AnchorSequence],
    *,
    high: int = 755,
    threshold: float = 0.1,
    grace: int = 10,
) -> np.ndarray:
    """Anchor runs of each sequence -> EAO curve (high,) float64, index = frames after init."""
    num, den = np.zeros(high), np.zeros(high)
    for seq in sequences:
        phi, active = np.zeros(high), np.zeros(high)
        for o, p in _runs(seq, threshold, grace):
            dp, da = _partial(o, p, high)
            phi, active = phi + dp, active + da
        with np.errstate(divide="ignore", invalid="ignore"):
            phi = np.where(active > 0, phi / active, 0.0)
        num, den = num + phi * active, den + active
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, 0.0)


def anchor_eao(
    sequences: Sequence[AnchorSequence],
    *,
    interval: tuple[int, int] = (115, 755),
    threshold: float = 0.1,
    grace: int = 10,
) -> float:
    """Anchor runs of each sequence -> EAO: mean(curve[low:high + 1]) with ``high`` entries."""
    low, high = interval
    curve = anchor_eao_curve(sequences, high=high, threshold=threshold, grace=grace)
    part = curve[low : high + 1]
    return float(part.mean()) if part.size else float("nan")
