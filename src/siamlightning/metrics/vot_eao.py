"""Expected average overlap (EAO) of the VOT reset-based protocol, spec §2.5, vectorised.

Input, per sequence, ``overlaps (R, N)`` and ``codes (R, N)`` for its R runs of N frames: the
per-frame overlaps (no burn-in) and the trajectory codes (`REGION` = -1, 0 unknown, 1 init,
2 failure; special frames count as NaN overlaps). Variants:

- ``"legacy"`` (default): VOT MATLAB toolkit ``estimate_expected_overlap.m``. Re-init points
  P = [0] + [f + 5 for failures f if f + 5 <= N - 1]; fragments o[P_j .. P_j+1] inclusive with NaN
  set to 0, zero-padded to L_max (failed); the last fragment o[P_last .. N-1] NaN-padded; a run
  without failures is the raw run. Weight 1/R of its sequence; L_max = the longest sequence;
  curve[0] = Φ(1) = 1, curve[n] = Σ w·mean(row[1..n]) / Σ w over rows with row[n] not NaN (0 when
  there is none); EAO = the NaN-skipping mean of Φ(N_lo..N_hi), 1-based inclusive.
- ``"pysot"``: pysot ``eao_benchmark.py``: a point f + 5 == N is admitted too (0-based ``<= len``),
  every weight is 1/R of the *last* sequence (pysot iterates sequences sorted by name), the
  fragment that ends at such a point N has weight (N - P_j) / (N - P_j + 1) of that (its tag
  share: ``sum(tags[P_j:N+1]) / (N - P_j + 1)`` with tags only N long), the curve is float32.
- ``"votpy"``: votchallenge python toolkit ``analysis/supervised.py``: fragments o[init_i, fail_i)
  (failed) and o[init_last:] (successful), NaN as 0, weights 1, L_max = the longest fragment,
  curve[0] = mean of the first frames, EAO = mean(curve[N_lo : N_hi + 1]) (0-based, off by one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from siamlightning.metrics.regions import FAILURE, INIT, REGION

__all__ = ["EAO_INTERVALS", "Variant", "eao", "eao_curve", "eao_interval", "eao_score"]

Variant = Literal["legacy", "pysot", "votpy"]
EAO_INTERVALS: dict[int, tuple[int, int]] = {
    2015: (108, 371),
    2016: (108, 371),
    2017: (100, 356),
    2018: (100, 356),
    2019: (46, 291),
    2020: (115, 755),
    2021: (115, 755),
}


def eao_interval(year: int | str) -> tuple[int, int]:
    """VOT edition (2018 or ``"vot2018"``) -> its fixed EAO interval [N_lo, N_hi], 1-based."""
    key = int(str(year).lower().removeprefix("vot"))
    if key not in EAO_INTERVALS:
        raise ValueError(f"no EAO interval for VOT{key}; known: {sorted(EAO_INTERVALS)}")
    return EAO_INTERVALS[key]


def _check_variant(variant: str) -> None:
    if variant not in ("legacy", "pysot", "votpy"):
        raise ValueError(f"unknown VOT variant {variant!r}; known: legacy, pysot, votpy")


def _runs(
    overlaps: Sequence[np.ndarray], codes: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per sequence (R, N) arrays -> flat overlaps (NaN at special frames) and codes (T,),
    run lengths (Rt,), each run's sequence index (Rt,)."""
    if len(overlaps) != len(codes):
        raise ValueError(f"{len(overlaps)} overlap arrays for {len(codes)} code arrays")
    flat_o, flat_c, lengths, seq = [], [], [], []
    for s, (o, c) in enumerate(zip(overlaps, codes)):
        o, c = np.atleast_2d(np.asarray(o, dtype=np.float64)), np.atleast_2d(np.asarray(c))
        if o.shape != c.shape:
            raise ValueError(f"sequence {s}: overlaps {o.shape} but codes {c.shape}")
        flat_o.append(np.where(c == REGION, o, np.nan).ravel())
        flat_c.append(c.ravel().astype(np.int64))
        lengths.append(np.full(o.shape[0], o.shape[1], dtype=np.int64))
        seq.append(np.full(o.shape[0], s, dtype=np.int64))
    cat = np.concatenate
    if not flat_o:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return cat(flat_o), cat(flat_c), cat(lengths), cat(seq)


