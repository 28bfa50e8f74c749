"""OPE (one-pass evaluation) metrics: success, precision, normalised precision, AO and SR.

A protocol (`OPEProtocol`, presets in `PROTOCOLS`, defined in
`siamlightning.metrics.ope_protocols`) fixes how one toolkit turns a whole sequence's
predictions into per-frame IoU and centre errors (first frame, invalid GT, repair of invalid
predictions, absent / invisible frames, rounding, image bounds) and how the curves are scored:
``"otb"``, ``"uav"``, ``"nfs"`` (OTB v1.0 MATLAB), ``"lasot"`` (LaSOT MATLAB), ``"pysot"``,
``"trackingnet"`` (devkit) and ``"got10k"`` (frame-pooled AO/SR). The metrics are torchmetrics
`Metric`s that store one row of counts per sequence and de-duplicate rows by ``seq_id`` in
`compute`, so they sync exactly under DDP, with padded/duplicated sequences and with ranks
holding different numbers of sequences (GOT-10k's frame pooling included: its rows hold the
per-sequence IoU sum and counts, summed in ``seq_id`` order).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from siamlightning.metrics.ope_protocols import (
    PROTOCOLS,
    FrameErrors,
    FrameRule,
    OPEProtocol,
    get_protocol,
)
from siamlightning.metrics.rows import RowSpecs, SequenceRowsMetric

__all__ = [
    "PROTOCOLS",
    "FrameErrors",
    "FrameRule",
    "OPEProtocol",
    "OPESequenceMetric",
    "OPESummaryMetric",
    "Precision",
    "PrecisionCurve",
    "SequenceCurves",
    "SequenceStats",
    "SuccessAUC",
    "SuccessCurve",
    "get_protocol",
    "ope_frame_details",
    "ope_frame_errors",
    "ope_sequence_curves",
    "ope_sequence_stats",
    "ope_targets",
]

Flags = Tensor | np.ndarray | None


def _as_boxes(x: Tensor | np.ndarray, what: str) -> Tensor:
    t = x.detach() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))
    t = t.to(device="cpu", dtype=torch.float64)
    if t.ndim != 2 or t.shape[1] != 4:
        raise ValueError(f"{what} boxes must have shape (N, 4), got {tuple(t.shape)}")
    return t


def ope_frame_details(
    pred: Tensor | np.ndarray,
    gt: Tensor | np.ndarray,
    protocol: str | OPEProtocol = "otb",
    *,
    absent: Flags = None,
    bound: tuple[float, float] | None = None,
    visible: Flags = None,
) -> FrameErrors:
    """One whole sequence (N, 4), (N, 4) -> `FrameErrors` (IoU, CE, NCE, repaired, scored)."""
    p, g = _as_boxes(pred, "predicted"), _as_boxes(gt, "ground-truth")
    if p.shape[0] != g.shape[0]:
        raise ValueError(f"{p.shape[0]} predicted boxes for {g.shape[0]} ground-truth boxes")
    if g.shape[0] == 0:
        raise ValueError("empty sequence: no boxes to evaluate")
    proto = get_protocol(protocol)
    return proto.frame_details(p, g, absent=absent, bound=bound, visible=visible)


def ope_frame_errors(
    pred: Tensor | np.ndarray,
    gt: Tensor | np.ndarray,
    protocol: str | OPEProtocol = "otb",
    *,
    absent: Flags = None,
    bound: tuple[float, float] | None = None,
    visible: Flags = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One whole sequence (N, 4), (N, 4) -> float64 IoU (N,), CE (N,), repaired (N,) bool."""
    e = ope_frame_details(pred, gt, protocol, absent=absent, bound=bound, visible=visible)
    return e.iou, e.ce, e.repaired


class SequenceStats(NamedTuple):
    """One sequence as counts: curves (T,) of scored frames passing each threshold, and totals.

    ``iou_sum`` sums the scored frames' IoU clipped to >= 0 (NaN counts 0); ``sr50`` / ``sr75``
    count IoU > 0.5 / 0.75; ``denominator`` is what the curves are divided by.
    """

    success: Tensor
    precision: Tensor
    norm_precision: Tensor
    iou_sum: float
    sr50: int
    sr75: int
    scored: int
    denominator: int
    repaired: int
    num_frames: int


