"""The GOT-10k reader: a synthetic round trip through `write_got10k`, the test split, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources.got10k import load, read_meta_info
from siamlightning.data.tools.writers import write_got10k
from siamlightning.errors import DataError

_JPEG = cv2.imencode(".jpg", np.full((12, 16, 3), 10, np.uint8))[1].tobytes()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Three short synthetic sequences (small frames; absent, partly hidden and cut frames)."""
    index = open_dataset(
        "synthetic", None, seed=1, num_sequences=3, length=10, width=64, height=48, difficulty=2
    )
    s = index[1]
    cut = np.zeros(len(s), dtype=bool)
    cut[[2, 3]] = True
    s = Sequence(s.name, s.frames, s.boxes, out_of_view=cut, meta=s.meta, renderer=s.renderer)
    index = SequenceIndex([index[0], s, index[2]], name="synthetic")
    root = write_got10k(index, tmp_path_factory.mktemp("got") / "GOT-10k", split="val")
    return index, root


def test_round_trip_of_synthetic_sequences(written: tuple) -> None:
    index, root = written
    back = load(root, split="val")
    assert back.names == index.names and back.name == "got10k"
    for orig, s in zip(index, back):
        assert len(s) == len(orig) and Path(s.frames[0]).name == "00000001.jpg"
        vis = orig.visible
        np.testing.assert_allclose(s.boxes[vis], orig.boxes[vis], atol=1e-3)
        assert np.isnan(s.boxes[~vis]).all()
        assert s.absent.tolist() == (~vis).tolist()
        assert s.out_of_view.tolist() == orig.out_of_view.tolist()
        cover = np.clip(np.round(8 * orig.meta["visible_ratio"]), 1, 8).astype(int)
        cover[~vis] = 0
        assert s.meta["cover"].tolist() == cover.tolist()
        assert s.occluded.tolist() == ((cover >= 1) & (cover <= 7)).tolist()
        np.testing.assert_array_equal(s.meta["visible_ratio"], cover / 8)
        assert (s.meta["width"], s.meta["height"]) == (64, 48)
        assert s.meta["object_class"] == "unknown" and s.meta["anno_fps"] == "10Hz"
    assert all(
        any(getattr(s, f).any() for s in back) for f in ("absent", "occluded", "out_of_view")
    )
    split_dir = load(root / "val")  # a split folder as root
    assert split_dir.names == index.names


def test_test_split_first_line_only(tmp_path: Path) -> None:
    d = tmp_path / "test" / "GOT-10k_Test_000001"
    d.mkdir(parents=True)
    for i in range(1, 5):
        (d / f"{i:08d}.jpg").write_bytes(_JPEG)
    (d / "groundtruth.txt").write_text("1.5,2,30,40\n")
    (tmp_path / "test" / "list.txt").write_text("GOT-10k_Test_000001\n")
    s = open_dataset("got10k", tmp_path, split="test")[0]
    assert len(s) == 4 and s.meta["first_frame_only"] is True
    assert s.boxes[0].tolist() == [1.5, 2, 30, 40] and np.isnan(s.boxes[1:]).all()
    assert "cover" not in s.meta and s.absent.tolist() == [False, True, True, True]


def test_meta_info(tmp_path: Path) -> None:
    ini = tmp_path / "meta_info.ini"
    ini.write_text(
        "[METAINFO]\nurl: https://a.b/c?d=1\nobject_class: ship\nresolution: (1280, 720)\n"
    )
    assert read_meta_info(ini) == {
        "url": "https://a.b/c?d=1",
        "object_class": "ship",
        "width": 1280,
        "height": 720,
    }
    ini.write_text("[METAINFO]\nresolution: 1280x720\n")
    with pytest.raises(DataError, match="resolution: \\(W, H\\)") as err:
        read_meta_info(ini)
    assert err.value.line == 2


def test_errors(written: tuple, tmp_path: Path) -> None:
    _, root = written
    with pytest.raises(DataError, match="not a GOT-10k root"):
        load(root, split="train")
    with pytest.raises(ValueError, match="no split 'all'"):
        load(root, split="all")
    seq = next(p for p in (root / "val").iterdir() if p.is_dir())
    good = (seq / "cover.label").read_text()
    (seq / "cover.label").write_text(good.replace("8\n", "9\n", 1))
    bad_line = (seq / "cover.label").read_text().splitlines().index("9") + 1
    with pytest.raises(DataError, match="cover must be 0-8, got 9") as err:
        load(root, split="val")
    assert err.value.line == bad_line
    (seq / "cover.label").write_text(good.replace("8\n", "x\n", 1))
    with pytest.raises(DataError, match="expected an integer"):
        load(root, split="val")
    (seq / "cover.label").write_text(good + "8\n")
    with pytest.raises(DataError, match="11 lines for a sequence of 10 frames"):
        load(root, split="val")
    (seq / "cover.label").write_text(good)
    gt = (seq / "groundtruth.txt").read_text()
    (seq / "groundtruth.txt").write_text(gt + "1,2,3,4\n")
    with pytest.raises(DataError, match="11 annotation lines but 10 frames"):
        load(root, split="val")
    (seq / "groundtruth.txt").write_text(gt)
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "list.txt").write_text("a\nmissing\n")
    (tmp_path / "val" / "a").mkdir()
    with pytest.raises(DataError, match="missing does not exist") as err:
        load(tmp_path, split="val")
    assert err.value.line == 2
