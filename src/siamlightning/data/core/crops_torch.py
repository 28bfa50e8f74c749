"""The crops of `crops` for B frames at once, on the frames' device (torch, no round trip to cv2).

`crop_square_torch` is `crop_square` (one bilinear warp of `crop_affine`, constant padding) and
`pysot_subwindow_torch` is `pysot_subwindow` (integer window, truncated-pad, ``cv2.resize``
bilinear). Frames are ``(B, H, W, 3)`` tensors or a list of ``(H, W, 3)`` tensors of different
sizes, uint8 or float; the result is ``(B, 3, out, out)`` float32, rounded to integers for uint8
frames as cv2 rounds its uint8 output. Crop geometry (centres, sizes, coefficients) is float64 on
the device: a float32 centre is 2.4e-4 px coarse at x = 4000.

How exact (OpenCV 5.1 wheel, x86 AVX2; ``scripts/bench/bench_device_crop.py`` measures it):

* `pysot_subwindow_torch` reproduces ``cv2.resize`` INTER_LINEAR bit for bit: pysot's window,
  then cv2's 11-bit fixed-point weights (``cvRound(w * 2048)``), a horizontal pass in integers
  and cv2's SIMD vertical pass ``((b0 * (S0 >> 4)) >> 16) + ((b1 * (S1 >> 4)) >> 16) + 2 >> 2``,
  with the row weights of the unclamped source row (cv2 clamps the row index, not the weight).
  A downscale samples 2 x 2 pixels as the warp does (no area filter; exact 2x is cv2's
  INTER_AREA, which gives the same numbers).
* `crop_square_torch` evaluates the bilinear warp exactly (float64) and rounds half to even.
  ``cv2.warpAffine`` has no fixed-point weights any more (OpenCV < 4.11 quantised positions to
  1/32 px); its default path (IPP) and its own float32 kernels differ from each other and from
  exact arithmetic only on values within ~1e-4 of a rounding tie: about 1 value in 10^5-10^6
  differs by 1 (0-255), none by more.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

Frames = torch.Tensor | Sequence[torch.Tensor]


def _check_frames(images: Frames) -> tuple[list[torch.Tensor] | torch.Tensor, torch.device, int]:
    """A (B, H, W, 3) tensor or a list of (H, W, 3) tensors on one device -> (frames, device, B)."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"frames must be (B, H, W, 3), got shape {tuple(images.shape)}")
        return images, images.device, images.shape[0]
    frames = list(images)
    if not frames:
        raise ValueError("no frames given (an empty list)")
    for i, f in enumerate(frames):
        if f.ndim != 3 or f.shape[-1] != 3:
            raise ValueError(f"frame {i} must be (H, W, 3), got shape {tuple(f.shape)}")
        if f.device != frames[0].device or f.dtype != frames[0].dtype:
            raise ValueError(f"frame {i} is {f.dtype} on {f.device}, frame 0 {frames[0].dtype}")
    return frames, frames[0].device, len(frames)


def _sizes(frames: list[torch.Tensor] | torch.Tensor, device: torch.device) -> torch.Tensor:
    """(B, 2) int64 (H, W) of each frame."""
    if isinstance(frames, torch.Tensor):
        hw = torch.tensor(frames.shape[1:3], dtype=torch.int64, device=device)
        return hw.expand(frames.shape[0], 2)
    return torch.tensor([f.shape[:2] for f in frames], dtype=torch.int64, device=device)


