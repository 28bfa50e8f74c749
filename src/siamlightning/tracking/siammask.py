"""SiamMask inference: pysot's ``SiamMaskTracker`` (spec trackers.md §4, inference steps).

Per frame: the `SiamRPNTracker` box step unchanged (same state, box and score), then the mask of
the best anchor's score-map cell (y, x): refine -> sigmoid -> 127 x 127 probabilities (without a
refine head the mask head's 63 x 63 row), pasted into the frame, thresholded at
``mask_threshold`` (0.15 for siammask_r50_l3); the largest external contour, when its area
exceeds ``min_polygon_area`` (100 px), gives the rotated rectangle ``cv2.minAreaRect`` ->
``boxPoints``, else the polygon is the axis-aligned box.

`TrackResult` carries ``box`` (x, y, w, h), ``score``, ``polygon`` (8,) = x1, y1, ..., x4, y4 and
``mask`` (H, W) float32 probabilities (``mask > tracker.mask_threshold`` is the binary mask the
polygon comes from; -1 outside the pasted window with ``crop_convention="siammask"``).

Geometry. The search crop of side ``s_x`` (``round(s_x)``) is centred on the previous state;
cell (y, x) is the exemplar-sized window centred ``((x, y) - S // 2) * stride`` crop pixels from
the crop centre, i.e. a square of side ``exemplar_size * s_x / search_size`` image px.

* ``crop_convention="exact"``: in the continuous coordinates of `siamlightning.data.core.crops`, the
  mask is pasted by the inverse of that crop (`paste_mask`: `crop_affine`, bilinear, zero
  border), so a mask of ones covers exactly that square.
* ``"pysot"``: pysot's ``_crop_back`` (`paste_mask_pysot`): the window's corner is taken in
  pixel-index coordinates and mapped by ``(W - 1) / W``-scaled output pixels, which puts the
  mask about half a mask pixel (``0.5 * s_x / search_size`` px) up-left of the exact paste
  and scales it by (W - 1) / W about the image origin, exactly as pysot does.
* ``"siammask"``: foolwood/SiamMask's ``tools/test.py`` (``siamese_track``): the same paste
  (``crop_back``), of the window around its continuous centre, with border value -1: the mask
  is -1 outside the window and blends towards -1 over the last pixel at its edge (pysot's 0
  keeps a little more of a mask that touches the window's edge). An empty mask's polygon is the
  box before `clip_box` (foolwood builds it before clipping; pysot after).

Polygon vertices are pixel indices of the mask's boundary pixels (as pysot and the VOT
rasteriser, which fills both end nodes).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from siamlightning.data.core.crops import crop_affine
from siamlightning.tracking.base import SearchStep, TrackResult, precision_context
from siamlightning.tracking.siamrpn import SiamRPNTracker


def paste_mask(
    mask: np.ndarray, center: tuple[float, float], side: float, frame_size: tuple[int, int]
) -> np.ndarray:
    """(m, m) mask of the square ``side`` px centred at ``center`` -> (H, W) float32 frame mask.

    ``frame_size`` is (W, H); bilinear, zero outside the square (the inverse of `crop_square`).
    """
    matrix = crop_affine(center, side, mask.shape[0])
    return cv2.warpAffine(
        np.ascontiguousarray(mask, dtype=np.float32),
        matrix,
        frame_size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


def paste_mask_pysot(
    mask: np.ndarray,
    window: tuple[float, float, float],
    frame_size: tuple[int, int],
    border: float = 0.0,
) -> np.ndarray:
    """(m, m) mask of the square ``window`` = (x0, y0, side) -> (H, W) float32: pysot's paste.

    pysot's ``_crop_back``: output pixel u <- mask (u - x0) * m / side, then the whole map is
    shrunk by (W - 1) / W (likewise y); bilinear, ``border`` outside (pysot 0, foolwood -1).
    ``frame_size`` is (W, H); x0, y0 are in the tracker's centre coordinates (pysot's
    ``center_pos - s_x / 2 + offset``).
    """
    width, height = frame_size
    s = mask.shape[0] / window[2]
    back = (-window[0] * s, -window[1] * s, width * s, height * s)
    a, b = (width - 1) / back[2], (height - 1) / back[3]
    matrix = np.array([[a, 0.0, -a * back[0]], [0.0, b, -b * back[1]]], dtype=np.float64)
    return cv2.warpAffine(
        np.ascontiguousarray(mask, dtype=np.float32),
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float(border),
    )


def mask_polygon(binary: np.ndarray, box: np.ndarray, min_area: float = 100.0) -> np.ndarray:
    """(H, W) uint8 mask -> (8,) minAreaRect corners of its largest contour, else ``box``'s."""
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    areas = [cv2.contourArea(c) for c in contours]
    if areas and max(areas) > min_area:
        points = contours[int(np.argmax(areas))].reshape(-1, 2)
        return cv2.boxPoints(cv2.minAreaRect(points)).reshape(-1).astype(np.float64)
    x, y, w, h = (float(v) for v in box)
    return np.array([x, y, x + w, y, x + w, y + h, x, y + h])


