"""`VOSMetric`: DAVIS J&F over sequences and objects, a torchmetrics `Metric` exact under DDP.

``update(j, f, *, seq=..., obj=...)`` takes ONE object of ONE sequence: its per-frame J and F
over the scored frames (semi-supervised DAVIS: frames 1..N-2), or `update_masks` its masks. Each
call stores one row (Mean / Recall / Decay of J and F, computed at once with
`siamlightning.metrics.vos.statistics`) in the ``cat`` states of `SequenceRowsMetric`, so every
rank gathers every row; `compute` keeps the first row of each (seq, obj) pair and averages over
objects in (seq, obj) order, so padded or duplicated sequences count once and a DDP run equals
the single-process one bit for bit, with uneven or empty ranks.
"""

from __future__ import annotations

import zlib
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from siamlightning.metrics.rows import RowSpecs, SequenceRowsMetric
from siamlightning.metrics.vos import boundary_measure, region_similarity, statistics

__all__ = ["DAVIS_COLUMNS", "VOSMetric", "VOSObjectRows", "sequence_key"]

# compute() keys -> the column names of davis2017-evaluation's global_results CSV
DAVIS_COLUMNS = {
    "jf_mean": "J&F-Mean",
    "j_mean": "J-Mean",
    "j_recall": "J-Recall",
    "j_decay": "J-Decay",
    "f_mean": "F-Mean",
    "f_recall": "F-Recall",
    "f_decay": "F-Decay",
}

_STATES: RowSpecs = {
    "seq_ids": ((0,), torch.int64),
    "obj_ids": ((0,), torch.int64),
    "stat_rows": ((0, 6), torch.float64),  # J mean, recall, decay, F mean, recall, decay
    "frame_rows": ((0,), torch.int64),
}


def sequence_key(seq: int | str) -> int:
    """Row id of a sequence: an int as is, a name as its `Sequence.uid` (63-bit, stable)."""
    if isinstance(seq, str):
        name = seq.encode()
        return zlib.crc32(name) | (zlib.adler32(name) << 31)
    return int(seq)


class VOSObjectRows(NamedTuple):
    """De-duplicated per-object rows in (seq, obj) order."""

    seq_ids: np.ndarray  # (K,) int64
    obj_ids: np.ndarray  # (K,) int64
    j: np.ndarray  # (K, 3) float64: mean, recall, decay
    f: np.ndarray  # (K, 3) float64
    frames: np.ndarray  # (K,) int64: scored frames


def _vector(x: Tensor | np.ndarray, what: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    a = a.astype(np.float64)
    if a.ndim != 1:
        raise ValueError(f"{what} must be a per-frame vector (n,), got shape {a.shape}")
    return a


class VOSMetric(SequenceRowsMetric):
    """DAVIS J&F, object-weighted (davis2017-evaluation's global results).

    Args:
        official_uint8: decay bins cut at uint8-wrapped indices as the reference does (only
            differs for objects scored on more than 255 frames; see `vos.statistics`).
        bound_th: F's boundary tolerance for `update_masks` (0.008 of the image diagonal).
        kwargs: passed to `torchmetrics.Metric`.

    `compute` returns ``jf_mean`` = (j_mean + f_mean) / 2, ``j_mean``, ``j_recall``,
    ``j_decay``, ``f_mean``, ``f_recall``, ``f_decay`` (float64 means over objects, NaN when
    there is none) and ``num_objects`` (int64); `DAVIS_COLUMNS` names them as the reference's
    CSV does. Under DDP pass the same ``seq`` (a name or `Sequence.uid`) on every rank, so that
    a sequence scored twice is recognised; without one, an id unique to this rank and call is
    made up.
    """

    higher_is_better = True

    def __init__(
        self, *, official_uint8: bool = False, bound_th: float = 0.008, **kwargs: Any
    ) -> None:
        super().__init__(_STATES, **kwargs)
        self.official_uint8 = official_uint8
        self.bound_th = bound_th

    def update(
        self,
        j: Tensor | np.ndarray,
        f: Tensor | np.ndarray,
        *,
        seq: int | str | None = None,
        obj: int = 1,
    ) -> None:
        """Add one object of one sequence: per-frame J (n,) and F (n,) of its scored frames."""
        jv, fv = _vector(j, "j"), _vector(f, "f")
        if jv.shape != fv.shape:
            raise ValueError(f"j {jv.shape} and f {fv.shape} must have one value per frame each")
        kw = {"official_uint8": self.official_uint8}
        row = [*statistics(jv, **kw), *statistics(fv, **kw)]
        dev = self.device
        sid = self._next_auto_id() if seq is None else sequence_key(seq)
        self.seq_ids.append(torch.tensor([sid], dtype=torch.int64, device=dev))
        self.obj_ids.append(torch.tensor([int(obj)], dtype=torch.int64, device=dev))
        self.stat_rows.append(torch.tensor([row], dtype=torch.float64, device=dev))
        self.frame_rows.append(torch.tensor([jv.size], dtype=torch.int64, device=dev))

    def update_masks(
        self,
        pred: np.ndarray,
        gt: np.ndarray,
        *,
        seq: int | str | None = None,
        obj: int = 1,
        void: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Score one object's masks (n, H, W) over its scored frames; returns J (n,), F (n,)."""
        j = region_similarity(pred, gt, void)
        f = boundary_measure(pred, gt, void, bound_th=self.bound_th)
        self.update(j, f, seq=seq, obj=obj)
        return j, f

    def object_rows(self) -> VOSObjectRows:
        """Rows de-duplicated by (seq, obj), first kept, in (seq, obj) order."""
        seq = self._cat("seq_ids").cpu().numpy()
        obj = self._cat("obj_ids").cpu().numpy()
        keys = np.stack([seq, obj], axis=1).reshape(-1, 2)
        _, first = np.unique(keys, axis=0, return_index=True)  # lexicographic (seq, obj)
        stats = self._cat("stat_rows").cpu().numpy().reshape(-1, 6)[first]
        frames = self._cat("frame_rows").cpu().numpy()[first]
        return VOSObjectRows(seq[first], obj[first], stats[:, :3], stats[:, 3:], frames)

    def compute(self) -> dict[str, Tensor]:
        """J&F-Mean and J/F Mean, Recall, Decay () float64 over objects; num_objects () int64."""
        rows = self.object_rows()
        if rows.seq_ids.size:
            j, f = rows.j.mean(axis=0), rows.f.mean(axis=0)
        else:
            j = f = np.full(3, np.nan)
        values = [(j[0] + f[0]) / 2, *j, *f]
        f64 = torch.float64
        out = {k: torch.tensor(float(v), dtype=f64) for k, v in zip(DAVIS_COLUMNS, values)}
        out["num_objects"] = torch.tensor(rows.seq_ids.size, dtype=torch.int64)
        return out
