"""Context crops: the one crop function used by training, tracking and evaluation.

Coordinates are continuous pixels: pixel ``i`` covers ``[i, i + 1)``, a box ``x, y, w, h`` has its
centre at ``(x + w / 2, y + h / 2)``. A crop of side ``size`` centred at ``(cx, cy)`` covers
``[cx - size / 2, cx + size / 2)`` and is resampled with a single affine warp; pixels outside
the image are filled with ``pad`` (the image mean by default). `pysot_subwindow` is pysot's crop
instead (integer window, mean padding, resize), for trackers that run pysot-trained weights.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


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


def warp_mask(
    mask: np.ndarray, matrix: np.ndarray, out_size: int, threshold: float = 0.5
) -> np.ndarray:
    """A (H, W) bool / {0, 1} mask under a `crop_affine` matrix: (out_size, out_size) uint8 0/1.

    SiamMask's mask crop: bilinear on the float {0, 1} mask, padding 0, then ``> threshold``.
    """
    warped = cv2.warpAffine(
        np.asarray(mask, dtype=np.float32),
        matrix,
        (out_size, out_size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    return (warped > threshold).view(np.uint8)


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
