"""The VOT reader: official layout (polygons, rectangles, tags, values), pysot json, errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.sources.vot import load, read_regions, vot_init_box
from siamlightning.errors import DataError

_JPEG = cv2.imencode(".jpg", np.full((12, 16, 3), 90, np.uint8))[1].tobytes()
POLY = "10,0,20,10,10,20,0,10"  # a square rotated by 45 degrees


def _frames(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        (folder / f"{i:08d}.jpg").write_bytes(_JPEG)


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """list.txt + 'ball' (polygons, color/, tags, values) + 'car' (rectangles, old layout)."""
    r = tmp_path / "vot2018"
    _write(r / "list.txt", ["ball", "car", ""])
    ball = r / "ball"
    _frames(ball / "color", 4)
    _write(ball / "sequence", ["channels.color=color/%08d.jpg", "fps=30", "name=ball"])
    _write(ball / "groundtruth.txt", [POLY, "1,1,5,1,5,3,1,3", "NaN,NaN,NaN,NaN", "0"])
    _write(ball / "occlusion.tag", ["0", "1"])  # shorter than the sequence: trailing zeros
    _write(ball / "camera_motion.label", ["1", "1", "1", "0"])
    _write(ball / "anchor.value", ["1", "0", "-1.5"])
    car = r / "car"
    _frames(car, 3)  # older editions: frames directly in the sequence folder
    _write(car / "groundtruth.txt", ["10,20,30,40", "11.5,20,30,40", "12,21,30,40"])
    return r


def test_official_polygons_tags_and_values(root: Path) -> None:
    idx = load(root)
    assert idx.names == ["ball", "car"] and idx.name == "vot"
    s = idx["ball"]
    assert s.frames[0].endswith("ball/color/00000001.jpg") and len(s) == 4
    np.testing.assert_array_equal(s.boxes[:2], [[0, 0, 20, 20], [1, 1, 4, 2]])
    assert np.isnan(s.boxes[2:]).all() and s.absent.tolist() == [False, False, True, True]
    np.testing.assert_array_equal(s.polygons[0], [10, 0, 20, 10, 10, 20, 0, 10])
    assert np.isnan(s.polygons[2:]).all()
    assert s.meta["tags"]["occlusion"].tolist() == [False, True, False, False]
    assert s.meta["tags"]["camera_motion"].tolist() == [True, True, True, False]
    assert s.occluded.tolist() == [False, True, False, False]
    assert s.meta["values"]["anchor"].tolist() == [1.0, 0.0, -1.5, 0.0]
    assert s.meta["properties"] == {"channels.color": "color/%08d.jpg", "fps": "30", "name": "ball"}
    assert (s.meta["width"], s.meta["height"]) == (16, 12)
    assert s.meta["region_format"] == ["polygon"]


def test_rectangles_become_pysot_polygons(root: Path) -> None:
    s = open_dataset("vot", root, sequences=["car"])["car"]
    assert s.frames[2].endswith("car/00000003.jpg") and s.meta["tags"] == {}
    np.testing.assert_array_equal(s.boxes[1], [11.5, 20, 30, 40])
    # corners x .. x+w-1 (pysot tools/test.py): rasterised like the rectangle by VOT
    np.testing.assert_array_equal(s.polygons[0], [10, 20, 39, 20, 39, 59, 10, 59])
    np.testing.assert_allclose(vot_init_box(s.polygons), s.boxes, atol=1e-12)
    assert s.meta["region_format"] == ["rectangle"]


def test_init_box_area_preserving() -> None:
    box = vot_init_box(np.array([float(v) for v in POLY.split(",")]))
    # centre (10, 10); scale sqrt(200 / 400); w = 20 s + 1; x = cx - (w - 1) / 2
    w = 20 * np.sqrt(0.5) + 1
    np.testing.assert_allclose(box, [10 - (w - 1) / 2, 10 - (w - 1) / 2, w, w], atol=1e-12)
    with pytest.raises(ValueError, match=r"\(\.\.\., 8\)"):
        vot_init_box(np.zeros(4))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1,2,3,4,5", "4 values"),
        ("m10,10,4,4,30,2", "RLE covers"),
        ("1,2,x,4", "non-numeric"),
        ("1,2,inf,4", "infinite"),
    ],
)
def test_malformed_regions_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    _write(tmp_path / "groundtruth.txt", ["1,2,3,4", line])
    with pytest.raises(DataError, match=message) as err:
        read_regions(tmp_path / "groundtruth.txt")
    assert err.value.line == 2 and err.value.path.endswith("groundtruth.txt")


def test_layout_errors(root: Path, tmp_path: Path) -> None:
    _write(root / "ball" / "size_change.tag", ["0"] * 5)  # longer than the sequence
    with pytest.raises(DataError, match="5 lines for a sequence of 4") as err:
        load(root)
    assert err.value.line == 5
    (root / "ball" / "size_change.tag").unlink()
    _write(root / "car" / "groundtruth.txt", ["1,1,2,2"] * 4)
    with pytest.raises(DataError, match="4 regions but 3 frames"):
        load(root)
    _write(root / "list.txt", ["ball", "nope"])
    with pytest.raises(DataError, match="nope does not exist") as err:
        load(root)
    assert err.value.line == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a VOT root"):
        load(tmp_path / "empty")
    with pytest.raises(ValueError, match="no split 'train'"):
        load(root, split="train")


def test_pysot_json(tmp_path: Path) -> None:
    r = tmp_path / "VOT2018"
    _frames(r / "ants1" / "color", 3)
    entry = {
        "video_dir": "ants1",
        "init_rect": [1, 2, 3, 4],
        "img_names": [f"ants1/color/{i:08d}.jpg" for i in (1, 2, 3)],
        "gt_rect": [[float(v) for v in POLY.split(",")], [1, 2, 3, 4], []],
        "camera_motion": [1, 0],
        "illum_change": [],
        "motion_change": [0, 0, 1],
        "size_change": [],
        "occlusion": [0, 1, 1],
    }
    (r / "VOT2018.json").write_text(json.dumps({"ants1": entry}))
    for idx in (load(r), load(r, json="VOT2018.json")):  # found as <root>/<root.name>.json
        s = idx["ants1"]
        assert Path(s.frames[1]) == r / "ants1" / "color" / "00000002.jpg"
        np.testing.assert_array_equal(s.boxes[:2], [[0, 0, 20, 20], [1, 2, 3, 4]])
        assert np.isnan(s.boxes[2]).all() and s.occluded.tolist() == [False, True, True]
        assert s.meta["tags"]["camera_motion"].tolist() == [True, False, False]
        assert s.meta["init_rect"] == [1, 2, 3, 4] and s.meta["width"] == 16
    entry["gt_rect"][1] = [1, 2, 3]
    (r / "VOT2018.json").write_text(json.dumps({"ants1": entry}))
    with pytest.raises(DataError, match=r"video 'ants1'.*4 values"):
        load(r)
