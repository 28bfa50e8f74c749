"""SiamFC inference: 3-scale search, x16 bicubic upsampling, cosine window, scale smoothing.

Follows siamfc-pytorch ``TrackerSiamFC.update`` and siamese-fc ``tracker.m`` (spec ``trackers.md``
§1), in continuous pixel coordinates (box centre at ``x + w / 2``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from siamlightning.data.core.crops import context_size, crop_square, image_mean
from siamlightning.data.core.crops_torch import crop_square_torch, frame_tensor
from siamlightning.models.siamfc import SiamFCNet
from siamlightning.tracking.base import (
    NetTracker,
    SearchStep,
    TrackResult,
    check_init_box,
    check_precision,
    precision_context,
)


class SiamFCTracker(NetTracker):
    """Stateful SiamFC tracker around a stateless `SiamFCNet`."""

    accepts = ("response",)

    def __init__(
        self,
        *,
        net: SiamFCNet,
        exemplar_size: int = 127,
        search_size: int = 255,
        context_amount: float = 0.5,
        scale_num: int = 3,
        scale_step: float = 1.0375,
        scale_penalty: float = 0.9745,
        scale_lr: float = 0.59,
        window_influence: float = 0.176,
        response_up: int = 16,
        min_scale: float = 0.2,
        max_scale: float = 5.0,
        precision: str = "fp32",
        device: str = "cpu",
        channels_last: bool = True,
        crop_on_device: bool = False,
    ) -> None:
        self.device = torch.device(device)
        self.crop_on_device = bool(crop_on_device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(self.device, memory_format=self.memory_format).eval()
        self.exemplar_size = exemplar_size
        self.search_size = search_size
        self.context_amount = context_amount
        self.scale_penalty = scale_penalty
        self.scale_lr = scale_lr
        self.window_influence = window_influence
        self.response_up = response_up
        self.min_scale, self.max_scale = min_scale, max_scale
        self.precision = check_precision(precision, self.device)
        self.scale_factors = scale_step ** np.linspace(-(scale_num // 2), scale_num // 2, scale_num)
        self._kernels: torch.Tensor | None = None
        self._window: torch.Tensor | None = None

    def _crops(self, image: np.ndarray, sides: list[float], out_size: int) -> torch.Tensor:
        """Squares of ``sides`` px around the centre, padded with the frame's mean -> (n, 3,
        out, out) float on the net's device: cv2 crops, or `crop_square_torch` there."""
        pad = image_mean(image)
        n = len(sides)
        if self.crop_on_device:  # the frame goes to the net's device, the crops are cut there
            frame = frame_tensor(image, self.device)
            t = crop_square_torch([frame] * n, [tuple(self.center)] * n, sides, out_size, [pad] * n)
        else:
            crops = [crop_square(image, tuple(self.center), s, out_size, pad) for s in sides]
            arr = np.stack(crops).transpose(0, 3, 1, 2)
            t = torch.from_numpy(np.ascontiguousarray(arr)).to(self.device).float()
        return t.contiguous(memory_format=self.memory_format)

    @torch.inference_mode()
    def init(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        """Crop the exemplar around ``box`` (x, y, w, h) and cache its correlation kernel."""
        b = check_init_box(box, image)
        self.center = np.array([b[0] + b[2] / 2, b[1] + b[3] / 2])
        self.target_sz = b[2:].copy()
        self.z_sz = context_size(b[2], b[3], self.context_amount)
        self.x_sz = self.z_sz * self.search_size / self.exemplar_size
        self.x_sz0 = self.x_sz
        z = self._crops(image, [self.z_sz], self.exemplar_size)
        with precision_context(self.precision, self.device):
            self._kernels = self.net.template(z)
        if self._window is None:
            # response side after upsampling, from a dry run of the shapes
            r = (self.search_size - self.exemplar_size) // self.net.stride + 1
            up = r * self.response_up
            hann = torch.hann_window(up, periodic=False, dtype=torch.float64)
            win = torch.outer(hann, hann)
            self._window = (win / win.sum()).float().to(self.device)

    def prepare(self, image: np.ndarray) -> SearchStep:
        """The scale pyramid's search crops (scales, 3, S, S) around the last position."""
        if self._kernels is None:
            raise RuntimeError("call init(image, box) before track(image)")
        x = self._crops(image, [self.x_sz * f for f in self.scale_factors], self.search_size)
        return SearchStep(x, self._kernels, {"image_size": image.shape[:2]})

    def finish(self, step: SearchStep, outputs: torch.Tensor) -> TrackResult:
        """Response logits (scales, 1, R, R) -> best scale and peak; new state; box and score."""
        logits = outputs.float()
        up = logits.shape[-1] * self.response_up
        resp = F.interpolate(logits, size=(up, up), mode="bicubic", align_corners=False)[:, 0]
        n = len(self.scale_factors)
        penalties = torch.full((n,), self.scale_penalty, device=resp.device)
        penalties[n // 2] = 1.0
        peaks = resp.flatten(1).amax(dim=1) * penalties
        s = int(peaks.argmax())
        r = resp[s]
        r = r - r.min()
        r = r / (r.sum() + 1e-16)
        r = (1 - self.window_influence) * r + self.window_influence * self._window
        loc = int(r.argmax())
        row, col = divmod(loc, up)
        disp = np.array([col, row], dtype=np.float64) - (up - 1) / 2
        disp = disp * self.net.stride / self.response_up
        disp = disp * self.x_sz * self.scale_factors[s] / self.search_size
        self.center = self.center + disp
        h, w = step.info["image_size"]
        self.center = np.clip(self.center, [0.0, 0.0], [float(w), float(h)])
        scale = (1 - self.scale_lr) + self.scale_lr * self.scale_factors[s]
        scale = float(
            np.clip(self.x_sz * scale, self.min_scale * self.x_sz0, self.max_scale * self.x_sz0)
            / self.x_sz
        )
        self.target_sz = self.target_sz * scale
        self.z_sz *= scale
        self.x_sz *= scale
        box = np.concatenate([self.center - self.target_sz / 2, self.target_sz])
        score = float(torch.sigmoid(logits[s].max()))
        return TrackResult(box=box, score=score)
