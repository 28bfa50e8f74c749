"""COCO detection as tracking data: every object instance is a one-frame sequence.

Layout under ``root`` (as unpacked from cocodataset.org)::

    annotations/instances_train2017.json    # also instances_{val2017,train2014,val2014}.json
    train2017/000000000009.jpg ...          # one image folder per split

The JSON holds ``images[]{id,file_name,width,height}``, ``categories[]{id,name}`` and
``annotations[]{id,image_id,category_id,bbox,iscrowd,segmentation}``. Each annotation with
``iscrowd == 0`` and a box of positive width and height becomes a `Sequence` named
``<image_id>-<ann_id>`` holding one frame; ``bbox`` ``[x, y, w, h]`` is already in the package's
box convention. Crowd regions and zero-size boxes are skipped and counted (logged at INFO), as
in pytracking's ``coco_seq`` and pysot's ``gen_json``. A template/search pair therefore comes
from the same image with different jitter, which is pysot's ``FRAME_RANGE 1`` for COCO.

``meta``: ``category`` (name), ``category_id``, ``image_id``, ``ann_id``, ``width``, ``height``,
``annotation_file``; with ``masks=True`` (the default) also ``segmentation`` (the raw polygon
list or RLE dict of the JSON), ``has_masks = True`` and ``mask_format = "coco"``, so that
`Sequence.read_mask` decodes it (`data.core.masks`) into a bool (H, W) mask; ``masks=False``
drops the segmentations to save memory.

The JSON is parsed once (pycocotools), then the annotation list is walked once; each image's
path string is shared by all its instances.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError

__all__ = ["SPLITS", "VERSION", "cache_files", "load"]

VERSION = 2  # 2: meta["mask_format"]
CACHE = True  # open_dataset keeps the parsed index in the index cache
SPLITS = ("train2017", "val2017", "train2014", "val2014")
log = logging.getLogger(__name__)


def cache_files(root: str | Path, split: str | None = None, **options: Any) -> list[Path]:
    """The annotation JSON and the image folder, whose modification times the index cache
    checks (an image replaced in place is not seen)."""
    split = split or "train2017"
    return [Path(root, "annotations", f"instances_{split}.json"), Path(root, split)]


def _read_json(path: Path) -> COCO:
    if not path.is_file():
        raise DataError("COCO annotation file does not exist", path=path)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            return COCO(str(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from None
    except (KeyError, TypeError) as exc:
        raise DataError(f"not a COCO instances file ({exc!r})", path=path) from None


def _sequence(
    ann: dict[str, Any],
    images: dict[int, tuple[str, dict[str, Any]]],
    cats: dict[int, str],
    ann_path: str,
    masks: bool,
) -> Sequence:
    image_id = ann["image_id"]
    if image_id not in images:
        raise DataError(
            f"annotation {ann['id']} refers to unknown image_id {image_id}", path=ann_path
        )
    frame, img = images[image_id]
    meta: dict[str, Any] = {
        "category": cats.get(ann["category_id"], str(ann["category_id"])),
        "category_id": ann["category_id"],
        "image_id": image_id,
        "ann_id": ann["id"],
        "width": img["width"],
        "height": img["height"],
        "annotation_file": ann_path,
    }
    if masks and ann.get("segmentation"):
        meta["segmentation"] = ann["segmentation"]
        meta["mask_format"] = "coco"  # decoded by data.core.masks
        meta["has_masks"] = True
    box = np.array([ann["bbox"]], dtype=np.float64)
    return Sequence(f"{image_id}-{ann['id']}", [frame], box, meta=meta)


def load(
    root: str | Path,
    split: str | None = None,
    *,
    masks: bool = True,
) -> SequenceIndex:
    """Read one COCO instances split (default ``train2017``) into one-frame sequences."""
    split = split or "train2017"
    if split not in SPLITS:
        raise ValueError(f"coco: no split {split!r}; use one of {', '.join(SPLITS)}")
    if root is None:
        raise ValueError("coco: root (the folder holding annotations/ and the images) is required")
    base = Path(root)
    if not base.is_dir():
        raise DataError("COCO root folder does not exist", path=base)
    image_dir = base / split
    if not image_dir.is_dir():
        raise DataError(f"COCO image folder {image_dir} does not exist", path=base)
    ann_path = base / "annotations" / f"instances_{split}.json"
    coco = _read_json(ann_path)
    src = str(ann_path)
    try:
        cats = {c["id"]: c["name"] for c in coco.dataset.get("categories", [])}
        prefix = f"{image_dir}{os.sep}"
        images = {i: (prefix + img["file_name"], img) for i, img in coco.imgs.items()}
    except (KeyError, TypeError) as exc:
        raise DataError(f"malformed COCO image or category entry ({exc!r})", path=src) from None
    anns = coco.dataset.get("annotations", [])
    del coco  # drop pycocotools' index; only what the sequences reference stays alive
    seqs: list[Sequence] = []
    crowd = empty = 0
    for ann in anns:
        try:
            if ann.get("iscrowd", 0):
                crowd += 1
                continue
            w, h = ann["bbox"][2:4]
            if not (w > 0 and h > 0):
                empty += 1
                continue
            seqs.append(_sequence(ann, images, cats, src, masks))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, DataError):
                raise
            aid = ann.get("id") if isinstance(ann, dict) else None
            raise DataError(f"malformed COCO annotation {aid} ({exc!r})", path=src) from None
    log.info(
        "coco %s: %d annotations -> %d sequences; skipped %d crowd, %d zero-size",
        split,
        len(anns),
        len(seqs),
        crowd,
        empty,
    )
    return SequenceIndex(seqs, name="coco", root=str(base))
