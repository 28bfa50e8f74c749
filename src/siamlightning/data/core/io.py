"""Image decoding: every public API sees RGB uint8 arrays of shape (H, W, 3)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from siamlightning.errors import FrameReadError

cv2.setNumThreads(1)


def _read_bytes(p: Path, what: str) -> np.ndarray:
    """The bytes of ``p`` as uint8; `FrameReadError` naming the ``what`` file when unreadable."""
    try:
        return np.fromfile(p, dtype=np.uint8)
    except FileNotFoundError:
        raise FrameReadError(f"{what} file does not exist", path=p) from None
    except OSError as exc:
        raise FrameReadError(f"cannot read {what} file ({exc})", path=p) from None


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3); raise `FrameReadError` naming the file."""
    p = Path(path)
    data = _read_bytes(p, "frame")
    if data.size == 0:
        raise FrameReadError("frame file is empty", path=p)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise FrameReadError(
            "frame file cannot be decoded as an image (corrupt or truncated?)", path=p
        )
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask(path: str | Path) -> np.ndarray:
    """Decode a mask image to a bool array (H, W): nonzero pixels are foreground."""
    p = Path(path)
    data = _read_bytes(p, "mask")
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None or img.size == 0:
        raise FrameReadError("mask file cannot be decoded (corrupt or truncated?)", path=p)
    if img.ndim == 3:
        img = img.max(axis=2)
    return img > 0


def write_image(path: str | Path, image: np.ndarray, quality: int = 95) -> None:
    """Encode an RGB uint8 (H, W, 3) or gray (H, W) image to `path` (JPEG/PNG by suffix)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    arr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if p.suffix.lower() in {".jpg", ".jpeg"} else []
    if not cv2.imwrite(str(p), arr, params):
        raise OSError(f"{p}: could not write image")
