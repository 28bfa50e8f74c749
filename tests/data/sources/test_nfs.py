"""The NfS reader: raw VATIC files (8x annotation at 30 fps), pytracking layout, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.sources.nfs import load, read_nfs_annotation
from siamlightning.errors import DataError

_JPEG = cv2.imencode(".jpg", np.full((12, 16, 3), 30, np.uint8))[1].tobytes()


def _frames(folder: Path, n: int, digits: int = 5) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        (folder / f"{i:0{digits}d}.jpg").write_bytes(_JPEG)


def _vatic(path: Path, n: int) -> None:
    """``n`` rows ``id left top right bottom frame lost occluded generated "label"``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f'1 {10 + k} 20 {40 + k} 60 {k} {int(k == 2)} {int(k == 8)} 0 "ball"' for k in range(n)]
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Bolt at 240 fps (22 frames) and at 30 fps (3 frames, the 22 rows of 240 fps)."""
    for fps, n in ((240, 22), (30, 3)):
        _frames(tmp_path / "Bolt" / str(fps) / "Bolt", n)
        _vatic(tmp_path / "Bolt" / str(fps) / "Bolt.txt", 22)
    _frames(tmp_path / "Car" / "30" / "Car", 4)
    _vatic(tmp_path / "Car" / "30" / "Car.txt", 5)  # one row too many: cut, as got10k does
    return tmp_path


def test_raw_annotation_columns(root: Path) -> None:
    boxes, lost, occluded, label = read_nfs_annotation(root / "Bolt" / "240" / "Bolt.txt")
    np.testing.assert_array_equal(boxes[3], [13, 20, 30, 40])  # w = right - left, no +1
    assert lost.nonzero()[0].tolist() == [2] and occluded.nonzero()[0].tolist() == [8]
    assert label == "ball"


def test_raw_30_fps_takes_every_8th_row(root: Path) -> None:
    idx = load(root)
    assert idx.names == ["Bolt", "Car"]
    s = idx["Bolt"]
    assert len(s) == 3 and s.meta["annotation_stride"] == 8 and s.meta["fps"] == 30
    np.testing.assert_array_equal(s.boxes[:, 0], [10, 18, 26])  # rows 0, 8, 16
    assert s.occluded.tolist() == [False, True, False] and not s.meta["lost"].any()
    assert len(idx["Car"]) == 4 and idx["Car"].boxes[-1, 0] == 13
    fast = open_dataset("nfs", root, split="nfs240")["Bolt"]
    assert len(fast) == 22 and fast.meta["lost"].nonzero()[0].tolist() == [2]
    assert load(root, fps=240).names == ["Bolt"]


def test_pytracking_layout(tmp_path: Path) -> None:
    _frames(tmp_path / "sequences" / "Gymnastics", 4)
    (tmp_path / "anno").mkdir()
    (tmp_path / "anno" / "nfs_Gymnastics.txt").write_text(
        "1\t2\t30\t40\n2\t3\t30\t40\n3\t4\t5\t6\n"
    )
    s = load(tmp_path)["Gymnastics"]
    assert len(s) == 3 and s.frames[-1].endswith("Gymnastics/00003.jpg")
    np.testing.assert_array_equal(s.boxes[2], [3, 4, 5, 6])
    with pytest.raises(ValueError, match="30 fps version only"):
        load(tmp_path, fps=240)


def test_errors(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="contradicts fps=240"):
        load(root, split="nfs30", fps=240)
    with pytest.raises(ValueError, match="fps must be 30 or 240"):
        load(root, fps=60)
    (root / "Bolt" / "30" / "Bolt.txt").write_text("1 2 3 4 5\n1 2 x 4 5\n")
    with pytest.raises(DataError, match="non-numeric") as err:
        load(root)
    assert err.value.line == 2
    (root / "Bolt" / "30" / "Bolt.txt").write_text("1 2 3 4\n")
    with pytest.raises(DataError, match="got 4 values"):
        load(root)
    (root / "Bolt" / "30" / "Bolt.txt").write_text("1 2 3 4 5\n" * 7)
    with pytest.raises(DataError, match="7 annotation rows do not fit the 3 frames"):
        load(root)
    with pytest.raises(DataError, match="not an NfS root"):
        load(tmp_path / "Bolt" / "30" / "Bolt")
