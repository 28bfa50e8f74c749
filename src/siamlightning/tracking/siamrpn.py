"""SiamRPN / SiamRPN++ inference, pysot's ``SiamRPNTracker`` post-processing (spec §2.9).

Per frame: crop ``round(s_x)`` px around the target, resize to ``search_size``, softmax the
foreground, decode the anchors, apply the scale/ratio penalty (``penalty_k``) and the cosine
window (``window_influence``), take the best anchor, move the centre fully, smooth the size with
``lr = penalty * score * lr``, clip, return the box and the unpenalised score.

Crop conventions (``crop_convention``, keyword-only; the decoding is the same in all):

* ``"exact"`` (default, our trained checkpoints): the centre is kept in continuous pixels
  (``x + w / 2``, as every crop here), `crop_square` centres the ``round(s_x)`` window exactly
  (one affine warp, sub-pixel), the padding is the init frame's ``cv2.mean``, and a zero
  displacement gives back the init box.
* ``"pysot"`` (pysot weights, `load_tracker` sets it): pysot's ``SiamRPNTracker`` to float
  error (pysot decodes the anchors in float32, we in float64). The centre is kept in pixel
  indices (``x + (w - 1) / 2``, 0.5 px less), crops are `pysot_subwindow` (integer window
  starting at ``floor(c - (s + 1) / 2 + 0.5)``, i.e. centred 0.5-1.5 px left of / above the
  target, truncated-mean padding, ``cv2.resize``), the padding is the init frame's ``np.mean``
  and ``s_x = s_z * (search / exemplar)`` in pysot's operation order.
* ``"siammask"`` (foolwood/SiamMask weights, `load_tracker` sets it for its configs): foolwood's
  ``tools/test.py`` ``siamese_track``, i.e. ``"pysot"`` with three differences: the centre is
  continuous (``x + w / 2``: its VOS init ``cv2.boundingRect`` -> ``x + w / 2``, its boxes
  ``cxy_wh_2_rect``), the window corner is Python's ``round(cx - (s + 1) / 2)`` (half to even;
  pysot rounds half up) and ``s_x = s_z + 2 * (search - exemplar) / 2 / scale`` in its order.

All return ``[cx - w / 2, cy - h / 2, w, h]`` of their own centre (pysot's boxes thus lie 0.5 px
left of / above the box centred on its state) and clip the centre with `clip_box` to
``[0, W] x [0, H]`` of their own coordinates (pysot's ``_bbox_clip``). The chosen anchor's
index is kept in ``_best`` (`SiamMaskTracker` takes its mask there).

The padding colour is the init frame's channel mean, reused on every frame (as pysot).

A frame is `prepare` (the crop, `SearchStep`), the network, then `finish` (decode, state update),
so that `siamlightning.tracking.batch.track_batch` can run many trackers' networks as one call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from siamlightning.data.core.crops import context_size, crop_square, image_mean, pysot_subwindow
from siamlightning.data.core.crops_torch import (
    crop_square_torch,
    frame_tensor,
    pysot_subwindow_torch,
)
from siamlightning.models.anchors import score_map_size, tracking_anchors
from siamlightning.tracking.base import (
    NetTracker,
    SearchStep,
    TrackResult,
    check_init_box,
    check_precision,
    precision_context,
)

INPUT_FORMATS = ("bgr255", "rgb255")
CROP_CONVENTIONS = ("exact", "pysot", "siammask")


def _change(r: np.ndarray) -> np.ndarray:
    return np.maximum(r, 1.0 / r)


def _sz(w: np.ndarray | float, h: np.ndarray | float) -> np.ndarray | float:
    """pysot's ``sz`` of the size penalty on (N,) arrays: its context is fixed at 0.5, not the
    crop's ``context_amount`` (the crop side is `context_size`)."""
    pad = (w + h) * 0.5
    return np.sqrt((w + pad) * (h + pad))


def clip_box(
    cx: float, cy: float, w: float, h: float, width: int, height: int
) -> tuple[float, float, float, float]:
    """pysot's ``_bbox_clip``: cx in [0, W], cy in [0, H], w in [10, W], h in [10, H]."""
    return (
        max(0.0, min(cx, float(width))),
        max(0.0, min(cy, float(height))),
        max(10.0, min(w, float(width))),
        max(10.0, min(h, float(height))),
    )


def cosine_window(score_size: int, anchor_num: int) -> np.ndarray:
    """(A*S*S,) unnormalised outer product of ``numpy.hanning(S)``, tiled over the anchors."""
    hann = np.hanning(score_size)
    return np.tile(np.outer(hann, hann).ravel(), anchor_num)


