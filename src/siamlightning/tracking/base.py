"""The tracker interface every method implements: ``init(image, box)`` then ``track(image)``."""

from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from siamlightning.errors import ConfigError, DataError
from siamlightning.precision import log_precision_once, resolve_tracker_precision


@dataclass
class TrackResult:
    """One frame's output: ``box`` (x, y, w, h), ``score``, optional ``polygon`` (8,), ``mask``."""

    box: np.ndarray
    score: float
    polygon: np.ndarray | None = None
    mask: np.ndarray | None = None


MAX_BOX_TO_IMAGE = 100  # an init box more than 100x the image's width or height is absurd


def check_image(image: np.ndarray | None) -> np.ndarray:
    """Validate a frame given to ``init`` / ``track``: a non-empty RGB uint8 array (H, W, 3)."""
    if image is None:
        raise DataError("image is None (a frame that could not be read?); expected RGB uint8")
    if not isinstance(image, np.ndarray):
        raise DataError(f"image must be a numpy array RGB uint8 (H, W, 3), got {type(image)}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(f"image must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise DataError(f"image is empty: {image.shape[1]}x{image.shape[0]} (W x H) pixels")
    return image


def check_init_box(box: np.ndarray | list[float], image: np.ndarray) -> np.ndarray:
    """Validate an init box (x, y, w, h) against an RGB image; return it as float64 (4,)."""
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,):
        raise DataError(f"init box must have 4 values x,y,w,h, got {list(np.ravel(box))}")
    if not np.isfinite(b).all():
        raise DataError(f"init box has non-finite values: {b.tolist()}")
    if b[2] <= 0 or b[3] <= 0:
        raise DataError(f"init box must have w > 0 and h > 0, got {b.tolist()}")
    h, w = check_image(image).shape[:2]
    if b[0] >= w or b[1] >= h or b[0] + b[2] <= 0 or b[1] + b[3] <= 0:
        raise DataError(f"init box {b.tolist()} lies outside the {w}x{h} image")
    if b[2] > MAX_BOX_TO_IMAGE * w or b[3] > MAX_BOX_TO_IMAGE * h:
        raise DataError(
            f"init box {b.tolist()} is more than {MAX_BOX_TO_IMAGE}x the {w}x{h} image "
            "(expected x, y, w, h in pixels of this image)"
        )
    return b


def check_net_kind(net: torch.nn.Module, tracker_cls: type) -> None:
    """Raise `ConfigError` if ``net`` declares an ``output_kind`` that ``tracker_cls`` cannot read.

    Networks declare what their forward returns (``output_kind``: ``"response"``, ``"rpn"``,
    ``"rpn_mask"``); trackers declare the kinds they read (``accepts``). Either side left
    undeclared (a test double, a third-party net) is not checked.
    """
    kind = getattr(net, "output_kind", None)
    accepts = getattr(tracker_cls, "accepts", None)
    if kind is None or accepts is None or kind in accepts:
        return
    raise ConfigError(
        f"{tracker_cls.__name__} cannot track with a {type(net).__name__}: the network outputs "
        f"{kind!r} maps, the tracker reads {' or '.join(map(repr, accepts))}; give a tracker "
        "config of the network's family (or none, to use the one saved with the checkpoint)"
    )


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """Validate a tracker ``precision`` (auto, fp32, bf16, fp16); return what runs on ``device``."""
    resolved = resolve_tracker_precision(precision, device)
    log_precision_once(f"tracker ({torch.device(device).type})", precision, resolved)
    return resolved


def precision_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """No-op for fp32, else autocast to bf16 / fp16 on ``device``'s type."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class Tracker(abc.ABC):
    """Single-object tracker: `init` on a first frame and box, then `track` frame by frame."""

    # network ``output_kind``s this tracker reads (`check_net_kind`); None: any
    accepts: tuple[str, ...] | None = None

    @abc.abstractmethod
    def init(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        """Start tracking the object in ``box`` (x, y, w, h) of RGB uint8 ``image`` (H, W, 3)."""

    @abc.abstractmethod
    def track(self, image: np.ndarray) -> TrackResult:
        """Locate the object in the next RGB uint8 frame (H, W, 3)."""


@dataclass
class SearchStep:
    """One frame's network input: search crops ``x`` (n, 3, S, S) on the net's device, the
    ``kernels`` (batch 1) they are correlated with, and what `NetTracker.finish` reads."""

    x: torch.Tensor
    kernels: Any
    info: dict[str, Any] = field(default_factory=dict)


class NetTracker(Tracker):
    """A tracker around a stateless network, split in three so several can share a call:
    ``track(image) = finish(step, net(step.kernels, step.x))`` with ``step = prepare(image)``.

    `siamlightning.tracking.batch.track_batch` concatenates the steps of many trackers (one
    sequence each) into one batched network call and hands each its slice of the outputs, so a
    batched frame runs the same crops and the same post-processing as `track`. Subclasses set
    ``net``, ``device``, ``precision`` and ``_kernels`` (None before ``init``).
    """

    net: torch.nn.Module
    device: torch.device
    precision: str
    _kernels: Any = None

    @abc.abstractmethod
    def prepare(self, image: np.ndarray) -> SearchStep:
        """The search crops of the next RGB uint8 frame (H, W, 3), around the current state."""

    @abc.abstractmethod
    def finish(self, step: SearchStep, outputs: Any) -> TrackResult:
        """The network's outputs for ``step`` (batch n) -> the new state and the frame's result."""

    def _forward(self, x: torch.Tensor) -> Any:
        """Search crops (n, 3, S, S) -> the network's raw outputs, under the chosen precision."""
        with precision_context(self.precision, self.device):
            return self.net(self._kernels, x)

    @torch.inference_mode()
    def track(self, image: np.ndarray) -> TrackResult:
        """Locate the object in the next RGB uint8 frame (H, W, 3)."""
        step = self.prepare(check_image(image))
        return self.finish(step, self._forward(step.x))


class StaticTracker(Tracker):
    """Baseline that reports the init box on every frame."""

    def init(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        """Remember the init box."""
        self._box = check_init_box(box, image)

    def track(self, image: np.ndarray) -> TrackResult:
        """Return the init box unchanged."""
        check_image(image)
        return TrackResult(box=self._box.copy(), score=1.0)
