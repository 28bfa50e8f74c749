"""Context crops: the one crop function used by training, tracking and evaluation.

Coordinates are continuous pixels: pixel ``i`` covers ``[i, i + 1)``, a box ``x, y, w, h`` has its
centre at ``(x + w / 2, y + h / 2)``. A crop of side ``size`` centred at ``(cx, cy)`` covers
``[cx - size / 2, cx + size / 2)`` and is resampled with a single affine warp; pixels outside
the image are filled with ``pad`` (the image mean by default). `decode_region` decodes only
the part of a (crop cache) JPEG that a crop needs. `pysot_subwindow` is pysot's crop instead
(integer window, mean padding, resize), for trackers that run pysot-trained weights.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from siamlightning.errors import FrameReadError


def context_size(w: float, h: float, context: float = 0.5) -> float:
    """Side of the square exemplar region: sqrt((w + p)(h + p)), p = context * (w + h)."""
    p = context * (w + h)
    return math.sqrt(max((w + p) * (h + p), 1e-12))


def image_mean(image: np.ndarray) -> tuple[float, float, float]:
    """Per-channel mean of an (H, W, 3) image, used as the padding colour."""
    m = cv2.mean(image)
    return (m[0], m[1], m[2])


def crop_affine(
    center: tuple[float, float],
    size: float | tuple[float, float],
    out_size: int,
    shift: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """The 2x3 matrix mapping output pixels to image pixels (``WARP_INVERSE_MAP`` convention).

    Args:
        center: (cx, cy) of the crop in the image, continuous pixels.
        size: crop side (or (sx, sy) for an anisotropic stretch) in image pixels.
        out_size: output side in pixels.
        shift: extra offset of the crop centre, in image pixels (jitter).
    """
    sx, sy = (size, size) if np.isscalar(size) else size
    ax, ay = sx / out_size, sy / out_size
    cx, cy = center[0] + shift[0], center[1] + shift[1]
    # output pixel u has centre u + 0.5 -> continuous x = cx - sx/2 + (u + 0.5) ax -> index x - 0.5
    tx = cx - sx / 2 + 0.5 * ax - 0.5
    ty = cy - sy / 2 + 0.5 * ay - 0.5
    return np.array([[ax, 0.0, tx], [0.0, ay, ty]], dtype=np.float64)


def warp_crop(
    image: np.ndarray,
    matrix: np.ndarray,
    out_size: int,
    pad: tuple[float, ...] | None = None,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """Apply a `crop_affine` matrix: (H, W, C) image -> (out_size, out_size, C), one warp;
    ``pad`` has one value per channel (default: the image mean)."""
    if pad is None:
        pad = image_mean(image)
    return cv2.warpAffine(
        image,
        matrix,
        (out_size, out_size),
        flags=interpolation | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=pad,
    )


def crop_square(
    image: np.ndarray,
    center: tuple[float, float],
    size: float,
    out_size: int,
    pad: tuple[float, float, float] | None = None,
) -> np.ndarray:
    """Crop a ``size``-px square around ``center`` and resize it to ``out_size`` (H=W=out_size)."""
    return warp_crop(image, crop_affine(center, size, out_size), out_size, pad)


def box_to_crop(box: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Map image boxes (..., 4) x,y,w,h into the crop made with ``matrix`` (continuous coords)."""
    ax, tx, ay, ty = matrix[0, 0], matrix[0, 2], matrix[1, 1], matrix[1, 2]
    b = np.asarray(box, dtype=np.float64)
    # image continuous X = ax * U + tx + 0.5 - 0.5 * ax  =>  U = (X - tx - 0.5) / ax + 0.5
    x = (b[..., 0] - tx - 0.5) / ax + 0.5
    y = (b[..., 1] - ty - 0.5) / ay + 0.5
    return np.stack([x, y, b[..., 2] / ax, b[..., 3] / ay], axis=-1)


def pysot_window(center: tuple[float, float], size: int) -> tuple[int, int]:
    """Top-left pixel (x0, y0) of pysot's ``size``-px integer window around an index centre.

    pysot's ``get_subwindow``: ``x0 = floor(cx - (size + 1) / 2 + 0.5)``; the window covers the
    pixels ``x0 .. x0 + size - 1`` (likewise y). ``center`` is in pixel-index coordinates (a box
    ``x, y, w, h`` has its centre at ``x + (w - 1) / 2``), not the continuous ones above.
    """
    c = (size + 1) / 2
    return int(np.floor(center[0] - c + 0.5)), int(np.floor(center[1] - c + 0.5))


