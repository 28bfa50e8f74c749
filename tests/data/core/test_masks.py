"""Sequence.read_mask decodes by the source's meta["mask_format"] through one table."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from siamlightning.data.core.masks import MASK_DECODERS
from siamlightning.data.core.sequences import Sequence
from siamlightning.errors import DataError

LABELS = np.array([[0, 1, 1], [2, 2, 0]], np.uint8)  # object 1: 2 px, object 2: 2 px


def _palette_png(path: Path) -> str:
    im = Image.fromarray(LABELS, mode="P")
    im.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0] + [0] * (253 * 3))
    im.save(path)
    return str(path)


def _seq(masks, **meta) -> Sequence:
    return Sequence("s", ["a.jpg"], np.array([[0, 0, 2, 2]], float), masks=masks, meta=meta)


def test_formats_are_the_table():
    assert sorted(MASK_DECODERS) == ["binary", "coco", "palette"]


def test_palette_reads_one_object_binary_reads_any(tmp_path: Path):
    png = _palette_png(tmp_path / "m.png")
    one = _seq([png], mask_format="palette", mask_id=2).read_mask(0)
    assert one.tolist() == (LABELS == 2).tolist()
    assert _seq([png]).read_mask(0).tolist() == (LABELS > 0).tolist()  # default: binary


def test_coco_lives_in_meta():
    seg = {"size": [2, 3], "counts": [1, 2, 3]}  # uncompressed RLE, column-major
    s = _seq(None, mask_format="coco", segmentation=seg, height=2, width=3)
    assert s.read_mask(0).tolist() == [[False, True, False], [True, False, False]]


def test_frame_without_a_file_and_sequence_without_masks_give_none(tmp_path: Path):
    assert _seq([""], mask_format="palette", mask_id=1).read_mask(0) is None
    assert _seq(None).read_mask(0) is None


def test_unknown_format_is_an_error_naming_it(tmp_path: Path):
    with pytest.raises(DataError, match=r"unknown mask_format 'rle'.*binary"):
        _seq([str(tmp_path / "m.png")], mask_format="rle").read_mask(0)
