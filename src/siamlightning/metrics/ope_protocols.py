"""OPE protocol presets: how each toolkit scores one sequence (spec §1.3-1.5), as explicit options.

A `FrameRule` turns one whole sequence's predictions into per-frame IoU, centre error (CE) and
normalised centre error (NCE), and says which frames are scored and what the denominator is. An
`OPEProtocol` adds the curve thresholds and how the curves become scores. Presets (`PROTOCOLS`):

- ``"otb"``, ``"uav"``, ``"nfs"``: OTB v1.0 MATLAB toolkit (``calcSeqErrRobust.m``): invalid
  predictions repaired from the previous frame, frame 0 set to the GT, GT rows with any value
  <= 0 or NaN get IoU = -1 (fails) and CE = -1 (precise); denominator = all frames.
- ``"lasot"``: LaSOT MATLAB toolkit (``calc_seq_err_robust.m``, ``eval_tracker.m``): the OTB rule
  after removing absent frames, denominator still all frames; NCE divides each centre by the GT
  w, h; normalised precision at 0.20. The toolkit's absent GT rows are ``0,0,0,0`` (not NaN), so
  a bad prediction on an absent frame is repaired: frames flagged absent count as annotated here.
- ``"pysot"``: pysot ``toolkit`` (``ope_benchmark.py``, ``statistics.py``): no repair, frame 0
  not overridden; IoU -1 where GT w or h <= 0 (or NaN); CE -1 where a GT centre ``x + (w-1)/2``
  <= 0 or NaN; NCE divides centres by (GT w, h + 1e-16); absent frames removed, denominator all.
- ``"trackingnet"``: TrackingNet devkit ``metrics.py``: x, y, w, h of prediction and GT rounded
  (half to even, as ``np.round``), then frame 0 set to the rounded GT; no invalid rule; 21
  thresholds per curve; every score is ``np.trapz(curve, x=linspace(0, 1, 21))`` (the devkit's
  x100 is dropped: scores are fractions like the other presets).
- ``"got10k"``: GOT-10k toolkit (``experiments/got10k.py``): frame 0 excluded, both boxes clipped
  to the image ``bound=(W, H)`` (x to [0, W], then w to [0, W - x]; same for y, h), frames not
  ``visible`` (cover == 0) excluded; IoUs pooled over all frames of all sequences: AO = mean IoU,
  SR50 / SR75 = fraction of IoU > 0.5 / 0.75, success curve over 101 thresholds.

Frames that a rule does not score carry NaN IoU / CE / NCE (NaN passes no threshold).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

from siamlightning.metrics.geometry import box_iou, center_error

__all__ = ["PROTOCOLS", "FrameErrors", "FrameRule", "OPEProtocol", "get_protocol"]


class FrameErrors(NamedTuple):
    """One sequence under one rule, all (N,): float64 iou, ce, nce; bool repaired, scored."""

    iou: Tensor
    ce: Tensor
    nce: Tensor
    repaired: Tensor
    scored: Tensor
    denominator: int


def _flag(x: Tensor | np.ndarray | None, n: int, what: str) -> Tensor | None:
    if x is None:
        return None
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x.detach().cpu())
    t = t.reshape(-1).to(torch.bool)
    if t.shape[0] != n:
        raise ValueError(f"{what} has {t.shape[0]} entries for {n} frames")
    return t


def _bounded(boxes: Tensor, bound: tuple[float, float]) -> Tensor:
    """GOT-10k ``rect_iou`` clipping: x to [0, W], then w to [0, W - x]; same for y, h."""
    w_img, h_img = (float(v) for v in bound)
    x = boxes[:, 0].clamp(0.0, w_img)
    y = boxes[:, 1].clamp(0.0, h_img)
    w = torch.minimum(boxes[:, 2].clamp(min=0.0), w_img - x)
    h = torch.minimum(boxes[:, 3].clamp(min=0.0), h_img - y)
    return torch.stack([x, y, w, h], dim=1)


@dataclass(frozen=True)
class FrameRule:
    """One toolkit's per-frame conventions (spec §5 options); call ``errors`` on a whole sequence.

    Attributes:
        repair: frames >= 1 whose prediction is non-finite or has w/h <= 0, and whose GT has no
            NaN, take the previous frame's (repaired) prediction (OTB-m / LaSOT-m).
        first_frame: ``"gt"`` set frame 0 to the GT, ``"as_is"`` keep it, ``"drop"`` unscored.
        round_boxes: round x, y, w, h of both first (TrackingNet).
        bounded_iou: clip both boxes to ``bound=(W, H)`` before the IoU (GOT-10k).
        invalid_gt: ``"otb"`` any GT value <= 0 or NaN gives IoU = CE = NCE = -1; ``"pysot"``
            IoU -1 where GT w or h <= 0, CE / NCE -1 where the (normalised) GT centre <= 0;
            ``"none"``.
        remove_absent: frames flagged ``absent`` are unscored (LaSOT-m, pysot).
        visible_only: frames with ``visible`` False are unscored (GOT-10k cover == 0).
        denominator: ``"all"`` frames or only the ``"scored"`` ones.
        centre: ``"otb"`` centre error of `geometry.center_error` (the otb preset's arithmetic);
            ``"toolkit"`` centres ``x + (w-1)/2``, NCE = distance of centres each divided by
            (GT w, h + ``nce_eps``) (LaSOT-m, pysot); ``"trackingnet"`` the devkit's arithmetic.
        nce_eps: added to the GT w, h in the NCE (pysot 1e-16).
    """

    repair: bool = True
    first_frame: Literal["gt", "as_is", "drop"] = "gt"
    round_boxes: bool = False
    bounded_iou: bool = False
    invalid_gt: Literal["otb", "pysot", "none"] = "otb"
    remove_absent: bool = False
    visible_only: bool = False
    denominator: Literal["all", "scored"] = "all"
    centre: Literal["otb", "toolkit", "trackingnet"] = "otb"
    nce_eps: float = 0.0

    def __call__(self, pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Legacy form: (N, 4), (N, 4) float64 -> IoU (N,), CE (N,), repaired (N,) bool."""
        e = self.errors(pred, gt)
        return e.iou, e.ce, e.repaired

    def _repair(self, pred: Tensor, gt: Tensor, absent: Tensor | None) -> tuple[Tensor, Tensor]:
        n = gt.shape[0]
        bad = ~torch.isfinite(pred).all(dim=1) | (pred[:, 2] <= 0) | (pred[:, 3] <= 0)
        annotated = ~torch.isnan(gt).any(dim=1)
        if self.remove_absent and absent is not None:
            annotated = annotated | absent
        repaired = bad & annotated
        repaired[0] = False
        frame = torch.arange(n)
        source = torch.cummax(torch.where(repaired, 0, frame), dim=0).values  # last kept <= i
        return pred[source], repaired

    def _centre_errors(self, pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor]:
        if self.centre == "otb":
            nce = torch.full((gt.shape[0],), float("nan"), dtype=gt.dtype)
            return center_error(pred, gt), nce
        if self.centre == "trackingnet":
            d = (gt[:, :2] + (gt[:, 2:] + 1) / 2) - (pred[:, :2] + (pred[:, 2:] + 1) / 2)
            ce = torch.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])
            q = d / gt[:, 2:] * d / gt[:, 2:]  # the devkit's order: ((d / w) * d) / w
            return ce, torch.sqrt(q[:, 0] + q[:, 1])
        cg, cp = gt[:, :2] + (gt[:, 2:] - 1) / 2, pred[:, :2] + (pred[:, 2:] - 1) / 2
        d = cp - cg
        ce = torch.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])
        size = gt[:, 2:] + self.nce_eps
        dn = cp / size - cg / size
        return ce, torch.sqrt(dn[:, 0] * dn[:, 0] + dn[:, 1] * dn[:, 1])

    def errors(
        self,
        pred: Tensor,
        gt: Tensor,
        *,
        absent: Tensor | np.ndarray | None = None,
        bound: tuple[float, float] | None = None,
        visible: Tensor | np.ndarray | None = None,
    ) -> FrameErrors:
        """Whole sequence (N, 4), (N, 4) float64 -> `FrameErrors` (unscored frames hold NaN)."""
        n = gt.shape[0]
        absent_t = _flag(absent, n, "absent")
        visible_t = _flag(visible, n, "visible")
        if self.round_boxes:
            pred, gt = torch.round(pred), torch.round(gt)
        if self.repair:
            pred, repaired = self._repair(pred, gt, absent_t)
        else:
            pred, repaired = pred.clone(), torch.zeros(n, dtype=torch.bool)
        scored = torch.ones(n, dtype=torch.bool)
        if self.first_frame == "gt":
            pred[0] = gt[0]
        elif self.first_frame == "drop":
            scored[0] = False
        if self.remove_absent and absent_t is not None:
            scored &= ~absent_t
        if self.visible_only and visible_t is not None:
            scored &= visible_t
        if self.bounded_iou and bound is not None:
            iou = box_iou(_bounded(pred, bound), _bounded(gt, bound))
        else:
            iou = box_iou(pred, gt)
        ce, nce = self._centre_errors(pred, gt)
        if self.invalid_gt == "otb":
            valid = (gt > 0).all(dim=1)  # NaN > 0 is False
            iou, ce, nce = (torch.where(valid, v, -1.0) for v in (iou, ce, nce))
        elif self.invalid_gt == "pysot":
            iou = torch.where((gt[:, 2] > 0) & (gt[:, 3] > 0), iou, -1.0)
            centre = gt[:, :2] + (gt[:, 2:] - 1) / 2
            ce = torch.where((centre > 0).all(dim=1), ce, -1.0)
            nce = torch.where((centre / (gt[:, 2:] + self.nce_eps) > 0).all(dim=1), nce, -1.0)
        nan = torch.tensor(float("nan"), dtype=iou.dtype)
        iou, ce, nce = (torch.where(scored, v, nan) for v in (iou, ce, nce))
        den = n if self.denominator == "all" else int(scored.sum())
        return FrameErrors(iou, ce, nce, repaired, scored, den)