def pysot_subwindow(
    image: np.ndarray,
    center: tuple[float, float],
    size: int,
    out_size: int,
    pad: tuple[float, ...],
) -> np.ndarray:
    """pysot's ``get_subwindow``: (H, W, C) uint8 -> (out_size, out_size, C) uint8.

    Takes the integer window of `pysot_window` (pixels outside the image are ``pad`` cast to
    uint8, i.e. truncated, as pysot's numpy assignment does) and ``cv2.resize``s it (bilinear)
    to ``out_size`` unless it already has that side. ``size`` must be a positive integer.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"pysot crop side must be a positive integer, got {size}")
    x0, y0 = pysot_window(center, size)
    height, width = image.shape[:2]
    ix0, iy0 = max(x0, 0), max(y0, 0)
    ix1, iy1 = min(x0 + size, width), min(y0 + size, height)
    inside = (ix0, iy0, ix1, iy1) == (x0, y0, x0 + size, y0 + size)
    if inside:
        patch = image[y0 : y0 + size, x0 : x0 + size]  # a view
    else:
        fill = np.asarray(pad, dtype=np.float64).astype(image.dtype)
        patch = np.empty((size, size, image.shape[2]), image.dtype)
        patch[:] = fill
        if ix1 > ix0 and iy1 > iy0:
            patch[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = image[iy0:iy1, ix0:ix1]
    if size != out_size:
        return cv2.resize(patch, (out_size, out_size))
    return patch.copy() if inside else patch


def _restart_layout(raw: bytes) -> tuple[int, int, int, int, int, int] | None:
    """(SOF offset, scan start, width, height, MCU width, MCU height) of a baseline JPEG with a
    restart marker after every MCU and one interleaved scan; None for any other JPEG."""
    if raw[:2] != b"\xff\xd8":
        return None
    p, sof, dri = 2, None, 0
    while p + 4 <= len(raw):
        if raw[p] != 0xFF:
            return None
        m, ln = raw[p + 1], int.from_bytes(raw[p + 2 : p + 4], "big")
        if m in (0xC0, 0xC1):
            nc = raw[p + 9]
            hs = [raw[p + 11 + 3 * i] >> 4 for i in range(nc)]
            vs = [raw[p + 11 + 3 * i] & 15 for i in range(nc)]
            mw, mh = (8, 8) if nc == 1 else (8 * max(hs), 8 * max(vs))
            h, w = (
                int.from_bytes(raw[p + 5 : p + 7], "big"),
                int.from_bytes(raw[p + 7 : p + 9], "big"),
            )
            sof = (p, w, h, mw, mh, nc)
        elif 0xC2 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            return None  # progressive, lossless or arithmetic coding
        elif m == 0xDD:
            dri = int.from_bytes(raw[p + 4 : p + 6], "big")
        elif m == 0xDA:
            if sof is None or dri != 1 or raw[p + 4] != sof[5]:
                return None
            return sof[0], p + 2 + ln, sof[1], sof[2], sof[3], sof[4]
        p += 2 + ln
    return None


def _decode(buf: bytes | np.ndarray, path: str | Path) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR_RGB)
    if img is None or img.size == 0:
        raise FrameReadError("cannot be decoded as an image (corrupt or truncated?)", path=path)
    return img


def decode_region(path: str | Path, box: tuple[int, int, int, int]) -> tuple[np.ndarray, int, int]:
    """Decode at least pixels ``box`` = (x0, y0, x1, y1) of an image file: (H', W', 3) RGB uint8
    and the (x, y) of its top-left pixel in the image.

    A JPEG with a restart marker after every MCU (what `build_crop_cache` writes) is cut down to
    the MCU rows and columns covering ``box`` (markers renumbered, SOF size patched) and only
    those are decoded; their pixels equal a full decode's except within 2 px of the cut (chroma
    upsampling). Any other file is decoded whole (origin 0, 0).
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise FrameReadError(f"cannot read crop file ({exc.strerror})", path=path) from None
    lay = _restart_layout(raw)
    if lay is None or raw[-2:] != b"\xff\xd9":
        return _decode(raw, path), 0, 0
    sof, start, w, h, mw, mh = lay
    cols, rows = -(-w // mw), -(-h // mh)
    x0, y0 = min(max(int(box[0]), 0), w - 1), min(max(int(box[1]), 0), h - 1)
    x1, y1 = max(min(int(box[2]), w), x0 + 1), max(min(int(box[3]), h), y0 + 1)
    c0, r0, c1, r1 = x0 // mw, y0 // mh, -(-x1 // mw), -(-y1 // mh)
    if (c1 - c0) * (r1 - r0) == cols * rows:
        return _decode(raw, path), 0, 0
    scan = np.frombuffer(raw, np.uint8, offset=start)
    marks = np.flatnonzero((scan[:-1] == 0xFF) & ((scan[1:] & 0xF8) == 0xD0))
    if len(marks) != cols * rows - 1:
        return _decode(raw, path), 0, 0
    ends = np.append(marks, len(scan) - 2) + start
    starts = np.concatenate([[0], marks + 2]) + start
    head = bytearray(raw[:start])
    nh, nw = min(r1 * mh, h) - r0 * mh, min(c1 * mw, w) - c0 * mw
    head[sof + 5 : sof + 9] = nh.to_bytes(2, "big") + nw.to_bytes(2, "big")
    body = b"\xff\xd0".join(
        raw[starts[r * cols + c0] : ends[r * cols + c1 - 1]] for r in range(r0, r1)
    )
    out = np.frombuffer(bytes(head) + body + b"\xff\xd9", np.uint8).copy()
    new = np.flatnonzero((out[start:-1] == 0xFF) & ((out[start + 1 :] & 0xF8) == 0xD0))
    out[start + new + 1] = 0xD0 + (np.arange(len(new)) % 8)
    return _decode(out, path), c0 * mw, r0 * mh