def _as64(x: object, device: torch.device, shape: tuple[int, ...], name: str) -> torch.Tensor:
    """Array-like -> float64 tensor of ``shape`` on ``device`` (a float32 input keeps its error)."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, device=device)
    t = t.to(torch.float64)
    if t.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    return t


def frame_tensor(image: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """An (H, W, 3) frame array -> tensor on ``device`` (a read-only array, e.g. a cached frame,
    is copied first: torch does not share non-writable memory)."""
    arr = np.ascontiguousarray(image)
    return torch.from_numpy(arr if arr.flags.writeable else arr.copy()).to(device)


def frame_means(images: Frames) -> torch.Tensor:
    """(B, 3) float64 channel means (``cv2.mean``'s padding colour); exact sums for uint8."""
    frames, _, _ = _check_frames(images)
    if isinstance(frames, torch.Tensor):
        frames = list(frames)
    acc = torch.int64 if frames[0].dtype == torch.uint8 else torch.float64
    return torch.stack(
        [f.sum(dim=(0, 1), dtype=acc).double() / (f.shape[0] * f.shape[1]) for f in frames]
    )


def _gather(
    frames: list[torch.Tensor] | torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixels (B, R, C, 3) at ``rows`` (B, R) x ``cols`` (B, C), indices clamped into the frame,
    and the (B, R) / (B, C) bool masks of the rows / columns that lie inside it."""
    hw = _sizes(frames, rows.device)
    vr = (rows >= 0) & (rows < hw[:, :1])
    vc = (cols >= 0) & (cols < hw[:, 1:])
    r = torch.minimum(rows.clamp(min=0), hw[:, :1] - 1)
    c = torch.minimum(cols.clamp(min=0), hw[:, 1:] - 1)
    pix = torch.stack([f.index_select(0, r[i]).index_select(1, c[i]) for i, f in enumerate(frames)])
    return pix, vr, vc


def crop_square_torch(
    images: Frames,
    centers: object,
    sizes: object,
    out_size: int,
    pads: object | None = None,
) -> torch.Tensor:
    """`crop_square` of B frames at once: (B, 3, out_size, out_size) float32 on their device.

    Args:
        images: (B, H, W, 3) tensor or B tensors (H_i, W_i, 3), uint8 or float.
        centers: (B, 2) crop centres (cx, cy), continuous pixels (float64 kept).
        sizes: (B,) crop sides in image pixels.
        out_size: output side.
        pads: (B, 3) padding colour (default: each frame's channel mean); rounded for uint8.
    """
    frames, device, b = _check_frames(images)
    c = _as64(centers, device, (b, 2), "centers")
    s = _as64(sizes, device, (b,), "sizes")
    pad = frame_means(frames) if pads is None else _as64(pads, device, (b, 3), "pads")
    is_u8 = (frames.dtype if isinstance(frames, torch.Tensor) else frames[0].dtype) == torch.uint8
    if is_u8:  # cv2 converts the border value to the image type (round half to even)
        pad = pad.round().clamp(0, 255)
    # crop_affine, in its operation order: index x = a * u + t
    a = s / out_size
    t = c - (s / 2)[:, None] + (0.5 * a)[:, None] - 0.5  # (B, 2): tx, ty
    u = torch.arange(out_size, dtype=torch.float64, device=device)
    x = a[:, None] * u + t[:, :1]  # (B, out)
    y = a[:, None] * u + t[:, 1:]
    x0, y0 = x.floor(), y.floor()
    ax, ay = x - x0, y - y0
    ix, iy = x0.long(), y0.long()
    n = out_size
    g, vr, vc = _gather(frames, torch.cat([iy, iy + 1], 1), torch.cat([ix, ix + 1], 1))
    # separable weights, zero for rows / columns outside the frame; those get the padding colour
    wx0, wx1 = (1 - ax) * vc[:, :n], ax * vc[:, n:]  # (B, out)
    wy0, wy1 = (1 - ay) * vr[:, :n], ay * vr[:, n:]
    # (B, 2 out, 2, out * 3): columns ix | ix + 1, channels innermost, weights repeated per channel
    g = g.to(torch.float64).view(b, 2 * n, 2, n * 3)
    h = g[:, :, 0] * wx0.repeat_interleave(3, 1)[:, None]
    h.addcmul_(g[:, :, 1], wx1.repeat_interleave(3, 1)[:, None])  # (B, 2 out, out * 3)
    v = h[:, :n] * wy0[:, :, None]
    v.addcmul_(h[:, n:], wy1[:, :, None])
    inside = (wy0 + wy1)[:, :, None] * (wx0 + wx1)[:, None, :]  # (B, out, out)
    v = v.view(b, n, n, 3).addcmul_((1 - inside)[..., None], pad[:, None, None, :])
    if is_u8:
        v = v.round().clamp(0, 255)
    return v.float().permute(0, 3, 1, 2).contiguous()


def _resize_taps(n_in: torch.Tensor, n_out: int, clamp: bool) -> tuple[torch.Tensor, ...]:
    """cv2.resize INTER_LINEAR taps for sides ``n_in`` (B,): (i0, i1, w0, w1), each (B, n_out).

    ``fx = float((d + 0.5) * scale - 0.5)``; weights ``cvRound(w * 2048)`` of ``1 - fx, fx`` in
    float32. cv2 clamps columns with their weight (``clamp``) but rows by index only.
    """
    scale = 1.0 / (n_out / n_in.double())
    d = torch.arange(n_out, dtype=torch.float64, device=n_in.device)
    f = ((d + 0.5) * scale[:, None] - 0.5).float()
    i0 = f.floor()
    f = f - i0
    i0 = i0.long()
    last = (n_in - 1)[:, None]
    if clamp:
        f = torch.where((i0 < 0) | (i0 >= last), torch.zeros_like(f), f)
        i0 = torch.minimum(i0.clamp(min=0), last)
    w1 = (f * 2048).round().int()
    w0 = ((1 - f) * 2048).round().int()
    return torch.minimum(i0.clamp(min=0), last), torch.minimum(i0 + 1, last).clamp(min=0), w0, w1


def pysot_subwindow_torch(
    images: Frames,
    centers: object,
    sizes: object,
    out_size: int,
    pads: object,
) -> torch.Tensor:
    """`pysot_subwindow` of B frames at once: (B, 3, out_size, out_size) float32 on their device.

    Args:
        images: (B, H, W, 3) uint8 tensor or B uint8 tensors (H_i, W_i, 3).
        centers: (B, 2) pixel-index centres (pysot's ``x + (w - 1) / 2``).
        sizes: (B,) positive integer window sides.
        out_size: output side.
        pads: (B, 3) padding colour, truncated to uint8 as pysot's numpy assignment does.
    """
    frames, device, b = _check_frames(images)
    if (frames.dtype if isinstance(frames, torch.Tensor) else frames[0].dtype) != torch.uint8:
        raise ValueError("pysot_subwindow_torch takes uint8 frames (cv2.resize's uint8 path)")
    c = _as64(centers, device, (b, 2), "centers")
    s = _as64(sizes, device, (b,), "sizes")
    if bool((s < 1).any()) or bool((s != s.round()).any()):
        raise ValueError(f"pysot crop sides must be positive integers, got {s.tolist()}")
    fill = _as64(pads, device, (b, 3), "pads").trunc().int()[:, None, None, :]  # (B, 1, 1, 3)
    n = s.long()
    corner = torch.floor(c - ((s + 1) / 2)[:, None] + 0.5).long()  # pysot_window: (x0, y0)
    # a side equal to out_size gives weights (2048, 0) in both passes: an exact copy, as in pysot
    cx0, cx1, a0, a1 = _resize_taps(n, out_size, clamp=True)
    ry0, ry1, b0, b1 = _resize_taps(n, out_size, clamp=False)
    g, vr, vc = _gather(
        frames, corner[:, 1:] + torch.cat([ry0, ry1], 1), corner[:, :1] + torch.cat([cx0, cx1], 1)
    )
    m = out_size
    # horizontal pass in integers (x 2048), outside pixels = fill
    w0, w1 = (a0 * vc[:, :m])[:, None, :, None], (a1 * vc[:, m:])[:, None, :, None]
    wf = (a0 + a1)[:, None, :, None] - w0 - w1
    g = g.int()
    h = g[:, :, :m] * w0 + g[:, :, m:] * w1 + wf * fill  # (B, 2 out, out, 3)
    row_in = vr[:, :, None, None]
    h = torch.where(row_in, h, (a0 + a1)[:, None, :, None] * fill)
    # cv2's SIMD vertical pass (VResizeLinearVec_32s8u)
    v = ((b0[:, :, None, None] * (h[:, :m] >> 4)) >> 16) + (
        (b1[:, :, None, None] * (h[:, m:] >> 4)) >> 16
    )
    v = ((v + 2) >> 2).clamp(0, 255)
    return v.float().permute(0, 3, 1, 2).contiguous()