def _counts(values: Tensor, thresholds: tuple[float, ...], above: bool) -> Tensor:
    if not thresholds:
        return torch.zeros(0, dtype=torch.float64)
    t = torch.tensor(thresholds, dtype=torch.float64)
    hit = values[:, None] > t if above else values[:, None] <= t
    return hit.sum(dim=0, dtype=torch.float64)


def ope_sequence_stats(
    pred: Tensor | np.ndarray,
    gt: Tensor | np.ndarray,
    protocol: str | OPEProtocol = "otb",
    *,
    absent: Flags = None,
    bound: tuple[float, float] | None = None,
    visible: Flags = None,
) -> SequenceStats:
    """One whole sequence (N, 4), (N, 4) -> `SequenceStats` (threshold counts and totals)."""
    proto = get_protocol(protocol)
    e = ope_frame_details(pred, gt, proto, absent=absent, bound=bound, visible=visible)
    iou = e.iou  # unscored frames are NaN: they pass no threshold
    scored_iou = torch.nan_to_num(iou[e.scored], nan=0.0).clamp(min=0.0)
    return SequenceStats(
        success=_counts(iou, proto.iou_thresholds, above=True),
        precision=_counts(e.ce, proto.ce_thresholds, above=False),
        norm_precision=_counts(e.nce, proto.nce_thresholds, above=False),
        iou_sum=float(scored_iou.sum()),
        sr50=int((iou > 0.5).sum()),
        sr75=int((iou > 0.75).sum()),
        scored=int(e.scored.sum()),
        denominator=e.denominator,
        repaired=int(e.repaired.sum()),
        num_frames=int(iou.shape[0]),
    )


class SequenceCurves(NamedTuple):
    """One sequence: success (T_iou,), precision (T_ce,) float64, repaired and frame counts."""

    success: Tensor
    precision: Tensor
    repaired: int
    num_frames: int


def ope_sequence_curves(
    pred: Tensor | np.ndarray,
    gt: Tensor | np.ndarray,
    protocol: str | OPEProtocol = "otb",
    *,
    absent: Flags = None,
    bound: tuple[float, float] | None = None,
    visible: Flags = None,
) -> SequenceCurves:
    """One whole sequence (N, 4), (N, 4) -> fraction of frames with IoU > t and with CE <= t."""
    s = ope_sequence_stats(pred, gt, protocol, absent=absent, bound=bound, visible=visible)
    return SequenceCurves(
        s.success / s.denominator, s.precision / s.denominator, s.repaired, s.num_frames
    )


def ope_targets(sequence: Any) -> dict[str, Any]:
    """A `Sequence`'s scoring inputs: ``gt``, ``absent``, ``bound`` (W, H) and ``visible``.

    ``bound`` comes from ``meta["width"/"height"]`` (None when unknown); ``visible`` is
    ``meta["cover"] > 0`` (GOT-10k) when present, else ``~absent``. Use as
    ``metric.update(pred, **ope_targets(seq), seq_id=seq.uid)``.
    """
    meta = sequence.meta
    absent = np.asarray(sequence.absent, dtype=bool)
    w, h = meta.get("width"), meta.get("height")
    cover = meta.get("cover")
    return {
        "gt": sequence.boxes,
        "absent": absent,
        "bound": None if w is None or h is None else (float(w), float(h)),
        "visible": ~absent if cover is None else np.asarray(cover) > 0,
    }


