"""Photometric augmentation of uint8 RGB crops; every random draw comes from the sample's rng.

Two colour models: ``"pca"`` is pysot's (``pysot/datasets/augmentation.py`` ``_color_aug``):
an offset ``rgbVar @ N(0, I_3)`` subtracted from the image. pysot computes the offset in RGB
order, reverses it (``offset[::-1]``) and subtracts it from its BGR image, so on our RGB crops the
offset is subtracted unreversed: R - o[0], G - o[1], B - o[2]. pysot keeps the float result;
ours is saturated to uint8 (within 1 of the rounded exact value). ``"jitter"`` is albumentations'
ColorJitter (brightness/contrast/saturation/hue), reseeded from the rng.

Blur is pysot's ``_blur_aug``: an odd size n in 5..45 and ``wx ~ U(0, 1)``; the kernel is a
vertical line of weight ``wx / n`` plus a horizontal line of weight ``(1 - wx) / n`` through the
centre. It is the sum of two box filters, so it runs as two O(1)-per-pixel `cv2.blur` calls
instead of pysot's 45x45 `cv2.filter2D` (same result up to uint8 rounding; the test keeps
filter2D as the oracle).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import TYPE_CHECKING

import cv2
import numpy as np


def _import_without_update_check() -> ModuleType:
    """albumentations, imported without its PyPI version check (a network request at import
    unless ``NO_ALBUMENTATIONS_UPDATE`` is set); the process environment is left as it was."""
    key = "NO_ALBUMENTATIONS_UPDATE"
    if key in os.environ:
        return importlib.import_module("albumentations")
    os.environ[key] = "1"
    try:
        return importlib.import_module("albumentations")
    finally:
        os.environ.pop(key, None)


if TYPE_CHECKING:
    import albumentations as A
else:
    A = _import_without_update_check()

#: pysot's ``Augmentation.rgbVar`` (rows as in pysot; offset = rgbVar @ randn(3), RGB order)
PCA_RGB_VAR = np.array(
    [
        [-0.55919361, 0.98062831, -0.41940627],
        [1.72091413, 0.19879334, -1.82968581],
        [4.64467907, 4.73710203, 4.88324118],
    ],
    dtype=np.float64,
)
COLORS = ("pca", "jitter", "none")


def photometric(
    *,
    brightness: float = 0.25,
    contrast: float = 0.25,
    saturation: float = 0.25,
    hue: float = 0.03,
    color_prob: float = 0.8,
    blur_prob: float = 0.0,
    blur_limit: tuple[int, int] = (3, 7),
    motion_blur_prob: float = 0.0,
) -> A.Compose:
    """An albumentations colour / blur pipeline for uint8 RGB crops (run it with `apply`)."""
    ops: list[A.BasicTransform] = []
    if color_prob > 0:
        ops.append(A.ColorJitter(brightness, contrast, saturation, hue, p=color_prob))
    if blur_prob > 0:
        ops.append(A.GaussianBlur(blur_limit=blur_limit, p=blur_prob))
    if motion_blur_prob > 0:
        ops.append(A.MotionBlur(blur_limit=blur_limit, p=motion_blur_prob))
    return A.Compose(ops, seed=0)


def apply(pipeline: A.Compose | None, image: np.ndarray, seed: int) -> np.ndarray:
    """Run ``pipeline`` on an (H, W, 3) uint8 image with its RNG reset to ``seed``."""
    if pipeline is None or not pipeline.transforms:
        return image
    pipeline.set_random_seed(int(seed))
    return pipeline(image=image)["image"]


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luma of an RGB image replicated to 3 channels, (H, W, 3) uint8."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(g, cv2.COLOR_GRAY2RGB)


def pca_offset(rng: np.random.Generator) -> np.ndarray:
    """pysot's colour offset ``rgbVar @ N(0, I)`` in RGB order, (3,) float64."""
    return PCA_RGB_VAR @ rng.standard_normal(3)


def subtract_offset(image: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``image - offset`` per channel of an (H, W, 3) uint8 image, saturated to 0..255 (OpenCV
    rounds the offset first: at most 1 from the exact rounding)."""
    return cv2.subtract(image, (float(offset[0]), float(offset[1]), float(offset[2]), 0.0))


def line_blur_kernel(size: int, wx: float) -> np.ndarray:
    """pysot's cross-shaped blur kernel (size, size) float64 (the slow oracle of `line_blur`)."""
    k = np.zeros((size, size))
    c = size // 2
    k[:, c] += wx / size
    k[c, :] += (1.0 - wx) / size
    return k


def line_blur(image: np.ndarray, size: int, wx: float) -> np.ndarray:
    """Convolve (H, W, 3) uint8 with `line_blur_kernel` as two box filters (reflect-101 border)."""
    v = cv2.blur(image, (1, size), borderType=cv2.BORDER_REFLECT_101)
    h = cv2.blur(image, (size, 1), borderType=cv2.BORDER_REFLECT_101)
    return cv2.addWeighted(v, wx, h, 1.0 - wx, 0.0)


class Photometric:
    """Colour (``color`` in ``"pca" | "jitter" | "none"``, with ``color_prob``) then pysot's line
    blur (``blur_prob``) of one crop, drawn from the caller's rng: ``aug(image, rng) -> image``."""

    def __init__(self, *, color: str = "pca", color_prob: float = 1.0, blur_prob: float = 0.0):
        if color not in COLORS:
            raise ValueError(f"color must be one of {COLORS}, got {color!r}")
        for name, p in (("color_prob", color_prob), ("blur_prob", blur_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        self.color = color
        self.color_prob = color_prob
        self.blur_prob = blur_prob
        self._jitter = photometric(color_prob=1.0) if color == "jitter" else None

    def __repr__(self) -> str:
        return (
            f"Photometric(color={self.color!r}, color_prob={self.color_prob}, "
            f"blur_prob={self.blur_prob})"
        )

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augment an (H, W, 3) uint8 RGB crop; returns a new (H, W, 3) uint8 array."""
        if self.color != "none" and rng.random() < self.color_prob:
            if self.color == "pca":
                image = subtract_offset(image, pca_offset(rng))
            else:
                image = apply(self._jitter, image, int(rng.integers(0, 2**31)))
        if self.blur_prob > 0 and rng.random() < self.blur_prob:
            size = 5 + 2 * int(rng.integers(0, 21))  # odd 5..45, as pysot's np.arange(5, 46, 2)
            image = line_blur(image, size, float(rng.random()))
        return image
