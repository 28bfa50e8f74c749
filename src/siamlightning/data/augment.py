"""Photometric augmentation with albumentations, reseeded per sample for reproducibility."""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A
import numpy as np


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
    """A colour / blur pipeline for uint8 RGB crops (gray conversion is applied per pair)."""
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
    g = (image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round()
    return np.repeat(np.clip(g, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
