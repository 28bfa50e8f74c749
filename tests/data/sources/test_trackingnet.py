"""The TrackingNet reader: numeric frame order, chunks, the first-frame-only test split, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.sources.trackingnet import load
from siamlightning.errors import DataError

_JPEG = cv2.imencode(".jpg", np.full((12, 16, 3), 140, np.uint8))[1].tobytes()


def _video(chunk: Path, name: str, n: int, rows: list[str]) -> None:
    frames = chunk / "frames" / name
    frames.mkdir(parents=True)
    for i in range(n):
        (frames / f"{i}.jpg").write_bytes(_JPEG)
    (chunk / "anno").mkdir(exist_ok=True)
    (chunk / "anno" / f"{name}.txt").write_text("\n".join(rows) + "\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """TRAIN_0 (11 frames: 0..10), TRAIN_2 and TEST (11 frames, first line only)."""
    _video(tmp_path / "TRAIN_0", "-abc_0", 11, [f"{k},1,5,5" for k in range(11)])
    _video(tmp_path / "TRAIN_2", "zz_1", 2, ["1,1,5,5", "2,2,5,5"])
    _video(tmp_path / "TEST", "test_a", 11, ["3.5,4,10,12"])  # listed: numeric sort
    (tmp_path / "TRAIN_0" / "zips").mkdir()
    return tmp_path


def test_numeric_frame_order(root: Path) -> None:
    idx = load(root)
    assert idx.names == ["-abc_0", "zz_1"] and idx.name == "trackingnet"
    s = idx["-abc_0"]
    names = [Path(f).name for f in s.frames]
    assert names[:4] == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"] and names[-1] == "10.jpg"
    assert s.boxes[:, 0].tolist() == list(range(11)) and s.meta["chunk"] == "TRAIN_0"


def test_chunks_and_test_split(root: Path) -> None:
    assert load(root, split="train", chunks=[2]).names == ["zz_1"]
    with pytest.raises(DataError, match="chunk folder does not exist"):
        load(root, chunks=[1])
    s = open_dataset("trackingnet", root, split="test")["test_a"]
    assert s.meta["first_frame_only"] and s.boxes[0].tolist() == [3.5, 4, 10, 12]
    assert np.isnan(s.boxes[1:]).all() and s.read_frame(10).shape == (12, 16, 3)
    assert [Path(f).stem for f in s.frames] == [str(i) for i in range(11)]
    with pytest.raises(ValueError, match="not with 'test'"):
        load(root, split="test", chunks=[0])


def test_errors(root: Path, tmp_path: Path) -> None:
    (root / "TRAIN_2" / "anno" / "zz_1.txt").write_text("1,1,5,5\n1,1,5\n")
    with pytest.raises(DataError, match="expected 4 values") as err:
        load(root)
    assert err.value.line == 2 and err.value.path.endswith("zz_1.txt")
    (root / "TRAIN_2" / "anno" / "zz_1.txt").write_text("1,1,5,5\n" * 3)
    with pytest.raises(DataError, match="3 annotation lines but 2 frames"):
        load(root)
    _video(root / "TRAIN_3", "zz_1", 1, ["1,1,1,1"])
    with pytest.raises(DataError, match="video 'zz_1' is also in"):
        load(root, chunks=[2, 3])
    (root / "TRAIN_4" / "anno").mkdir(parents=True)
    (root / "TRAIN_4" / "anno" / "gone.txt").write_text("1,1,5,5\n")
    with pytest.raises(DataError, match="frame folder does not exist"):
        load(root, chunks=[4])
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no TRAIN_<k>/ folder"):
        load(tmp_path / "none")
    with pytest.raises(DataError, match="no TEST/ folder"):
        load(tmp_path / "none", split="test")
