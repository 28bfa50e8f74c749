"""The UAV123 reader: official sub-ranges of shared folders, NaN rows, UAV20L, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.sources.uav import UAV123_RANGES, load
from siamlightning.errors import DataError

_JPEG = cv2.imencode(".jpg", np.full((12, 16, 3), 60, np.uint8))[1].tobytes()


def _frames(root: Path, folder: str, numbers: list[int]) -> None:
    d = root / "data_seq" / "UAV123" / folder
    d.mkdir(parents=True, exist_ok=True)
    for i in numbers:
        (d / f"{i:06d}.jpg").write_bytes(_JPEG)


def _anno(root: Path, version: str, name: str, rows: list[str]) -> None:
    d = root / "anno" / version
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.txt").write_text("\n".join(rows) + "\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """bird1_2 (frames 775-1477 of bird1; only the ends need to exist), a custom one, UAV20L."""
    _frames(tmp_path, "bird1", [1, 775, 1477, 2437])
    rows = ["1,2,3,4"] * 703
    rows[1] = "NaN,NaN,NaN,NaN"
    _anno(tmp_path, "UAV123", "bird1_2", rows)
    _frames(tmp_path, "kite1", [1, 2, 3])
    _anno(tmp_path, "UAV123", "kite1_2", ["5,6,7,8"] * 3)  # not in the table: folder kite1
    _anno(tmp_path, "UAV20L", "bird1", ["1,1,9,9"] * 2437)
    (tmp_path / "anno" / "UAV20L" / "att").mkdir()
    return tmp_path


def test_table() -> None:
    assert len(UAV123_RANGES) == 123 and len({v[0] for v in UAV123_RANGES.values()}) == 91
    assert UAV123_RANGES["bird1_2"] == ("bird1", 775, 1477)
    assert UAV123_RANGES["car1_s"] == ("car1_s", 1, 1475)
    assert UAV123_RANGES["uav1_3"] == ("uav1", 2473, 3469)


def test_sub_ranges_and_nan_rows(root: Path) -> None:
    idx = load(root)
    assert idx.names == ["bird1_2", "kite1_2"]
    s = idx["bird1_2"]
    assert len(s) == 703 and s.meta["frame_range"] == (775, 1477)
    assert Path(s.frames[0]).name == "000775.jpg" and Path(s.frames[-1]).name == "001477.jpg"
    assert Path(s.frames[0]).parent.name == "bird1" and s.meta["object_class"] == "bird"
    assert np.isnan(s.boxes[1]).all() and s.absent[:3].tolist() == [False, True, False]
    k = idx["kite1_2"]
    assert k.meta["frame_range"] == (1, 3) and Path(k.frames[2]).parent.name == "kite1"
    assert k.read_frame(1).shape == (12, 16, 3)


def test_uav20l_and_errors(root: Path) -> None:
    s = open_dataset("uav", root, split="uav20l")["bird1"]
    assert s.meta["frame_range"] == (1, 2437) and len(s) == 2437
    assert load(root.parent / root.name, sequences="kite1_2").names == ["kite1_2"]
    with pytest.raises(DataError, match="no annotation for sequence"):
        load(root, sequences=["bird9"])
    _anno(root, "UAV123", "bird1_2", ["1,2,3,4"] * 700)
    with pytest.raises(DataError, match="700 annotation lines but the frame range 775-1477"):
        load(root)
    _anno(root, "UAV123", "bird1_2", ["1,2,3,4"] * 702 + ["1,2,3"])
    with pytest.raises(DataError, match="expected 4 values") as err:
        load(root)
    assert err.value.line == 703
    _anno(root, "UAV123", "bird1_2", ["1,2,3,4"] * 703)
    (root / "data_seq" / "UAV123" / "bird1" / "001477.jpg").unlink()
    with pytest.raises(DataError, match="is missing"):
        load(root)
    with pytest.raises(DataError, match="not a UAV123 root"):
        load(root / "anno")
    with pytest.raises(ValueError, match="no split 'train'"):
        load(root, split="train")
