"""The LaSOT reader: absent frames, raw rows, splits, flat and extension roots, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.sources.lasot import LASOT_TEST, load, raw_boxes
from siamlightning.errors import DataError
from siamlightning.metrics.ope import OPESummaryMetric, ope_targets

_JPEG = cv2.imencode(".jpg", np.full((12, 16, 3), 200, np.uint8))[1].tobytes()
ROWS = ["10,10,20,20", "0,0,0,0", "0,0,0,0", "12,10,20,20", "11,10,20,20"]


def _seq(folder: Path, rows: list[str], occ: str, oov: str, n_img: int | None = None) -> Path:
    (folder / "img").mkdir(parents=True)
    for i in range(1, (n_img or len(rows)) + 1):
        (folder / "img" / f"{i:08d}.jpg").write_bytes(_JPEG)
    (folder / "groundtruth.txt").write_text("\n".join(rows) + "\n")
    (folder / "full_occlusion.txt").write_text(occ)
    (folder / "out_of_view.txt").write_text(oov + "\n")
    (folder / "nlp.txt").write_text("white airplane flying over the sea\n")
    return folder


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """airplane-1 (test; absent frames 1, 2) and airplane-2 (train), class-nested."""
    _seq(tmp_path / "airplane" / "airplane-1", ROWS, "0,1,0,0,0", "0,0,1,0,0", n_img=6)
    _seq(tmp_path / "airplane" / "airplane-2", ROWS[:1] * 3, "0,0,0", "0,0,0")
    return tmp_path


def test_absent_frames_are_nan_and_raw_rows_rebuilt(root: Path) -> None:
    idx = load(root)
    assert idx.names == ["airplane-1", "airplane-2"] and idx.name == "lasot"
    s = idx["airplane-1"]
    assert len(s) == 5 and s.frames[4].endswith("airplane-1/img/00000005.jpg")  # 6th ignored
    assert s.absent.tolist() == [False, True, True, False, False]
    assert s.occluded.tolist() == [False, True, False, False, False]
    assert s.out_of_view.tolist() == [False, False, True, False, False]
    assert np.isnan(s.boxes[1:3]).all() and s.boxes[3].tolist() == [12, 10, 20, 20]
    assert "raw_boxes" not in s.meta  # the absent rows are 0,0,0,0: rebuilt on demand
    np.testing.assert_array_equal(raw_boxes(s), [[float(v) for v in r.split(",")] for r in ROWS])
    assert s.meta["nlp"] == "white airplane flying over the sea" and s.meta["class"] == "airplane"


def test_non_zero_absent_rows_are_kept(tmp_path: Path) -> None:
    rows = ["10,10,20,20", "5,5,5,5", "1,1,1,1"]
    _seq(tmp_path / "bear" / "bear-2", rows, "0,1,0", "0,0,0")
    s = load(tmp_path)["bear-2"]
    assert np.isnan(s.boxes[1]).all() and raw_boxes(s)[1].tolist() == [5, 5, 5, 5]


def test_lasot_protocol_from_the_sequence(root: Path) -> None:
    s = load(root)["airplane-1"]
    pred = np.tile([10.0, 10, 20, 20], (5, 1))
    m = OPESummaryMetric("lasot")
    m.update(pred, **ope_targets(s), seq_id=s.uid)
    out = m.compute()  # frames 0, 3, 4 scored (IoU 1, 0.818, 0.905) out of 5
    assert out["success_curve"][0].item() == 3 / 5 and out["success_curve"][17].item() == 2 / 5


def test_splits_flat_and_extension_roots(root: Path, tmp_path: Path) -> None:
    assert len(LASOT_TEST) == 280 and "airplane-1" in LASOT_TEST
    assert load(root, split="train").names == ["airplane-2"]
    with pytest.raises(DataError, match="279 of the 280 LaSOT test sequences are missing"):
        load(root, split="test")
    assert load(root, split="test", sequences=["airplane-1"]).names == ["airplane-1"]
    with pytest.raises(DataError, match=r"no sequence\(s\) \['airplane-2'\] in split 'test'"):
        load(root, split="test", sequences=["airplane-2"])
    flat = tmp_path / "flat"
    _seq(flat / "airplane-1", ROWS, "0,0,0,0,0", "0,0,0,0,0")
    _seq(flat / "atv-3", ROWS[:2], "0,0", "0,0")  # a LaSOT_ext class
    assert load(flat).names == ["airplane-1", "atv-3"]
    assert open_dataset("lasot", flat, split="extension").names == ["airplane-1", "atv-3"]
    assert load(flat, split="train").names == []


def test_errors(root: Path, tmp_path: Path) -> None:
    (root / "airplane" / "airplane-2" / "out_of_view.txt").write_text("0,0\n")
    with pytest.raises(DataError, match="expected 3 comma-separated 0/1 flags, got 2") as err:
        load(root)
    assert err.value.path.endswith("out_of_view.txt") and err.value.line == 1
    (root / "airplane" / "airplane-2" / "out_of_view.txt").write_text("0,2,0\n")
    with pytest.raises(DataError, match="got a value '2'"):
        load(root)
    (root / "airplane" / "airplane-2" / "out_of_view.txt").write_text("0,0,0\n")
    (root / "airplane" / "airplane-2" / "groundtruth.txt").write_text("1,2,3,4\n1,2,3\n1,2,3,4\n")
    with pytest.raises(DataError, match="expected 4 values") as err:
        load(root)
    assert err.value.line == 2
    (root / "airplane" / "airplane-2" / "groundtruth.txt").write_text("1,2,3,4\n" * 4)
    for flags in ("full_occlusion.txt", "out_of_view.txt"):
        (root / "airplane" / "airplane-2" / flags).write_text("0,0,0,0")
    with pytest.raises(DataError, match="frame missing"):
        load(root)
    (tmp_path / "empty" / "x").mkdir(parents=True)
    with pytest.raises(DataError, match="not a LaSOT root"):
        load(tmp_path / "empty")
    with pytest.raises(ValueError, match="no split 'val'"):
        load(root, split="val")


def test_toolkit_attribute_files(tmp_path):
    rows = ["1,2,3,4"] * 3
    _seq(tmp_path / "airplane" / "airplane-1", rows, "0,0,0", "0,0,0")
    _seq(tmp_path / "airplane" / "airplane-2", rows, "0,0,0", "0,0,0")
    att = tmp_path / "annos" / "att"
    att.mkdir(parents=True)
    (att / "airplane-1.txt").write_text("0,1,0,0,0,1,0,0,1,0,0,0,1,0\n")
    (att / "airplane-2.txt").write_text("1,0,0,0,0,0,0,0,0,0,0,0,0,1\n")
    idx = load(tmp_path, attributes=att)
    assert idx["airplane-1"].meta["attributes"] == ["POC", "ROT", "SV", "LR"]
    assert idx["airplane-2"].meta["attributes"] == ["IV", "ARC"]
    (att / "airplane-2.txt").write_text("1,0,0\n")
    with pytest.raises(DataError, match=r"airplane-2\.txt:1: expected 14"):
        load(tmp_path, attributes=att)
    with pytest.raises(DataError, match="attribute folder does not exist"):
        load(tmp_path, attributes=tmp_path / "nope")
