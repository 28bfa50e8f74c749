"""torchmetrics metrics for tracking benchmarks, and the package's one box geometry (IoU, CE)."""

from siamlightning.metrics.geometry import (
    box_iou,
    center_error,
    normalized_center_error,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from siamlightning.metrics.ope import (
    PROTOCOLS,
    OPEMetric,
    OPEMetrics,
    OPEProtocol,
    Precision,
    PrecisionCurve,
    SequenceCurves,
    SuccessAUC,
    SuccessCurve,
    get_protocol,
    ope_frame_errors,
    ope_sequence_curves,
)

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
    "box_iou",
    "center_error",
    "get_protocol",
    "normalized_center_error",
    "ope_frame_errors",
    "ope_sequence_curves",
    "xywh_to_xyxy",
    "xyxy_to_xywh",
]
