"""VOT region lines: parsing, formatting, RLE masks, errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siamlightning.errors import DataError
from siamlightning.metrics.regions import (
    FAILURE,
    INIT,
    REGION,
    UNKNOWN,
    Mask,
    Special,
    format_region,
    mask_to_rle,
    parse_region,
    read_regions,
    region_codes,
    region_is_empty,
    rle_to_mask,
    write_regions,
)


def test_parse_each_kind() -> None:
    assert parse_region("1") == Special(INIT) and parse_region("2\n") == Special(FAILURE)
    assert parse_region("0") == Special(UNKNOWN)
    np.testing.assert_array_equal(parse_region("10.5,20,30,40"), [10.5, 20, 30, 40])
    poly = parse_region(" 1,2, 3,4 ,5,6,7,8")
    assert isinstance(poly, np.ndarray) and poly.shape == (8,) and poly.dtype == np.float64
    assert parse_region("1,2,3,4,5,6").shape == (6,)  # a triangle
    for line in ("nan,nan,nan,nan", "NaN,1,2,3,4,5,6,7", "nan,nan"):
        assert parse_region(line) == Special(UNKNOWN)  # spec: NaN -> Special(0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1,2,3", "3 values"),
        ("1,2,3,4,5,6,7", "7 values"),
        ("1,2,x,4", "non-numeric value 'x'"),
        ("1.5", "special code"),
        ("3,4", "point"),
        ("", "empty line"),
        ("m1,2,3", "mask line needs"),
        ("m0,0,2,2,1,9", "covers 10 pixels, box has 4"),
        ("m0,0,2,a", "integers"),
    ],
)
def test_parse_errors(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_region(line)


def test_read_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "seq_001.txt"
    path.write_text("1\n10,10,20,20\n1,2,3,4,5,6,7\n")
    with pytest.raises(DataError, match=r"seq_001\.txt:3: 7 values: expected 1") as info:
        read_regions(path)
    assert info.value.line == 3 and info.value.path == str(path)
    path.write_text("1\n10,10,abc,20\n")
    with pytest.raises(DataError, match=r"seq_001\.txt:2: non-numeric value 'abc'"):
        read_regions(path)
    with pytest.raises(DataError, match="region file not found"):
        read_regions(tmp_path / "missing.txt")


def test_rle_and_mask_round_trip(tmp_path: Path) -> None:
    m = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)
    assert mask_to_rle(m) == [1, 3, 2]
    assert mask_to_rle(np.ones((2, 2))) == [0, 4]
    assert mask_to_rle(np.zeros((0, 0))) == [0]
    np.testing.assert_array_equal(rle_to_mask([1, 3, 2], 3, 2), m)
    np.testing.assert_array_equal(rle_to_mask([1, 2], 3, 2), [[0, 1, 1], [0, 0, 0]])
    region = parse_region("m5,7,3,2,1,3,2")
    assert isinstance(region, Mask) and region.offset == (5, 7)
    np.testing.assert_array_equal(region.mask, m)
    assert format_region(region) == "m5,7,3,2,1,3,2"
    rng = np.random.default_rng(0)
    for _ in range(20):
        h, w = rng.integers(1, 30, 2)
        mask = Mask(rng.random((h, w)) < 0.3, (int(rng.integers(0, 99)), int(rng.integers(0, 99))))
        back = parse_region(format_region(mask))
        assert back.offset == mask.offset
        np.testing.assert_array_equal(back.mask, mask.mask)
    regions = [Special(1), np.array([1.5, 2, 3, 4]), np.arange(8.0), region, Special(2)]
    write_regions(tmp_path / "out" / "t.txt", regions)
    assert (tmp_path / "out" / "t.txt").read_text().splitlines()[:3] == [
        "1",
        "1.5,2,3,4",
        "0,1,2,3,4,5,6,7",
    ]
    again = read_regions(tmp_path / "out" / "t.txt")
    assert again[0] == Special(1) and again[4] == Special(2)
    np.testing.assert_array_equal(again[1], regions[1])
    np.testing.assert_array_equal(again[3].mask, m)
    assert region_codes(again).tolist() == [INIT, REGION, REGION, REGION, FAILURE]


def test_mask_from_image_and_emptiness() -> None:
    img = np.zeros((10, 12), dtype=bool)
    img[3:5, 4:9] = True
    m = Mask.from_image(img)
    assert m.offset == (4, 3) and m.mask.shape == (2, 5) and m.mask.all()
    assert Mask.from_image(np.zeros((4, 4))).mask.shape == (0, 0)
    assert region_is_empty(Special(1)) and region_is_empty(np.array([0.0, 0, 0, 5]))
    assert not region_is_empty(np.array([0.0, 0, 1, 5]))
    assert region_is_empty(np.array([1.0, 1, 5, 1, 9, 1, 3, 1]))  # flat polygon
    assert not region_is_empty(m) and region_is_empty(Mask.from_image(np.zeros((3, 3))))