class OPESequenceMetric(SequenceRowsMetric):
    """Base of the OPE metrics: one row of counts per sequence; `compute` returns every summary
    number (`OPESummaryMetric`), its subclasses one number or curve each (`SuccessAUC`...).

    Args:
        protocol: an `OPEProtocol` or its name (``"otb"``, ``"lasot"``, ``"got10k"``, ...).
        drop_empty_curves: drop sequences whose whole curve sums to 0 before averaging (the
            OTB-m/LaSOT-m ``plotDrawSave.m`` quirk; off by default like pysot/pytracking/got10k;
            ignored by frame-pooled protocols).
        kwargs: passed to `torchmetrics.Metric`.

    ``update(pred, gt, *, seq_id=None, absent=None, bound=None, visible=None)`` takes ONE WHOLE
    sequence, (N, 4) tensors or arrays, and optionally its (N,) absent flags (LaSOT, pysot), image
    size ``(W, H)`` and (N,) visible mask (GOT-10k); `ope_targets` extracts them from a
    `Sequence`. Rows are de-duplicated by ``seq_id`` (first kept) and reduced in ``seq_id``
    order, so a DDP run equals the single-process run bit for bit. Without ``seq_id`` an id
    unique to this rank and call is made up (negative, never equal to a `Sequence.uid`): under
    DDP pass ``seq_id=sequence.uid`` so duplicated sequences are recognised across ranks.
    """

    higher_is_better = True

    def __init__(
        self, protocol: str | OPEProtocol = "otb", *, drop_empty_curves: bool = False, **kwargs: Any
    ) -> None:
        p = get_protocol(protocol)
        n_iou, n_ce, n_nce = len(p.iou_thresholds), len(p.ce_thresholds), len(p.nce_thresholds)
        row_specs: RowSpecs = {
            "seq_ids": ((0,), torch.int64),
            "success_rows": ((0, n_iou), torch.float64),  # counts of frames passing each t
            "precision_rows": ((0, n_ce), torch.float64),
            "norm_precision_rows": ((0, n_nce), torch.float64),
            "iou_rows": ((0, 4), torch.float64),  # iou_sum, sr50 count, sr75 count, scored
            "denominator_rows": ((0,), torch.int64),
            "repaired_rows": ((0,), torch.int64),
            "frame_rows": ((0,), torch.int64),
        }
        super().__init__(row_specs, **kwargs)
        self.protocol = p
        self.drop_empty_curves = drop_empty_curves

    def update(
        self,
        pred: Tensor | np.ndarray,
        gt: Tensor | np.ndarray,
        *,
        seq_id: int | None = None,
        absent: Flags = None,
        bound: tuple[float, float] | None = None,
        visible: Flags = None,
    ) -> None:
        """Add one whole sequence: pred (N, 4), gt (N, 4), optional (N,) flags and (W, H)."""
        s = ope_sequence_stats(pred, gt, self.protocol, absent=absent, bound=bound, visible=visible)
        sid = self._next_auto_id() if seq_id is None else int(seq_id)
        dev = self.device

        def scalar(v: float | int, dtype: torch.dtype) -> Tensor:
            return torch.tensor([v], dtype=dtype, device=dev)

        self.seq_ids.append(scalar(sid, torch.int64))
        self.success_rows.append(s.success.to(dev)[None])
        self.precision_rows.append(s.precision.to(dev)[None])
        self.norm_precision_rows.append(s.norm_precision.to(dev)[None])
        iou_row = [s.iou_sum, float(s.sr50), float(s.sr75), float(s.scored)]
        self.iou_rows.append(torch.tensor([iou_row], dtype=torch.float64, device=dev))
        self.denominator_rows.append(scalar(s.denominator, torch.int64))
        self.repaired_rows.append(scalar(s.repaired, torch.int64))
        self.frame_rows.append(scalar(s.num_frames, torch.int64))

    def _unique_rows(self) -> dict[str, Tensor]:
        """Raw rows de-duplicated by seq_id (first kept), in seq_id order."""
        ids = self._cat("seq_ids")
        uniq, inverse = torch.unique(ids, sorted=True, return_inverse=True)
        first = torch.full_like(uniq, ids.shape[0]).scatter_reduce(
            0, inverse, torch.arange(ids.shape[0], device=ids.device), reduce="amin"
        )
        out = {"seq_ids": uniq}
        for name in self._row_specs:
            if name != "seq_ids":
                out[name.removesuffix("_rows")] = self._cat(name)[first]
        return out

    def sequence_rows(self) -> dict[str, Tensor]:
        """Per sequence, in seq_id order: ids (S,), curves (S, T) as fractions, counts (S,)."""
        r = self._unique_rows()
        den = r["denominator"].to(torch.float64)[:, None]
        iou = r["iou"]
        return {
            "seq_ids": r["seq_ids"],
            "success": r["success"] / den,
            "precision": r["precision"] / den,
            "norm_precision": r["norm_precision"] / den,
            "repaired": r["repaired"],
            "frames": r["frame"],
            "denominator": r["denominator"],
            "scored": iou[:, 3].to(torch.int64),
            "iou_sum": iou[:, 0],
            "sr50_count": iou[:, 1],
            "sr75_count": iou[:, 2],
        }

    def _mean_curve(self, rows: Tensor) -> Tensor:
        if self.drop_empty_curves:
            rows = rows[rows.sum(dim=1) > 0]
        if rows.shape[0] == 0:
            return torch.full(rows.shape[1:], float("nan"), dtype=rows.dtype, device=rows.device)
        return rows.mean(dim=0)

    def _pooled(self) -> dict[str, Tensor]:
        r = self._unique_rows()
        total = r["denominator"].sum().to(torch.float64)
        iou = r["iou"].sum(dim=0)
        return {
            "ao": iou[0] / total,
            "sr50": iou[1] / total,
            "sr75": iou[2] / total,
            "success_curve": r["success"].sum(dim=0) / total,
            "scored_frames": iou[3].to(torch.int64),
        }

    def compute(self) -> dict[str, Tensor]:
        """Summary: success_auc, precision_20 (), curves (T,), counts; see the protocol's keys.

        Per-sequence protocols give ``success_auc``, ``precision_20`` and, where the toolkit
        has it (lasot, pysot, trackingnet), ``norm_precision_20`` with their curves; the
        frame-pooled got10k gives ``ao``, ``sr50``, ``sr75``, ``success_curve`` (101 points)
        and ``scored_frames``. All give num_sequences, num_frames and repaired_frames.
        """
        p = self.protocol
        rows = self.sequence_rows()
        if p.pooled:
            out = self._pooled()
        else:
            success = self._mean_curve(rows["success"])
            out = {"success_auc": p.success_score(success)}
            if p.ce_thresholds:
                precision = self._mean_curve(rows["precision"])
                out["precision_20"] = p.precision_score(precision)
            if p.nce_thresholds:
                norm = self._mean_curve(rows["norm_precision"])
                out["norm_precision_20"] = p.norm_precision_score(norm)
            out["success_curve"] = success
            if p.ce_thresholds:
                out["precision_curve"] = precision
            if p.nce_thresholds:
                out["norm_precision_curve"] = norm
        out["num_sequences"] = torch.tensor(rows["seq_ids"].shape[0], dtype=torch.int64)
        out["num_frames"] = rows["frames"].sum()
        out["repaired_frames"] = rows["repaired"].sum()
        return out


class OPESummaryMetric(OPESequenceMetric):
    """Every OPE number at once: `compute` returns the dict whose keys name metrics.json fields
    (the scorer's metric; `SuccessAUC`, `Precision`... each return one of its entries)."""


class SuccessCurve(OPESequenceMetric):
    """Mean over sequences of the fraction of frames with IoU > t, t = 0, 0.05, ..., 1: (21,)."""

    def compute(self) -> Tensor:
        """Success curve (21,) float64."""
        return super().compute()["success_curve"]


class SuccessAUC(OPESequenceMetric):
    """Area under the success curve: the mean of its 21 points (a perfect tracker gets 20/21)."""

    def compute(self) -> Tensor:
        """AUC () float64."""
        return super().compute()["success_auc"]


class PrecisionCurve(OPESequenceMetric):
    """Mean over sequences of the fraction of frames with centre error <= t px, t = 0..50: (51,)."""

    def compute(self) -> Tensor:
        """Precision curve (51,) float64."""
        return super().compute()["precision_curve"]


class Precision(OPESequenceMetric):
    """Precision at 20 pixels."""

    def compute(self) -> Tensor:
        """Precision () float64."""
        return super().compute()["precision_20"]