def _fragments(
    codes: np.ndarray, lengths: np.ndarray, variant: Variant, skipping: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fragments of all runs -> run index, first frame, length, failed, raw (NaN kept) and
    weight share (F,)."""
    offsets = np.cumsum(lengths) - lengths
    run_of = np.repeat(np.arange(lengths.size), lengths)
    frame = np.arange(codes.size) - offsets[run_of]
    fail_run, fail_at = run_of[codes == FAILURE], frame[codes == FAILURE]
    has_fail = np.bincount(fail_run, minlength=lengths.size) > 0
    if variant == "votpy":
        init_run, init_at = run_of[codes == INIT], frame[codes == INIT]
        n_init = np.bincount(init_run, minlength=lengths.size)
        k = np.arange(init_run.size) - (np.cumsum(n_init) - n_init)[init_run]  # i-th init
        n_fail = np.bincount(fail_run, minlength=lengths.size)
        paired = k < n_fail[init_run]
        fail_k = np.cumsum(n_fail) - n_fail  # first failure of each run in fail_at
        pick = np.minimum(fail_k[init_run] + k, max(fail_at.size - 1, 0))
        end = np.where(paired, np.append(fail_at, 0)[pick], lengths[init_run])
        last = (~paired) & (k == n_init[init_run] - 1)
        keep = (paired | last) & has_fail[init_run]
        run = np.concatenate([init_run[keep], np.flatnonzero(~has_fail)])
        start = np.concatenate([init_at[keep], np.zeros((~has_fail).sum(), np.int64)])
        stop = np.concatenate([end[keep], lengths[~has_fail]])
        failed = np.concatenate([paired[keep], np.zeros((~has_fail).sum(), bool)])
        return run, start, stop - start, failed, np.zeros(run.size, bool), np.ones(run.size)
    limit = lengths[fail_run] - (1 if variant == "legacy" else 0)
    ok = fail_at + skipping <= limit
    run = np.concatenate([np.arange(lengths.size), fail_run[ok]])
    start = np.concatenate([np.zeros(lengths.size, np.int64), fail_at[ok] + skipping])
    order = np.lexsort((start, run))
    run, start = run[order], start[order]
    failed = np.append(run[1:] == run[:-1], False)
    nxt = np.append(start[1:], 0)
    stop = np.where(failed, np.minimum(nxt + 1, lengths[run]), lengths[run])
    share = np.where(failed, (stop - start) / np.maximum(nxt + 1 - start, 1), 1.0)
    return run, start, stop - start, failed, ~has_fail[run], share


def eao_curve(
    overlaps: Sequence[np.ndarray],
    codes: Sequence[np.ndarray],
    *,
    variant: Variant = "legacy",
    skipping: int = 5,
) -> np.ndarray:
    """Per sequence overlaps (R, N) and codes (R, N) -> EAO curve (L_max,) float64;
    ``curve[i]`` is the expected average overlap Φ(i + 1) of sequences i + 1 frames long."""
    _check_variant(variant)
    o, c, lengths, seq = _runs(overlaps, codes)
    if lengths.size == 0:
        return np.zeros(0)
    run, start, length, failed, raw, share = _fragments(c, lengths, variant, skipping)
    if variant == "votpy":
        weight, l_max = np.ones(run.size), int(length.max())
    else:
        runs_per_seq = np.bincount(seq)
        last = np.full(seq.size, runs_per_seq[seq[-1]])  # pysot: runs of the last sequence
        per_run = 1.0 / (runs_per_seq[seq] if variant == "legacy" else last)
        weight, l_max = per_run[run] * share, int(lengths.max())
    length = np.minimum(length, l_max)
    first = np.cumsum(length) - length
    frag = np.repeat(np.arange(run.size), length)
    col = np.arange(frag.size) - first[frag]
    v = o[(np.cumsum(lengths) - lengths)[run][frag] + start[frag] + col]
    v = np.where(raw[frag], v, np.nan_to_num(v, nan=0.0))
    usable = ~np.isnan(v)
    body = np.where(usable & (col > 0), v, 0.0)
    csum = np.cumsum(body)
    head = first[frag]
    csum -= (csum - body)[head]  # prefix sums restarted at each fragment, over columns 1..
    gaps = ~usable & (col > 0)
    nans = np.cumsum(gaps)
    nans -= (nans - gaps)[head]
    csum = np.where(nans > 0, np.nan, csum)
    w = weight[frag]
    num = np.bincount(col, np.where(usable, w * csum, 0.0), l_max)
    den = np.bincount(col, np.where(usable, w, 0.0), l_max)
    cnt = np.bincount(col, usable, l_max)
    tail = failed & (length < l_max)  # failed fragments are zero-padded to L_max
    total = np.where(length > 0, csum[np.maximum(first + length - 1, 0)], 0.0)
    for arr, add in ((num, weight * total), (den, weight), (cnt, np.ones(run.size))):
        arr += np.cumsum(np.bincount(length[tail], add[tail], l_max + 1))[:l_max]
    n = np.arange(l_max, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = num / (n * den)
    if variant == "votpy":
        first_frames = np.bincount(col, np.where(col == 0, w * v, 0.0), l_max)[0]
        curve[0] = first_frames / den[0]
        return curve
    curve[cnt == 0] = 0.0
    curve[0] = 1.0
    return curve.astype(np.float32).astype(np.float64) if variant == "pysot" else curve


def eao_score(
    curve: np.ndarray, interval: tuple[int, int], *, variant: Variant = "legacy"
) -> float:
    """EAO curve (L,) and [N_lo, N_hi] -> the score: the mean of the curve over the interval."""
    _check_variant(variant)
    lo, hi = interval
    part = np.asarray(curve)[lo : hi + 1] if variant == "votpy" else np.asarray(curve)[lo - 1 : hi]
    if variant == "votpy":
        return float(np.mean(part)) if part.size else float("nan")
    part = part[~np.isnan(part)]
    return float(part.mean()) if part.size else float("nan")


def eao(
    overlaps: Sequence[np.ndarray],
    codes: Sequence[np.ndarray],
    *,
    year: int | str = 2018,
    interval: tuple[int, int] | None = None,
    variant: Variant = "legacy",
    skipping: int = 5,
) -> float:
    """Per sequence overlaps (R, N), codes (R, N) -> EAO over ``interval`` (default: the year's)."""
    curve = eao_curve(overlaps, codes, variant=variant, skipping=skipping)
    return eao_score(curve, interval or eao_interval(year), variant=variant)
