"""The tracker interface every method implements: ``init(image, box)`` then ``track(image)``."""

from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from siamlightning.errors import DataError


@dataclass
class TrackResult:
    """One frame's output: ``box`` (x, y, w, h), ``score``, optional ``polygon`` (8,), ``mask``."""

    box: np.ndarray
    score: float
    polygon: np.ndarray | None = None
    mask: np.ndarray | None = None


def check_init_box(box: np.ndarray | list[float], image: np.ndarray) -> np.ndarray:
    """Validate an init box (x, y, w, h) against an RGB image; return it as float64 (4,)."""
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,):
        raise DataError(f"init box must have 4 values x,y,w,h, got {list(np.ravel(box))}")
    if not np.isfinite(b).all():
        raise DataError(f"init box has non-finite values: {b.tolist()}")
    if b[2] <= 0 or b[3] <= 0:
        raise DataError(f"init box must have w > 0 and h > 0, got {b.tolist()}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"image must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if b[0] >= w or b[1] >= h or b[0] + b[2] <= 0 or b[1] + b[3] <= 0:
        raise DataError(f"init box {b.tolist()} lies outside the {w}x{h} image")
    return b


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str) -> str:
    """Validate a tracker ``precision`` (fp32, bf16 or fp16) and return it."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
    return precision


def precision_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """No-op for fp32, else autocast to bf16 / fp16 on ``device``'s type."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class Tracker(abc.ABC):
    """Single-object tracker: `init` on a first frame and box, then `track` frame by frame."""

    @abc.abstractmethod
    def init(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        """Start tracking the object in ``box`` (x, y, w, h) of RGB uint8 ``image`` (H, W, 3)."""

    @abc.abstractmethod
    def track(self, image: np.ndarray) -> TrackResult:
        """Locate the object in the next RGB uint8 frame (H, W, 3)."""


class StaticTracker(Tracker):
    """Baseline that reports the init box on every frame."""

    def init(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        """Remember the init box."""
        self._box = check_init_box(box, image)

    def track(self, image: np.ndarray) -> TrackResult:
        """Return the init box unchanged."""
        return TrackResult(box=self._box.copy(), score=1.0)