class SiamRPNTracker(NetTracker):
    """Stateful SiamRPN tracker around a stateless `SiamRPNNet` (pysot ``SiamRPNTracker``)."""

    accepts = ("rpn",)

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
        precision: str = "fp32",
        channels_last: bool = True,
        device: str = "cpu",
        crop_convention: str = "exact",
        crop_on_device: bool = False,
    ) -> None:
        fmt = getattr(net, "input_format", "bgr255")
        if fmt not in INPUT_FORMATS:
            raise ValueError(f"net.input_format must be one of {INPUT_FORMATS}, got {fmt!r}")
        if crop_convention not in CROP_CONVENTIONS:
            raise ValueError(
                f"crop_convention must be one of {CROP_CONVENTIONS}, got {crop_convention!r}"
            )
        self.crop_convention = crop_convention
        self.crop_on_device = bool(crop_on_device)
        self._pysot = crop_convention in ("pysot", "siammask")  # integer get_subwindow crops
        self._siammask = crop_convention == "siammask"
        self.device = torch.device(device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(self.device, memory_format=self.memory_format).eval()
        self.flip_channels = fmt == "bgr255"
        self.stride = int(getattr(net, "stride", 8))
        self.anchor_num = int(getattr(net, "anchor_num", 5))
        self.exemplar_size = int(exemplar_size)
        self.search_size = int(search_size)
        self.base_size = int(base_size)
        self.context_amount = float(context_amount)
        self.penalty_k = float(penalty_k)
        self.window_influence = float(window_influence)
        self.lr = float(lr)
        self.precision = check_precision(precision, self.device)
        self._geometry_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._kernels: object | None = None
        self.center = np.zeros(2)  # (cx, cy): continuous ("exact") or pixel index ("pysot")
        self.size = np.ones(2)  # (w, h)
        self.pad: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._best = -1  # anchor index (a * S * S + y * S + x) the last search chose
        self._unclipped = np.zeros(4)  # the last box before `clip_box`

    # -- building blocks (the benchmark times `_crop` and `_forward` separately) --------------

    def _crop(self, image: np.ndarray, size: float, out_size: int) -> torch.Tensor:
        """RGB uint8 image -> (1, 3, out, out) float 0-255 crop, BGR when the net wants it."""
        center = (self.center[0], self.center[1])
        if self._siammask:  # foolwood: corner round(c - (s + 1) / 2), half to even
            half = (int(size) + 1) / 2
            center = (round(center[0] - half) + half, round(center[1] - half) + half)
        if self.crop_on_device:
            return self._crop_on_device(image, center, size, out_size)
        if self._pysot:
            crop = pysot_subwindow(image, center, int(size), out_size, self.pad)
        else:
            crop = crop_square(image, center, size, out_size, self.pad)
        if self.flip_channels:
            crop = np.ascontiguousarray(crop[..., ::-1])
        t = torch.from_numpy(crop).permute(2, 0, 1).unsqueeze(0).to(self.device).float()
        return t.contiguous(memory_format=self.memory_format)

    def _crop_on_device(
        self, image: np.ndarray, center: tuple[float, float], size: float, out_size: int
    ) -> torch.Tensor:
        """`_crop` with `crops_torch` on the net's device: the frame goes there, not the crop."""
        frame = frame_tensor(image, self.device)
        args = ([frame], [center], [size], out_size, [self.pad])
        t = pysot_subwindow_torch(*args) if self._pysot else crop_square_torch(*args)
        if self.flip_channels:
            t = t.flip(1)
        return t.contiguous(memory_format=self.memory_format)

    def _cls_loc(self, outputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's outputs -> float32 (cls, loc) (`SiamMaskTracker` keeps the rest)."""
        cls, loc = outputs
        return cls.float(), loc.float()

    def _geometry(self, search_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Cached (N, 4) anchors (cx, cy, w, h about the crop centre) and (N,) window."""
        if search_size not in self._geometry_cache:
            s = score_map_size(
                search_size=search_size,
                exemplar_size=self.exemplar_size,
                stride=self.stride,
                base_size=self.base_size,
            )
            anchors = tracking_anchors(score_size=s, stride=self.stride).double().numpy()
            if anchors.shape[0] != self.anchor_num * s * s:
                raise ValueError(f"net.anchor_num {self.anchor_num} != the 5 pysot anchor shapes")
            self._geometry_cache[search_size] = (anchors, cosine_window(s, self.anchor_num))
        return self._geometry_cache[search_size]

    def _search_step(self, image: np.ndarray, search_size: int) -> SearchStep:
        """The ``round(s_x)`` search crop around the state, resized to ``search_size``."""
        if self._kernels is None:
            raise RuntimeError("call init(image, box) before track(image)")
        w, h = float(self.size[0]), float(self.size[1])
        s_z = context_size(w, h, self.context_amount)
        scale_z = self.exemplar_size / s_z
        if self._siammask:  # foolwood: s_x + 2 * pad, pad = (search - exemplar) / 2 / scale
            s_x = s_z + 2 * ((search_size - self.exemplar_size) / 2 / scale_z)
        elif self._pysot:
            s_x = s_z * (search_size / self.exemplar_size)
        else:
            s_x = s_z * search_size / self.exemplar_size
        side = round(s_x)
        info = {
            "search_size": search_size,
            "scale_z": scale_z,
            "size": (w, h),
            "crop": (self.center.copy(), float(side), int(search_size)),
            "image_size": image.shape[:2],
        }
        return SearchStep(self._crop(image, side, search_size), self._kernels, info)

    def _decode(
        self, step: SearchStep, outputs: Any, window_influence: float
    ) -> tuple[np.ndarray, float, float]:
        """One pysot search's outputs: best box (dx, dy, w, h) in image px, its lr, its score."""
        cls, loc = self._cls_loc(outputs)
        anchors, window = self._geometry(step.info["search_size"])
        n = anchors.shape[0]
        if cls[0].numel() != 2 * n or loc[0].numel() != 4 * n:
            raise ValueError(
                f"net output {tuple(cls.shape)} does not fit the {n} anchors of search size "
                f"{step.info['search_size']} / base size {self.base_size} (score size from the "
                "config)"
            )
        w, h = step.info["size"]
        scale_z = step.info["scale_z"]
        logits = cls[0].reshape(2, n).cpu().double().numpy()
        score = 0.5 * (1.0 + np.tanh(0.5 * (logits[1] - logits[0])))  # softmax foreground
        delta = loc[0].reshape(4, n).cpu().double().numpy()
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # untrained nets
            pw = np.exp(delta[2]) * anchors[:, 2]
            ph = np.exp(delta[3]) * anchors[:, 3]
            s_c = _change(_sz(pw, ph) / _sz(w * scale_z, h * scale_z))
            r_c = _change((w / h) / (pw / ph))
            penalty = np.exp(-(r_c * s_c - 1.0) * self.penalty_k)
            pscore = penalty * score * (1.0 - window_influence) + window * window_influence
        best = int(np.argmax(np.nan_to_num(pscore, nan=-np.inf)))
        self._best = best
        box = np.array(
            [
                delta[0, best] * anchors[best, 2] + anchors[best, 0],
                delta[1, best] * anchors[best, 3] + anchors[best, 1],
                pw[best],
                ph[best],
            ]
        )
        return box / scale_z, float(penalty[best] * score[best] * self.lr), float(score[best])

    # -- public interface --------------------------------------------------------------------

    def box_center(self, box: np.ndarray | list[float]) -> np.ndarray:
        """(2,) centre of a box (x, y, w, h) in this tracker's convention (see the module doc)."""
        x, y, w, h = (float(v) for v in box)
        if self._pysot and not self._siammask:
            return np.array([x + (w - 1) / 2, y + (h - 1) / 2])
        return np.array([x + w / 2, y + h / 2])

    @torch.inference_mode()
    def init(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        """Crop the exemplar (side ``round(s_z)``) around ``box`` (x, y, w, h); cache kernels."""
        b = check_init_box(box, image)
        self.center = self.box_center(b)
        self.size = b[2:].copy()
        s_z = round(context_size(float(b[2]), float(b[3]), self.context_amount))
        if self._pysot:
            self.pad = tuple(float(v) for v in np.mean(image, axis=(0, 1)))
        else:
            self.pad = image_mean(image)
        z = self._crop(image, max(s_z, 1), self.exemplar_size)
        with precision_context(self.precision, self.device):
            self._kernels = self.net.template(z)

    def prepare(self, image: np.ndarray) -> SearchStep:
        """The search crop (1, 3, S, S) of the next frame around the last position."""
        return self._search_step(image, self.search_size)

    def finish(self, step: SearchStep, outputs: Any) -> TrackResult:
        """(cls, loc) of ``step`` -> move the centre, smooth the size, clip; box and score."""
        disp, lr, score = self._decode(step, outputs, self.window_influence)
        cx, cy = self.center + disp[:2]
        w, h = self.size * (1.0 - lr) + disp[2:] * lr if lr > 0 else self.size  # no inf * 0
        height, width = step.info["image_size"]
        self._unclipped = np.array([cx - w / 2, cy - h / 2, w, h])  # foolwood's empty-mask box
        cx, cy, w, h = clip_box(cx, cy, w, h, width, height)
        self.center = np.array([cx, cy])
        self.size = np.array([w, h])
        return TrackResult(box=np.array([cx - w / 2, cy - h / 2, w, h]), score=score)
