"""ImageNet DET (ILSVRC2015 object detection): every annotated object is a one-frame sequence.

Layout (``root`` = the extracted ``ILSVRC`` folder of ``ILSVRC2015_DET.tar.gz``, or a folder
holding ``ILSVRC/`` or ``ILSVRC2015/``, such as pysot's ``training_dataset/det``)::

    Data/DET/train/ILSVRC2013_train/n01440764/n01440764_10026.JPEG
    Data/DET/train/ILSVRC2014_train_0000/ILSVRC2014_train_00000001.JPEG
    Annotations/DET/train/<same relative path>.xml
    Data/DET/val/ILSVRC2012_val_00000001.JPEG  (+ Annotations/DET/val/*.xml)

``Annotations/DET/<split>`` is walked recursively in sorted order (any nesting); each XML's image
is the ``.JPEG`` at the same relative path under ``Data/DET/<split>`` (each image folder is listed
once; images are never opened). Symlinked folders are followed, except links back into
``Annotations/DET`` (pysot's aliases ``a``..``i``). Images without an XML, or whose XML lists no
object, give no sequence (the negative images of the training set).

Object ``k`` (0-based, in XML order) of image ``<stem>`` is sequence ``<stem>-<k>`` (stems are
unique across the dataset; a repeated stem is an error naming both files). Box =
``[xmin, ymin, xmax - xmin, ymax - ymin]`` with no ``+1``, as for ImageNet VID (pysot's
``det/gen_json.py`` keeps the corners, and its training reads ``w = xmax - xmin``). ``meta``:
``class`` (the WordNet id), ``width``, ``height`` and, for a degenerate box (NaN, so the frame
reads as absent), ``repaired = {"degenerate_box": 1}``.

Defects: as `siamlightning.data.sources.imagenet_vid` - ``strict=True`` raises `DataError`
naming the file; ``strict=False`` (default) skips images with a malformed XML or a missing JPEG,
NaNs degenerate boxes, and warns once per load with the counts and the first few paths.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources.imagenet_vid import LoadReport, read_ilsvrc_xml, resolve_root
from siamlightning.errors import DataError

__all__ = ["cache_files", "load"]

VERSION = 1
"""Bumped whenever the parsed output changes (index caches key on it)."""
CACHE = True
"""`open_dataset` keeps the parsed index in the index cache (see `cache_files`)."""


def _annotations(ann: str) -> list[tuple[str, list[str]]]:
    """``(relative folder, sorted xml names)`` of every folder under ``ann``, in sorted order.

    Symbolic links are followed, except those pointing back into ``Annotations/DET`` (pysot's
    ``a``..``i`` aliases of the real folders, ``i`` being ``val``).
    """
    tree = os.path.realpath(os.path.dirname(ann)) + os.sep
    out = []
    for dirpath, dirnames, filenames in os.walk(ann, followlinks=True):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not (
                os.path.islink(os.path.join(dirpath, d))
                and os.path.realpath(os.path.join(dirpath, d)).startswith(tree)
            )
        )
        xmls = sorted(f for f in filenames if f.endswith(".xml"))
        if xmls:
            out.append((os.path.relpath(dirpath, ann), xmls))
    return out


def _image_sequences(stem: str, image: str, xml: str, report: LoadReport) -> list[Sequence] | None:
    """The one-frame sequences of one image (None when its XML is skipped)."""
    try:
        width, height, objects = read_ilsvrc_xml(xml)
    except DataError as err:
        report.skip(err)
        return None
    out = []
    for k, obj in enumerate(objects):
        before = report.repaired
        box = np.array([report.xywh(obj, xml)], dtype=np.float64)
        meta: dict[str, Any] = {"class": obj.name, "width": width, "height": height}
        if report.repaired > before:
            meta["repaired"] = {"degenerate_box": 1}
            report.repaired_sequences += 1
        out.append(Sequence(f"{stem}-{k}", [image], box, meta=meta))
    return out


def cache_files(root: str | Path, split: str | None = None, **options: Any) -> list[Path]:
    """Folders whose modification times tell the index cache that files were added or removed
    at the top two levels (a few stats; deeper changes and in-place edits are not seen)."""
    _, ann, data, _ = resolve_root(root, "DET", split)
    out = []
    for top in (ann, data):
        with os.scandir(top) as it:
            out += [Path(top), *sorted(Path(e.path) for e in it if e.is_dir())]
    return out


def load(
    root: str | Path | None,
    split: str | None = None,
    *,
    strict: bool = False,
) -> SequenceIndex:
    """Read ImageNet DET ``split`` (``train`` default, or ``val``): one sequence per object."""
    base, ann, data, _ = resolve_root(root, "DET", split)
    folders = _annotations(ann)
    if not folders:
        raise DataError("no annotation XML under this folder", path=ann)
    report = LoadReport("imagenet_det", strict=strict)
    seqs: list[Sequence] = []
    stems: dict[str, str] = {}
    for rel, xmls in folders:
        ann_dir = os.path.normpath(os.path.join(ann, rel))
        data_dir = os.path.normpath(os.path.join(data, rel))
        try:
            images = set(os.listdir(data_dir))
        except OSError:
            images = set()
        for name in xmls:
            stem, xml = name[:-4], os.path.join(ann_dir, name)
            image = os.path.join(data_dir, stem + ".JPEG")
            if stem + ".JPEG" not in images:
                report.skip(DataError(f"image missing for annotation {xml}", path=image))
                continue
            if stem in stems:
                other = os.path.normpath(os.path.join(ann, stems[stem], name))
                raise DataError(f"image name {stem!r} also used by {other}", path=xml)
            stems[stem] = rel
            found = _image_sequences(stem, image, xml, report)
            if found:
                seqs.extend(found)
    report.warn()
    return SequenceIndex(seqs, name="imagenet_det", root=str(base))
