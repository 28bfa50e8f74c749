"""Reading a 511-px crop cache (`crop_cache.build_crop_cache`): its layout and `CropCache`.

Layout under the cache folder: ``<sequence name>/<frame:06d>.x.jpg`` (the image crop),
``<frame:06d>.m.png`` (its 0/255 mask crop, for sequences with masks), ``<seq>/crops.npz`` per
finished sequence, ``crop_index.npz`` (names, per-sequence offsets, frame numbers, centre/side,
padding colour, and ``mask``: which rows have a mask crop) and ``crop_cache.json``.

`CropCache.crop` makes the crop that `warp_crop` would make from the full frame, decoding only
the JPEG MCUs it needs (`jpeg.decode_region`); `CropCache.mask` makes the mask that
`warp_mask` would make from the full frame's mask: the cached 511 mask crop warped by the
sample's matrix composed with the cache crop's (bilinear on {0, 1}, padding 0, ``> 0.5``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

from siamlightning.data.core.crops import crop_affine, warp_crop, warp_mask
from siamlightning.data.tools.jpeg import decode_region
from siamlightning.errors import DataError, FrameReadError

__all__ = ["INDEX_FILE", "META_FILE", "PART_FILE", "CropCache", "crop_path", "mask_path"]

INDEX_FILE, META_FILE, PART_FILE = "crop_index.npz", "crop_cache.json", "crops.npz"


def crop_path(out_dir: str | Path, name: str, frame: int) -> Path:
    """``<out>/<name>/<frame:06d>.x.jpg``; rejects names that would leave ``out_dir``."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise ValueError(f"sequence name {name!r} cannot be used as a cache folder")
    return Path(out_dir, name, f"{frame:06d}.x.jpg")


def mask_path(out_dir: str | Path, name: str, frame: int) -> Path:
    """``<out>/<name>/<frame:06d>.m.png``: the mask crop next to `crop_path`'s image crop."""
    return crop_path(out_dir, name, frame).with_name(f"{frame:06d}.m.png")


class CropCache:
    """A built crop cache: look up a (sequence name, frame) and read the pixels a crop needs."""

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)
        meta_path, index_path = self.root / META_FILE, self.root / INDEX_FILE
        if not index_path.is_file():
            raise DataError("not a finished crop cache (run build_crop_cache)", path=index_path)
        self.meta = json.loads(meta_path.read_text())
        self.size = int(self.meta["size"])
        with np.load(index_path) as z:
            names, self.offsets = z["names"].tolist(), z["offsets"]
            self.frame, self.geom, self.pad = z["frame"], z["geom"], z["pad"]
            # caches built before masks have none
            self.masked = z["mask"] if "mask" in z.files else np.zeros(len(self.frame), bool)
        self._seq = {n: k for k, n in enumerate(names)}
        self._base = str(self.root)
        self._names = names

    def __len__(self) -> int:
        return len(self.frame)

    def lookup(self, name: str, frame: int) -> int:
        """Cache row of frame ``frame`` of sequence ``name``, or -1 when it was not cropped."""
        k = self._seq.get(name)
        if k is None:
            return -1
        a, b = int(self.offsets[k]), int(self.offsets[k + 1])
        i = a + int(np.searchsorted(self.frame[a:b], frame))
        return i if i < b and self.frame[i] == frame else -1

    def bind(self, names: list[str], offsets: np.ndarray) -> np.ndarray:
        """Cache row (or -1) of every frame row of an index, (F,) int64, given its sequence
        ``names`` (S,) and frame-table ``offsets`` (S + 1,)."""
        rows = np.full(int(offsets[-1]), -1, dtype=np.int64)
        for j, name in enumerate(names):
            k = self._seq.get(name)
            if k is None:
                continue
            a, b = int(self.offsets[k]), int(self.offsets[k + 1])
            frames = self.frame[a:b]
            ok = frames < offsets[j + 1] - offsets[j]
            rows[offsets[j] + frames[ok]] = np.arange(a, b)[ok]
        return rows

    def crop(self, row: int, matrix: np.ndarray, out_size: int) -> np.ndarray:
        """The (out, out, 3) crop that `warp_crop` (frame, ``matrix``, out) makes, from the cache.

        ``matrix`` maps output to frame pixels; composed with the cache crop's own map it becomes
        output -> cache pixels; only the region it samples (+ 2 px) is decoded.
        """
        ax, ay, tx, ty = self._local(row, matrix)
        xs, ys = sorted((tx, tx + ax * (out_size - 1))), sorted((ty, ty + ay * (out_size - 1)))
        box = (
            math.floor(xs[0]) - 2,
            math.floor(ys[0]) - 2,
            math.ceil(xs[1]) + 3,
            math.ceil(ys[1]) + 3,
        )
        image, ox, oy = self.read(row, box)
        m = np.array([[ax, 0.0, tx - ox], [0.0, ay, ty - oy]])
        pad = (*(float(v) for v in self.pad[row]), 0.0)
        # OpenCV warps 4 channels about 1.7x faster than 3; the region is small to convert
        rgba = cv2.cvtColor(image, cv2.COLOR_RGB2RGBA)
        return cv2.cvtColor(warp_crop(rgba, m, out_size, pad), cv2.COLOR_RGBA2RGB)

    def has_mask(self, row: int) -> bool:
        """True when cache row ``row`` has a mask crop (`mask_path`)."""
        return bool(self.masked[row])

    def mask(self, row: int, matrix: np.ndarray, out_size: int) -> np.ndarray:
        """The (out, out) uint8 {0, 1} mask that `warp_mask` (frame mask, ``matrix``, out) makes,
        from the cached 511 mask crop: bilinear on {0, 1}, padding 0, ``> 0.5``."""
        k = int(np.searchsorted(self.offsets, row, side="right")) - 1
        path = mask_path(self.root, self._names[k], int(self.frame[row]))
        crop = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if crop is None:
            raise FrameReadError("mask crop is missing or cannot be decoded", path=path)
        ax, ay, tx, ty = self._local(row, matrix)
        m = np.array([[ax, 0.0, tx], [0.0, ay, ty]])
        return warp_mask(crop > 127, m, out_size)

    def _local(self, row: int, matrix: np.ndarray) -> tuple[float, float, float, float]:
        """Scale and offset (ax, ay, tx, ty) of ``matrix`` (output -> frame) composed with the
        inverse of row ``row``'s crop map: output -> cache-crop pixels."""
        c = self.matrix(row)
        ax, ay = matrix[0, 0] / c[0, 0], matrix[1, 1] / c[1, 1]
        tx, ty = (matrix[0, 2] - c[0, 2]) / c[0, 0], (matrix[1, 2] - c[1, 2]) / c[1, 1]
        return float(ax), float(ay), float(tx), float(ty)

    def matrix(self, row: int) -> np.ndarray:
        """2x3 map from cache-crop pixels to frame pixels (`crop_affine` convention)."""
        cx, cy, side = self.geom[row]
        return crop_affine((cx, cy), side, self.size)

    def read(self, row: int, box: tuple[int, int, int, int]) -> tuple[np.ndarray, int, int]:
        """RGB pixels covering ``box`` = (x0, y0, x1, y1) of the crop, with their origin (x, y)."""
        k = int(np.searchsorted(self.offsets, row, side="right")) - 1
        return decode_region(f"{self._base}/{self._names[k]}/{self.frame[row]:06d}.x.jpg", box)