LegacyRule = Callable[[Tensor, Tensor], tuple[Tensor, Tensor, Tensor]]


@dataclass(frozen=True, eq=False)
class OPEProtocol:
    """One toolkit's OPE conventions: per-frame rule, curve thresholds and scores.

    ``frame_rule`` is a `FrameRule` (or any ``(pred, gt) -> (iou, ce, repaired)`` callable: then
    every frame is scored over all frames and no NCE is made). ``score`` is ``"mean"`` (AUC = mean
    of the success curve; precision values at their thresholds) or ``"trapz"`` (TrackingNet).
    ``pooled`` pools frames over sequences (GOT-10k AO/SR) instead of averaging per sequence.
    """

    name: str
    description: str
    iou_thresholds: tuple[float, ...]
    ce_thresholds: tuple[float, ...]
    precision_threshold: float
    frame_rule: FrameRule | LegacyRule
    nce_thresholds: tuple[float, ...] = ()
    norm_precision_threshold: float = 0.2
    score: Literal["mean", "trapz"] = "mean"
    pooled: bool = False

    def frame_details(
        self,
        pred: Tensor,
        gt: Tensor,
        *,
        absent: Tensor | np.ndarray | None = None,
        bound: tuple[float, float] | None = None,
        visible: Tensor | np.ndarray | None = None,
    ) -> FrameErrors:
        """(N, 4) float64 pred, gt (+ per-frame flags, image size) -> `FrameErrors`."""
        if isinstance(self.frame_rule, FrameRule):
            return self.frame_rule.errors(pred, gt, absent=absent, bound=bound, visible=visible)
        iou, ce, repaired = self.frame_rule(pred, gt)
        n = gt.shape[0]
        nce = torch.full((n,), float("nan"), dtype=torch.float64)
        return FrameErrors(iou, ce, nce, repaired, torch.ones(n, dtype=torch.bool), n)

    def frame_errors(self, pred: Tensor, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(N, 4) float64 pred, gt -> IoU (N,), CE (N,), repaired (N,) bool."""
        e = self.frame_details(pred, gt)
        return e.iou, e.ce, e.repaired

    def _trapz(self, curve: Tensor) -> Tensor:
        x = torch.linspace(0.0, 1.0, curve.shape[-1], dtype=curve.dtype, device=curve.device)
        return torch.trapezoid(curve, x=x, dim=-1)

    def success_score(self, curve: Tensor) -> Tensor:
        """Success curve (..., T) -> AUC (...): the mean of the T points (or the trapezoid)."""
        return self._trapz(curve) if self.score == "trapz" else curve.mean(dim=-1)

    def _at(self, curve: Tensor, thresholds: tuple[float, ...], at: float) -> Tensor:
        if self.score == "trapz":
            return self._trapz(curve)
        if not thresholds:
            return torch.full(curve.shape[:-1], float("nan"), dtype=curve.dtype)
        return curve[..., thresholds.index(at)]

    def precision_score(self, curve: Tensor) -> Tensor:
        """Precision curve (..., T) -> its value at `precision_threshold` pixels (...)."""
        return self._at(curve, self.ce_thresholds, self.precision_threshold)

    def norm_precision_score(self, curve: Tensor) -> Tensor:
        """Normalised precision curve (..., T) -> value at `norm_precision_threshold` (...)."""
        return self._at(curve, self.nce_thresholds, self.norm_precision_threshold)


_SUCCESS_21 = tuple(np.linspace(0.0, 1.0, 21).tolist())
_CE_51 = tuple(float(t) for t in range(51))
_NCE_51 = tuple(k / 100 for k in range(51))  # MATLAB (0:50)/100, pysot np.arange(0, 51) / 100
_OTB_RULE = FrameRule()


def _otb_like(name: str, description: str) -> OPEProtocol:
    return OPEProtocol(name, description, _SUCCESS_21, _CE_51, 20.0, _OTB_RULE)


PROTOCOLS: dict[str, OPEProtocol] = {
    "otb": _otb_like("otb", "OTB v1.0 MATLAB toolkit (calcSeqErrRobust.m, genPerfMat.m)"),
    "uav": _otb_like("uav", "UAV123 with the OTB v1.0 MATLAB rules (calcSeqErrRobust.m)"),
    "nfs": _otb_like("nfs", "NfS with the OTB v1.0 MATLAB rules (calcSeqErrRobust.m)"),
    "lasot": OPEProtocol(
        name="lasot",
        description="LaSOT MATLAB toolkit (calc_seq_err_robust.m, eval_tracker.m)",
        iou_thresholds=_SUCCESS_21,
        ce_thresholds=_CE_51,
        precision_threshold=20.0,
        frame_rule=FrameRule(remove_absent=True, centre="toolkit"),
        nce_thresholds=_NCE_51,
    ),
    "pysot": OPEProtocol(
        name="pysot",
        description="pysot toolkit OPE (ope_benchmark.py, utils/statistics.py)",
        iou_thresholds=_SUCCESS_21,
        ce_thresholds=_CE_51,
        precision_threshold=20.0,
        frame_rule=FrameRule(
            repair=False,
            first_frame="as_is",
            invalid_gt="pysot",
            remove_absent=True,
            centre="toolkit",
            nce_eps=1e-16,
        ),
        nce_thresholds=_NCE_51,
    ),
    "trackingnet": OPEProtocol(
        name="trackingnet",
        description="TrackingNet devkit metrics.py (scores: trapezoid AUC, as fractions)",
        iou_thresholds=_SUCCESS_21,
        ce_thresholds=tuple(np.linspace(0.0, 50.0, 21).tolist()),
        precision_threshold=20.0,
        frame_rule=FrameRule(
            repair=False, round_boxes=True, invalid_gt="none", centre="trackingnet"
        ),
        nce_thresholds=tuple(np.linspace(0.0, 0.5, 21).tolist()),
        score="trapz",
    ),
    "got10k": OPEProtocol(
        name="got10k",
        description="GOT-10k toolkit (experiments/got10k.py: AO, SR, frame-pooled)",
        iou_thresholds=tuple(np.linspace(0.0, 1.0, 101).tolist()),
        ce_thresholds=(),
        precision_threshold=20.0,
        frame_rule=FrameRule(
            repair=False,
            first_frame="drop",
            bounded_iou=True,
            invalid_gt="none",
            visible_only=True,
            denominator="scored",
        ),
        pooled=True,
    ),
}


def get_protocol(protocol: str | OPEProtocol) -> OPEProtocol:
    """The `OPEProtocol` named ``protocol``; ValueError listing the known ones otherwise."""
    if isinstance(protocol, OPEProtocol):
        return protocol
    if protocol not in PROTOCOLS:
        known = ", ".join(PROTOCOLS)  # registration order: otb first
        raise ValueError(f"unknown OPE protocol {protocol!r}; known: {known}")
    return PROTOCOLS[protocol]