class SiamMaskTracker(SiamRPNTracker):
    """`SiamRPNTracker` around a `SiamMaskNet`, adding ``polygon`` and ``mask`` to each result."""

    accepts = ("rpn_mask",)

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
        mask_threshold: float = 0.15,
        min_polygon_area: float = 100.0,
        precision: str = "fp32",
        channels_last: bool = True,
        device: str = "cpu",
        crop_convention: str = "exact",
        crop_on_device: bool = False,
    ) -> None:
        if not hasattr(net, "mask"):
            raise ValueError(f"SiamMaskTracker needs a SiamMaskNet, got {type(net).__name__}")
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
        self.mask_threshold = float(mask_threshold)
        self.min_polygon_area = float(min_polygon_area)
        self._outputs: Any = None

    # -- hooks into the box step: keep the whole `SiamMaskOutput` for the mask ---------------

    def _forward(self, x: torch.Tensor) -> Any:
        """Search crops (n, 3, S, S) -> `SiamMaskOutput` without MaskCorr's 63 x 63 logits at
        every cell: `finish` needs one cell's mask (`SiamMaskNet.mask` runs the head there, or
        Refine, which never reads them)."""
        with precision_context(self.precision, self.device):
            return self.net(self._kernels, x, with_mask_head=False)

    def _cls_loc(self, outputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """`SiamMaskOutput` -> float32 (cls, loc); keeps the outputs for the mask."""
        self._outputs = outputs
        return outputs.cls.float(), outputs.loc.float()

    def _best_cell(self) -> tuple[int, int]:
        """Score-map (y, x) of the anchor the last `_search` chose (``self._best``)."""
        s = self._outputs.cls.shape[-1]
        _, y, x = np.unravel_index(self._best, (self.anchor_num, s, s))
        return int(y), int(x)

    # -- public interface --------------------------------------------------------------------

    def finish(self, step: SearchStep, outputs: Any) -> TrackResult:
        """Box step as `SiamRPNTracker`, then the mask at the best cell and its polygon."""
        res = super().finish(step, outputs)
        y, x = self._best_cell()
        with precision_context(self.precision, self.device):
            logits = self.net.mask(self._outputs, (y, x))
        prob = torch.sigmoid(logits.float())[0, 0].cpu().numpy()
        center, crop_side, out_size = step.info["crop"]
        scale = crop_side / out_size  # image px per crop px
        half = self._outputs.cls.shape[-1] // 2
        height, width = step.info["image_size"]
        if self._pysot:  # window corner = crop corner + cell offset (pysot's sub_box)
            off = (np.array([x, y], dtype=np.float64) - half) * self.stride
            off += (out_size - self.exemplar_size) / 2
            x0, y0 = center - crop_side / 2 + off * scale
            window = (x0, y0, scale * self.exemplar_size)
            border = -1.0 if self._siammask else 0.0
            mask = paste_mask_pysot(prob, window, (width, height), border)
        else:
            offset = np.array([x - half, y - half], dtype=np.float64) * self.stride * scale
            cx, cy = center + offset
            mask = paste_mask(prob, (cx, cy), self.exemplar_size * scale, (width, height))
        binary = (mask > self.mask_threshold).astype(np.uint8)
        box = self._unclipped if self._siammask else res.box
        polygon = mask_polygon(binary, box, self.min_polygon_area)
        return TrackResult(box=res.box, score=res.score, polygon=polygon, mask=mask)
