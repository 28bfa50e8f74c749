"""VOT2020+ mask ground truth in the VOT reader: ``m x0,y0,w,h,rle`` lines, mixed files, errors."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data.sources.vot import load, read_regions
from siamlightning.errors import DataError
from siamlightning.metrics.regions import Mask, format_region
from siamlightning.metrics.regions import read_regions as read_region_lines

# a 4 x 3 box at (10, 20): 5 zeros, 2 ones, 2 zeros, 1 one -> pixels (11, 21), (12, 21), (11, 22)
HAND = "m10,20,4,3,5,2,2,1"


def _l_shape() -> np.ndarray:
    """An L of 7 + 3 = 10 pixels: column 30 on rows 5..11, row 11 on columns 31..33."""
    m = np.zeros((40, 50), dtype=bool)
    m[5:12, 30] = True
    m[11, 31:34] = True
    return m


def _tree(root: Path, lines: list[str], anchors: list[int] | None = None) -> Path:
    seq = root / "ant"
    (seq / "color").mkdir(parents=True)
    for i in range(len(lines)):
        cv2.imwrite(str(seq / "color" / f"{i + 1:08d}.jpg"), np.zeros((40, 50, 3), np.uint8))
    (seq / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    (seq / "sequence").write_text("channels.color=color/%08d.jpg\n")
    if anchors is not None:
        (seq / "anchor.value").write_text("\n".join(str(a) for a in anchors) + "\n")
    (root / "list.txt").write_text("ant\n")
    return root


def test_mask_lines_give_tight_boxes_in_a_mixed_file(tmp_path: Path) -> None:
    l_line = format_region(Mask.from_image(_l_shape()))
    assert l_line == "m30,5,4,7,0,1,3,1,3,1,3,1,3,1,3,1,3,4"
    lines = [HAND, l_line, "m0,0,0,0,0", "1,2,3,4", "0,0,8,0,8,6,0,6", "nan,nan,nan,nan"]
    index = load(_tree(tmp_path, lines, anchors=[1, 0, 0, 0, 0, -1]))
    seq = index[0]
    np.testing.assert_array_equal(seq.boxes[0], [11, 21, 2, 2])
    np.testing.assert_array_equal(seq.boxes[1], [30, 5, 4, 7])  # w = columns 30..33
    np.testing.assert_array_equal(seq.boxes[3], [1, 2, 3, 4])
    np.testing.assert_array_equal(seq.boxes[4], [0, 0, 8, 6])
    # the box's polygon has corners x .. x+w-1, like a VOT rectangle line
    np.testing.assert_array_equal(seq.polygons[1], [30, 5, 33, 5, 33, 11, 30, 11])
    np.testing.assert_array_equal(seq.polygons[3], [1, 2, 3, 2, 3, 5, 1, 5])
    # an empty mask is an absent target, like a NaN line
    assert np.isnan(seq.boxes[2]).all() and np.isnan(seq.polygons[2]).all()
    assert seq.absent.tolist() == [False, False, True, False, False, True]
    assert seq.meta["region_format"] == ["mask", "polygon", "rectangle"]
    np.testing.assert_array_equal(seq.meta["values"]["anchor"], [1, 0, 0, 0, 0, -1])
    # the exact regions stay in the file the meta names
    exact = read_region_lines(seq.meta["gt_regions_file"])
    assert [int(r.mask.sum()) for r in exact[:3]] == [3, 10, 0]
    assert exact[0].offset == (10, 20) and exact[0].mask.shape == (3, 4)
    np.testing.assert_array_equal(exact[0].mask.nonzero(), ([1, 1, 2], [1, 2, 1]))


def test_mask_box_covers_exactly_the_foreground_columns_and_rows(tmp_path: Path) -> None:
    m = np.zeros((30, 30), dtype=bool)
    m[7, 3] = m[19, 25] = True  # two single pixels: box from (3, 7) to (25, 19) inclusive
    (tmp_path / "g.txt").write_text(format_region(Mask(m, (100, 200))) + "\n")
    boxes, polys, kinds = read_regions(tmp_path / "g.txt")
    np.testing.assert_array_equal(boxes, [[103, 207, 23, 13]])
    np.testing.assert_array_equal(polys, [[103, 207, 125, 207, 125, 219, 103, 219]])
    assert kinds == {"mask"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("m10,20,4,3,5,20", "RLE covers 25 pixels, box has 12"),
        ("m10,20,4,3,5,x", "integers"),
        ("m10,20,4,3", "needs x0,y0,w,h and an RLE"),
        ("m10,20,4,3,-1,2", "negative run length"),
    ],
)
def test_malformed_mask_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    root = _tree(tmp_path, [HAND, "1,2,3,4", line])
    with pytest.raises(DataError, match=message) as err:
        load(root)
    assert err.value.line == 3 and err.value.path.endswith("groundtruth.txt")
