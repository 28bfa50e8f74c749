"""Long-term SiamRPN: pysot's ``SiamRPNLTTracker`` (spec §2.9, LT variant).

A best score below ``confidence_low`` keeps the previous state and switches to lost mode; lost
mode searches a ``lost_search_size`` (831) crop (score map 97x97 with base size 8) with window
influence ``lost_window_influence`` (0.001); a score above ``confidence_high`` switches back.
While not lost, or lost with ``low <= score <= high``, the state moves as in `SiamRPNTracker`.

As in pysot the stored state is not clipped, only the returned box is. Unlike pysot, ``init``
resets the lost flag (pysot keeps it from the previous sequence). ``crop_convention`` is
`SiamRPNTracker`'s ("pysot" for pysot weights: pysot's crops, centre and clipping range).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from siamlightning.tracking.base import SearchStep, TrackResult
from siamlightning.tracking.siamrpn import SiamRPNTracker, clip_box


class SiamRPNLTTracker(SiamRPNTracker):
    """`SiamRPNTracker` with pysot's lost mode (larger search region, almost no window)."""

    def __init__(
        self,
        *,
        net: torch.nn.Module,
        exemplar_size: int = 127,
        search_size: int = 255,
        base_size: int = 8,
        context_amount: float = 0.5,
        penalty_k: float,
        window_influence: float,
        lr: float,
        confidence_low: float = 0.85,
        confidence_high: float = 0.998,
        lost_search_size: int = 831,
        lost_window_influence: float = 0.001,
        precision: str = "fp32",
        channels_last: bool = True,
        device: str = "cpu",
        crop_convention: str = "exact",
        crop_on_device: bool = False,
    ) -> None:
        super().__init__(
            net=net,
            exemplar_size=exemplar_size,
            search_size=search_size,
            base_size=base_size,
            context_amount=context_amount,
            penalty_k=penalty_k,
            window_influence=window_influence,
            lr=lr,
            precision=precision,
            channels_last=channels_last,
            device=device,
            crop_convention=crop_convention,
            crop_on_device=crop_on_device,
        )
        if not confidence_low <= confidence_high:
            raise ValueError(f"confidence_low {confidence_low} > confidence_high {confidence_high}")
        self.confidence_low = float(confidence_low)
        self.confidence_high = float(confidence_high)
        self.lost_search_size = int(lost_search_size)
        self.lost_window_influence = float(lost_window_influence)
        self.lost = False

    @torch.inference_mode()
    def init(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        """Start tracking ``box`` (x, y, w, h) in normal (not lost) mode."""
        super().init(image, box)
        self.lost = False

    def prepare(self, image: np.ndarray) -> SearchStep:
        """The normal search crop, or the ``lost_search_size`` one in lost mode."""
        if self.lost:
            step = self._search_step(image, self.lost_search_size)
            step.info["window_influence"] = self.lost_window_influence
        else:
            step = self._search_step(image, self.search_size)
            step.info["window_influence"] = self.window_influence
        return step

    def finish(self, step: SearchStep, outputs: Any) -> TrackResult:
        """One frame's outputs: move (unless the score is low), switch lost mode, clip."""
        disp, lr, score = self._decode(step, outputs, step.info["window_influence"])
        if score >= self.confidence_low:
            self.center = self.center + disp[:2]
            if lr > 0:  # an untrained net's infinite size times lr 0 would give NaN
                self.size = self.size * (1.0 - lr) + disp[2:] * lr
        height, width = step.info["image_size"]
        cx, cy, w, h = clip_box(*self.center, *self.size, width, height)
        if score < self.confidence_low:
            self.lost = True
        elif score > self.confidence_high:
            self.lost = False
        return TrackResult(box=np.array([cx - w / 2, cy - h / 2, w, h]), score=score)
