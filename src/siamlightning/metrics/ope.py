"""OPE (one-pass evaluation) metrics: success and precision curves, averaged per sequence.

A protocol (`OPEProtocol`) fixes how one toolkit turns a whole sequence's predictions into
per-frame IoU and centre error (first frame, invalid GT, repair of invalid predictions) and which
thresholds make the curves. Implemented: ``"otb"``, the OTB v1.0 MATLAB toolkit
(``calcSeqErrRobust.m`` + ``genPerfMat.m``). The metrics are torchmetrics `Metric`s that store one
row per sequence and de-duplicate rows by ``seq_id`` in `compute`, so they sync correctly under
DDP, with padded/duplicated sequences and with ranks holding different numbers of sequences.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat
from torchmetrics.utilities.distributed import gather_all_tensors

from siamlightning.metrics.geometry import box_iou, center_error

__all__ = [
    "PROTOCOLS",
    "OPEMetric",
    "OPEMetrics",
    "OPEProtocol",
    "Precision",
    "PrecisionCurve",
    "SequenceCurves",
    "SuccessAUC",
    "SuccessCurve",
    "get_protocol",
    "ope_frame_errors",
    "ope_sequence_curves",
]


def _otb_frame_errors(pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """OTB-m rules: (N, 4), (N, 4) -> IoU (N,), CE (N,), repaired (N,) bool.

    1. Frames >= 1 whose prediction has a non-finite value or w/h <= 0, and whose GT has no NaN,
       take the previous frame's (possibly repaired) prediction; frame 0 is the raw one.
    2. Frame 0 is then set to the GT.
    3. GT rows with any of x, y, w, h <= 0 or NaN (x = 0 too) get IoU = -1 (fail every threshold)
       and CE = -1 (precise at every threshold).
    """
    n = gt.shape[0]
    bad = ~torch.isfinite(pred).all(dim=1) | (pred[:, 2] <= 0) | (pred[:, 3] <= 0)
    repaired = bad & ~torch.isnan(gt).any(dim=1)
    repaired[0] = False
    frame = torch.arange(n, device=pred.device)
    source = torch.cummax(torch.where(repaired, 0, frame), dim=0).values  # last kept frame <= i
    pred = pred[source]
    pred[0] = gt[0]
    gt_valid = (gt > 0).all(dim=1)  # NaN > 0 is False
    iou = torch.where(gt_valid, box_iou(pred, gt), -1.0)
    ce = torch.where(gt_valid, center_error(pred, gt), -1.0)
    return iou, ce, repaired


@dataclass(frozen=True, eq=False)
class OPEProtocol:
    """One toolkit's OPE conventions: per-frame errors, curve thresholds and the two scores."""

    name: str
    description: str
    iou_thresholds: tuple[float, ...]
    ce_thresholds: tuple[float, ...]
    precision_threshold: float
    frame_rule: Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]

    def frame_errors(self, pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(N, 4) float64 pred, gt -> IoU (N,), CE (N,), repaired (N,) bool."""
        return self.frame_rule(pred, gt)

    def success_score(self, curve: Tensor) -> Tensor:
        """Success curve (..., T) -> AUC (...): the mean of the T points."""
        return curve.mean(dim=-1)

    def precision_score(self, curve: Tensor) -> Tensor:
        """Precision curve (..., T) -> its value at `precision_threshold` pixels (...)."""
        return curve[..., self.ce_thresholds.index(self.precision_threshold)]


PROTOCOLS: dict[str, OPEProtocol] = {
    "otb": OPEProtocol(
        name="otb",
        description="OTB v1.0 MATLAB toolkit (calcSeqErrRobust.m, genPerfMat.m)",
        iou_thresholds=tuple(np.linspace(0.0, 1.0, 21).tolist()),
        ce_thresholds=tuple(float(t) for t in range(51)),
        precision_threshold=20.0,
        frame_rule=_otb_frame_errors,
    ),
}


def get_protocol(protocol: str | OPEProtocol) -> OPEProtocol:
    """The `OPEProtocol` named ``protocol``; ValueError listing the known ones otherwise."""
    if isinstance(protocol, OPEProtocol):
        return protocol
    if protocol not in PROTOCOLS:
        known = ", ".join(sorted(PROTOCOLS))
        raise ValueError(f"unknown OPE protocol {protocol!r}; known: {known}")
    return PROTOCOLS[protocol]


def _as_boxes(x: Tensor | np.ndarray, what: str) -> Tensor:
    t = x.detach() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x, dtype=np.float64))
    t = t.to(device="cpu", dtype=torch.float64)
    if t.ndim != 2 or t.shape[1] != 4:
        raise ValueError(f"{what} boxes must have shape (N, 4), got {tuple(t.shape)}")
    return t


def ope_frame_errors(
    pred: Tensor | np.ndarray, gt: Tensor | np.ndarray, protocol: str | OPEProtocol = "otb"
) -> tuple[Tensor, Tensor, Tensor]:
    """One whole sequence (N, 4), (N, 4) -> float64 IoU (N,), CE (N,), repaired (N,) bool."""
    p, g = _as_boxes(pred, "predicted"), _as_boxes(gt, "ground-truth")
    if p.shape[0] != g.shape[0]:
        raise ValueError(f"{p.shape[0]} predicted boxes for {g.shape[0]} ground-truth boxes")
    if g.shape[0] == 0:
        raise ValueError("empty sequence: no boxes to evaluate")
    return get_protocol(protocol).frame_errors(p, g)


class SequenceCurves(NamedTuple):
    """One sequence: success (T_iou,), precision (T_ce,) float64, repaired and frame counts."""

    success: Tensor
    precision: Tensor
    repaired: int
    num_frames: int


def ope_sequence_curves(
    pred: Tensor | np.ndarray, gt: Tensor | np.ndarray, protocol: str | OPEProtocol = "otb"
) -> SequenceCurves:
    """One whole sequence (N, 4), (N, 4) -> fraction of frames with IoU > t and with CE <= t."""
    proto = get_protocol(protocol)
    iou, ce, repaired = ope_frame_errors(pred, gt, proto)
    n = iou.shape[0]
    t_iou = torch.tensor(proto.iou_thresholds, dtype=torch.float64)
    t_ce = torch.tensor(proto.ce_thresholds, dtype=torch.float64)
    success = (iou[:, None] > t_iou).sum(dim=0, dtype=torch.float64) / n
    precision = (ce[:, None] <= t_ce).sum(dim=0, dtype=torch.float64) / n
    return SequenceCurves(success, precision, int(repaired.sum()), n)


class OPEMetric(Metric):
    """Per-sequence OPE curves; `compute` returns the dataset summary dict (see `OPEMetrics`).

    Args:
        protocol: an `OPEProtocol` or its name (``"otb"``).
        drop_empty_curves: drop sequences whose whole curve sums to 0 before averaging (the
            OTB-m/LaSOT-m ``plotDrawSave.m`` quirk; off by default like pysot/pytracking/got10k).
        kwargs: passed to `torchmetrics.Metric`.

    ``update(pred, gt, *, seq_id=None)`` takes ONE WHOLE sequence, (N, 4) tensors or arrays.
    Rows are de-duplicated by ``seq_id`` (first kept) and averaged in ``seq_id`` order, so a
    DDP run equals the single-process run bit for bit. Without ``seq_id`` an id unique to this
    rank and call is made up (negative, never equal to a `Sequence.uid`): under DDP pass
    ``seq_id=sequence.uid`` so duplicated sequences are recognised across ranks.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self, protocol: str | OPEProtocol = "otb", *, drop_empty_curves: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.protocol = get_protocol(protocol)
        self.drop_empty_curves = drop_empty_curves
        self._auto_ids = 0
        n_iou, n_ce = len(self.protocol.iou_thresholds), len(self.protocol.ce_thresholds)
        self._row_specs: dict[str, tuple[tuple[int, ...], torch.dtype]] = {
            "seq_ids": ((0,), torch.int64),
            "success_rows": ((0, n_iou), torch.float64),
            "precision_rows": ((0, n_ce), torch.float64),
            "repaired_rows": ((0,), torch.int64),
            "frame_rows": ((0,), torch.int64),
        }
        for name in self._row_specs:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def _next_auto_id(self) -> int:
        dist = torch.distributed
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        self._auto_ids += 1
        return -((rank << 40) + self._auto_ids)

    def update(
        self, pred: Tensor | np.ndarray, gt: Tensor | np.ndarray, *, seq_id: int | None = None
    ) -> None:
        """Add one whole sequence: pred (N, 4), gt (N, 4); ``seq_id`` identifies it across ranks."""
        curves = ope_sequence_curves(pred, gt, self.protocol)
        sid = self._next_auto_id() if seq_id is None else int(seq_id)
        dev = self.device
        self.seq_ids.append(torch.tensor([sid], dtype=torch.int64, device=dev))
        self.success_rows.append(curves.success.to(dev)[None])
        self.precision_rows.append(curves.precision.to(dev)[None])
        self.repaired_rows.append(torch.tensor([curves.repaired], dtype=torch.int64, device=dev))
        self.frame_rows.append(torch.tensor([curves.num_frames], dtype=torch.int64, device=dev))

    def _sync_dist(self, dist_sync_fn: Any = gather_all_tensors, process_group: Any = None) -> None:
        # torchmetrics stands in a 1-D tensor of the metric's default dtype for an empty list
        # state, which cannot be gathered with other ranks' (k, T) float64 rows: give a rank with
        # no sequences empty rows of the right shape and dtype instead.
        for name, (shape, dtype) in self._row_specs.items():
            if isinstance(getattr(self, name), list) and not getattr(self, name):
                setattr(self, name, [torch.zeros(shape, dtype=dtype, device=self.device)])
        super()._sync_dist(dist_sync_fn, process_group)

    def _cat(self, name: str) -> Tensor:
        value = getattr(self, name)
        if isinstance(value, list) and not value:
            shape, dtype = self._row_specs[name]
            return torch.zeros(shape, dtype=dtype, device=self.device)
        return dim_zero_cat(value)

    def sequence_rows(self) -> dict[str, Tensor]:
        """Rows de-duplicated by seq_id (first kept), in seq_id order: ids (S,), curves (S, T)."""
        ids = self._cat("seq_ids")
        uniq, inverse = torch.unique(ids, sorted=True, return_inverse=True)
        first = torch.full_like(uniq, ids.shape[0]).scatter_reduce(
            0, inverse, torch.arange(ids.shape[0], device=ids.device), reduce="amin"
        )
        return {
            "seq_ids": uniq,
            "success": self._cat("success_rows")[first],
            "precision": self._cat("precision_rows")[first],
            "repaired": self._cat("repaired_rows")[first],
            "frames": self._cat("frame_rows")[first],
        }

    def _mean_curve(self, rows: Tensor) -> Tensor:
        if self.drop_empty_curves:
            rows = rows[rows.sum(dim=1) > 0]
        if rows.shape[0] == 0:
            return torch.full(rows.shape[1:], float("nan"), dtype=rows.dtype, device=rows.device)
        return rows.mean(dim=0)

    def compute(self) -> dict[str, Tensor]:
        """Summary: success_auc, precision_20 (), success_curve, precision_curve (T,), counts."""
        rows = self.sequence_rows()
        success = self._mean_curve(rows["success"])
        precision = self._mean_curve(rows["precision"])
        return {
            "success_auc": self.protocol.success_score(success),
            "precision_20": self.protocol.precision_score(precision),
            "success_curve": success,
            "precision_curve": precision,
            "num_sequences": torch.tensor(rows["seq_ids"].shape[0], dtype=torch.int64),
            "num_frames": rows["frames"].sum(),
            "repaired_frames": rows["repaired"].sum(),
        }


class OPEMetrics(OPEMetric):
    """All OPE numbers at once: `compute` returns the dict whose keys name metrics.json fields."""


class SuccessCurve(OPEMetric):
    """Mean over sequences of the fraction of frames with IoU > t, t = 0, 0.05, ..., 1: (21,)."""

    def compute(self) -> Tensor:
        """Success curve (21,) float64."""
        return super().compute()["success_curve"]


class SuccessAUC(OPEMetric):
    """Area under the success curve: the mean of its 21 points (a perfect tracker gets 20/21)."""

    def compute(self) -> Tensor:
        """AUC () float64."""
        return super().compute()["success_auc"]


class PrecisionCurve(OPEMetric):
    """Mean over sequences of the fraction of frames with centre error <= t px, t = 0..50: (51,)."""

    def compute(self) -> Tensor:
        """Precision curve (51,) float64."""
        return super().compute()["precision_curve"]


class Precision(OPEMetric):
    """Precision at 20 pixels."""

    def compute(self) -> Tensor:
        """Precision () float64."""
        return super().compute()["precision_20"]
