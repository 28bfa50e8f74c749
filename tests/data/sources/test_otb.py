"""The OTB layout reader, on fixture trees and on the real sequences when present."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.sources.otb import OTB_FRAME_RANGES, load, read_otb_boxes
from siamlightning.errors import DataError

_JPEG = cv2.imencode(".jpg", np.full((12, 16, 3), 128, np.uint8))[1].tobytes()


def _real_root() -> Path:
    env = os.environ.get("SIAMLIGHTNING_REAL_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4] / "shared" / "data" / "real"


def _seq(root: Path, name: str, lines: list[str] | None, n: int, gt: str = "groundtruth_rect.txt"):
    """A fixture sequence: ``n`` tiny frames and (unless None) annotation ``lines``."""
    img = root / name / "img"
    img.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        (img / f"{i:04d}.jpg").write_bytes(_JPEG)
    if lines is not None:
        (root / name / gt).write_text("\n".join(lines) + "\n")
    return root / name


@pytest.mark.parametrize("sep", [",", "\t", " ", ", ", "  \t"])
def test_delimiters(tmp_path, sep):
    _seq(tmp_path, "A", [sep.join(["1", "2.5", "30", "40"]), sep.join(["2", "3", "31", "41"])], 2)
    s = load(tmp_path)["A"]
    np.testing.assert_array_equal(s.boxes, [[1, 2.5, 30, 40], [2, 3, 31, 41]])
    assert s.meta["annotation_file"].endswith("groundtruth_rect.txt")
    assert s.read_frame(1).shape == (12, 16, 3)


def test_mixed_delimiters_crlf_trailing_blank_lines_and_nan(tmp_path):
    d = _seq(tmp_path, "A", None, 3)
    (d / "groundtruth_rect.txt").write_bytes(b"1,2\t3 4\r\nNaN,NaN,NaN,NaN\r\n5, 6,7 ,8\r\n\r\n\n")
    s = load(tmp_path)["A"]
    np.testing.assert_array_equal(s.boxes[[0, 2]], [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert np.isnan(s.boxes[1]).all() and s.absent.tolist() == [False, True, False]


def test_multi_target_sequences_share_frames(tmp_path):
    _seq(tmp_path, "Jogging", ["1,1,5,5"] * 3, 3, gt="groundtruth_rect.1.txt")
    (tmp_path / "Jogging" / "groundtruth_rect.2.txt").write_text("2,2,6,6\n" * 3)
    _seq(tmp_path, "Human4", ["1,1,5,5"] * 2, 2, gt="groundtruth_rect.2.txt")
    _seq(tmp_path, "Basketball", ["1,1,5,5"] * 2, 2)
    idx = load(tmp_path)
    assert idx.names == ["Basketball", "Human4-2", "Jogging-1", "Jogging-2"]
    assert idx["Jogging-1"].frames == idx["Jogging-2"].frames
    assert idx["Jogging-2"].boxes[0].tolist() == [2, 2, 6, 6]
    assert load(tmp_path, sequences=["Jogging"]).names == ["Jogging-1", "Jogging-2"]
    assert load(tmp_path, sequences=["Jogging-2", "Basketball"]).names == [
        "Basketball",
        "Jogging-2",
    ]
    with pytest.raises(DataError, match="no sequence 'Nope'"):
        load(tmp_path, sequences=["Nope"])


def test_count_mismatch_names_file_and_counts(tmp_path):
    _seq(tmp_path, "Short", ["1,2,3,4"] * 3, 5)
    with pytest.raises(DataError, match=r"groundtruth_rect\.txt.*3 annotation lines but 5 frames"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("bad", "what"), [("1,2,x,4", "non-numeric"), ("1,2,3", "got 3"), ("", "got 0"), ("1,,2,3", "")]
)
def test_malformed_line_names_file_and_line(tmp_path, bad, what):
    _seq(tmp_path, "Bad", ["1,2,3,4", bad, "1,2,3,4"], 3)
    with pytest.raises(DataError, match=r"groundtruth_rect\.txt:2: .*" + what) as info:
        load(tmp_path)
    assert info.value.line == 2 and info.value.path.endswith("groundtruth_rect.txt")


def test_missing_img_or_groundtruth(tmp_path):
    (tmp_path / "NoImg").mkdir()
    (tmp_path / "NoImg" / "groundtruth_rect.txt").write_text("1,2,3,4\n")
    with pytest.raises(DataError, match=r"NoImg.img: missing img/"):
        load(tmp_path)
    (tmp_path / "NoImg" / "groundtruth_rect.txt").unlink()
    _seq(tmp_path, "NoImg", None, 1)
    with pytest.raises(DataError, match=r"NoImg: no groundtruth_rect"):
        load(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load(tmp_path / "absent")


def test_builtin_and_given_frame_ranges(tmp_path):
    assert OTB_FRAME_RANGES["David"] == (300, 770)
    _seq(tmp_path, "Football1", ["1,1,5,5"] * 74, 80)
    _seq(tmp_path, "Cut", [f"{i},1,5,5" for i in (3, 4, 5)], 6)
    _seq(tmp_path, "Same", [f"{i},1,5,5" for i in range(1, 7)], 6)
    idx = load(tmp_path, frame_ranges={"Cut": (3, 5), "Same": [2, 4]})
    assert len(idx["Football1"]) == 74 and idx["Football1"].frames[-1].endswith("0074.jpg")
    assert idx["Football1"].meta["frame_range"] == (1, 74)
    cut = idx["Cut"]
    assert [Path(f).name for f in cut.frames] == ["0003.jpg", "0004.jpg", "0005.jpg"]
    same = idx["Same"]  # a given range cuts frames and lines alike when their counts agree
    assert [Path(f).name for f in same.frames] == ["0002.jpg", "0003.jpg", "0004.jpg"]
    assert same.boxes[:, 0].tolist() == [2, 3, 4]
    with pytest.raises(DataError, match=r"Cut.groundtruth_rect\.txt: .*selects 5 of the 6 frames"):
        load(tmp_path, sequences=["Cut"], frame_ranges={"Cut": (1, 5)})


def test_natural_frame_order_single_folder_root_and_open_dataset(tmp_path):
    d = tmp_path / "Seq"
    (d / "img").mkdir(parents=True)
    for i in range(1, 11):
        (d / "img" / f"{i}.png").write_bytes(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1])
    (d / "img" / "notes.txt").write_text("not a frame")
    (d / "groundtruth_rect.txt").write_text("1 1 2 2\n" * 10)
    idx = open_dataset("otb", d)
    assert idx.names == ["Seq"]
    assert [Path(f).name for f in idx["Seq"].frames] == [f"{i}.png" for i in range(1, 11)]


def test_real_sequences():
    root = _real_root()
    if not (root / "Crossing").is_dir():
        pytest.skip(f"real test sequences not found at {root} (set SIAMLIGHTNING_REAL_DATA)")
    idx = load(root)
    assert {"Crossing", "Girl", "bag"} <= set(idx.names)
    crossing = idx["Crossing"]
    assert len(crossing) == 120 and crossing.boxes[0].tolist() == [205, 151, 17, 50]
    assert crossing.read_frame(0).shape == (240, 360, 3)
    girl = idx["Girl"]
    assert len(girl) == 500 and girl.read_frame(499).shape == (96, 128, 3)
    tabbed = read_otb_boxes(root / "Girl" / "groundtruth_rect.orig.txt")  # tab separated, CRLF
    np.testing.assert_array_equal(tabbed, girl.boxes)
    assert idx["bag"].boxes[0, 0] == pytest.approx(292.23)


def test_benchmark_split_lists_sequences_and_names_missing_ones(tmp_path):
    from siamlightning.data.sources.otb import OTB50, OTB100, OTB2013

    assert (len(OTB2013), len(OTB50), len(OTB100)) == (50, 49, 98)  # + Jogging/Skating2 targets
    assert set(OTB50) < set(OTB100)
    with pytest.raises(DataError, match="otb2013: 50 sequence folder"):
        open_dataset("otb", tmp_path, split="otb2013")


def test_otb_targets_carry_the_toolkit_attributes(tmp_path):
    _seq(tmp_path, "Basketball", ["1,2,3,4"] * 3, 3)
    _seq(tmp_path, "Jogging", ["1,2,3,4"] * 3, 3, gt="groundtruth_rect.1.txt")
    _seq(tmp_path, "MyOwnVideo", ["1,2,3,4"] * 3, 3)
    idx = load(tmp_path)
    assert idx["Basketball"].meta["attributes"] == ["IV", "OPR", "OCC", "DEF", "BC"]
    assert idx["Jogging-1"].meta["attributes"] == ["OPR", "OCC", "DEF"]
    assert "attributes" not in idx["MyOwnVideo"].meta
