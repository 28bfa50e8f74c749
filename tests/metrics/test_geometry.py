"""Box geometry: IoU and centre error against hand values and a slow per-box oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from siamlightning.metrics.geometry import (
    box_iou,
    center_error,
    normalized_center_error,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def iou_slow(a: list[float], b: list[float]) -> float:
    """The obvious scalar IoU (continuous, no +1) used as the oracle."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return min(1.0, max(0.0, inter / union)) if union > 0 else 0.0


def test_iou_hand_values() -> None:
    a = np.array([[10, 10, 20, 20], [10, 10, 20, 20], [10, 10, 20, 20], [0, 0, 10, 10]], float)
    b = np.array([[10, 10, 20, 20], [20, 20, 20, 20], [10, 10, 20, 10], [10, 0, 10, 10]], float)
    out = box_iou(a, b)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (4,)
    assert out.tolist() == [1.0, 100 / 700, 0.5, 0.0]  # identical, corner overlap, half, touching


def test_iou_degenerate_and_nan() -> None:
    a = torch.tensor([[5.0, 5, 0, 0], [5, 5, 10, 10], [float("nan"), 5, 10, 10]])
    b = torch.tensor([[5.0, 5, 0, 0], [5, 5, -3, 10], [5, 5, 10, 10]])
    out = box_iou(a, b)
    assert out[0] == 0.0  # union 0 -> 0
    assert 0.0 <= out[1] <= 1.0
    assert torch.isnan(out[2])


def test_iou_matches_oracle_and_dtypes() -> None:
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(0, 50, (200, 2)), rng.uniform(0.5, 30, (200, 2))], axis=1)
    b = np.concatenate([rng.uniform(0, 50, (200, 2)), rng.uniform(0.5, 30, (200, 2))], axis=1)
    fast = box_iou(torch.from_numpy(a), torch.from_numpy(b))
    assert isinstance(fast, torch.Tensor) and fast.dtype == torch.float64
    slow = [iou_slow(x.tolist(), y.tolist()) for x, y in zip(a, b)]
    np.testing.assert_allclose(fast.numpy(), slow, rtol=0, atol=1e-12)
    f32 = box_iou(torch.from_numpy(a).float(), torch.from_numpy(b).float())
    assert f32.dtype == torch.float32
    np.testing.assert_allclose(f32.numpy(), slow, atol=1e-5)
    mixed = box_iou(torch.from_numpy(a).float(), b)  # tensor + float64 array -> float64 tensor
    assert isinstance(mixed, torch.Tensor) and mixed.dtype == torch.float64


def test_broadcasting_and_int_inputs() -> None:
    gt = np.array([0, 0, 10, 10])  # int -> float64
    preds = np.array([[0, 0, 10, 10], [5, 0, 10, 10]])
    assert box_iou(preds, gt).tolist() == [1.0, 50 / 150]
    assert box_iou(preds, gt).dtype == np.float64


def test_center_error() -> None:
    a = np.array([[0.0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    b = np.array([[3.0, 4, 10, 10], [0, 0, 20, 10], [0, 0, 10, 10]])
    assert center_error(a, b).tolist() == [5.0, 5.0, 0.0]
    assert center_error(torch.tensor(a), torch.tensor(b)).tolist() == [5.0, 5.0, 0.0]


def test_normalized_center_error() -> None:
    pred = np.array([[3.0, 4, 10, 10], [0, 0, 10, 10]])
    gt = np.array([[0.0, 0, 10, 20], [0, 0, 10, 10]])
    out = normalized_center_error(pred, gt)
    # centre deltas (3, 4 - 5) and (0, 0) divided by GT (10, 20) and (10, 10)
    assert out[0] == pytest.approx(math.hypot(3 / 10, -1 / 20))
    assert out[1] == 0.0


def test_box_conversions_round_trip() -> None:
    xywh = torch.tensor([[1.5, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    xyxy = xywh_to_xyxy(xywh)
    assert xyxy.tolist() == [[1.5, 2.0, 4.5, 6.0], [0.0, 0.0, 1.0, 1.0]]
    assert torch.equal(xyxy_to_xywh(xyxy), xywh)
    assert isinstance(xywh_to_xyxy(xywh.numpy()), np.ndarray)


def test_bad_shape() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        box_iou(np.zeros((3, 5)), np.zeros((3, 5)))
