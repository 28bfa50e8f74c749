"""Target masks: one decoder per annotation format, chosen by ``meta["mask_format"]``.

=========== ========================================================== ====================
format      what the source stores                                     set by
=========== ========================================================== ====================
``binary``  a mask image per frame; nonzero pixels are the target      default (DAVIS 2016)
``palette`` a palette PNG per frame; pixel index ``meta["mask_id"]``   davis (2017), youtube_vos
``coco``    polygons or RLE in ``meta["segmentation"]`` (one frame)    coco
=========== ========================================================== ====================

`Sequence.read_mask` looks the format up here; the data model imports no reader.
`siamlightning.data.core.sequences.frame_mask` is what training reads.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from siamlightning.data.core.io import read_mask
from siamlightning.errors import DataError

__all__ = [
    "MASK_DECODERS",
    "decode_coco_segmentation",
    "decode_mask",
    "read_object_mask",
    "read_palette_png",
]


def read_palette_png(path: str | Path) -> np.ndarray:
    """Decode a palette (or 8-bit grayscale) PNG to its uint8 (H, W) indices = object ids.

    OpenCV expands a palette PNG to its colours; Pillow returns the indices unchanged.
    """
    p = Path(path)
    try:
        with Image.open(p) as im:
            im.load()
            mode = im.mode
            arr = np.asarray(im) if mode in ("P", "L", "1", "PA", "LA") else None
    except FileNotFoundError:
        raise DataError("annotation PNG does not exist", path=p) from None
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot decode annotation PNG ({exc})", path=p) from None
    if arr is None:
        raise DataError(
            f"expected a palette (indexed) or 8-bit grayscale PNG, got Pillow mode {mode!r}: "
            "object ids cannot be read from colours",
            path=p,
        )
    if arr.ndim == 3:  # PA / LA: drop the alpha band
        arr = arr[..., 0]
    return np.ascontiguousarray(arr, dtype=np.uint8)


def read_object_mask(path: str | Path, object_id: int | None) -> np.ndarray:
    """Pixels of object ``object_id`` in a palette PNG as bool (H, W); None: any nonzero pixel."""
    labels = read_palette_png(path)
    return labels > 0 if object_id is None else labels == int(object_id)


def decode_coco_segmentation(meta: Mapping[str, Any], name: str) -> np.ndarray:
    """The instance mask in ``meta["segmentation"]`` (COCO polygons or RLE) as bool (H, W)."""
    from pycocotools import mask as mask_utils

    seg = meta.get("segmentation")
    if seg is None:
        raise DataError(
            f"COCO sequence {name!r} has no segmentation (read with masks=False?)",
            path=meta.get("annotation_file"),
        )
    h, w = int(meta["height"]), int(meta["width"])
    if isinstance(seg, list):  # polygons: one or more flat [x1, y1, x2, y2, ...] lists
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    elif isinstance(seg, dict) and isinstance(seg.get("counts"), list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(seg, h, w)
    elif isinstance(seg, dict) and "counts" in seg:  # compressed RLE (bytes or str)
        rle = seg
    else:
        raise DataError(
            f"COCO sequence {name!r}: unsupported segmentation {type(seg).__name__}",
            path=meta.get("annotation_file"),
        )
    return mask_utils.decode(rle).astype(bool)


# format -> decoder(mask file or None, sequence meta, sequence name) -> bool (H, W)
MASK_DECODERS: dict[str, Callable[[str | None, Mapping[str, Any], str], np.ndarray]] = {
    "binary": lambda path, meta, name: read_mask(path),
    "palette": lambda path, meta, name: read_object_mask(path, meta.get("mask_id")),
    "coco": lambda path, meta, name: decode_coco_segmentation(meta, name),
}
# formats whose mask lives in ``meta`` rather than in a file per frame
IN_META = frozenset({"coco"})


def decode_mask(
    fmt: str, path: str | None, meta: Mapping[str, Any], name: str
) -> np.ndarray | None:
    """The bool (H, W) mask of one frame in format ``fmt``; None when the frame has no mask file."""
    decoder = MASK_DECODERS.get(fmt)
    if decoder is None:
        raise DataError(
            f"sequence {name!r}: unknown mask_format {fmt!r}; known: {sorted(MASK_DECODERS)}"
        )
    if fmt not in IN_META and not path:  # e.g. a YouTube-VOS frame without an annotation
        return None
    return decoder(path, meta, name)
