"""The pysot crop511 reader: in-crop boxes as pysot's ``_get_bbox``, dropped frames, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.index.cache import load_cached
from siamlightning.data.pairs.dataset import PairDataset
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.sources import pysot_crops
from siamlightning.data.sources.pysot_crops import cache_files, crop_boxes, load
from siamlightning.errors import DataError

_VID = "ILSVRC2015_VID_train_0000/ILSVRC2015_train_00000000"
_JSON = {
    _VID: {
        "00": {
            "000010": [10, 20, 110, 120],
            "000000": [100, 50, 300, 150],
            "000001": [0, 0, 40, 10],
            "000002": [1, 1, 9, 9],  # crop file missing
            "000003": [5, 5, 5, 30],  # zero width: filtered
            "frames": [0, 1],  # not a frame key: ignored, as in pysot
        },
        "01": {"000000": [60, 30]},  # [w, h] entry
    },
    "train2017/000000000009": {"00": {"000000": [3, 4, 3, 9]}},  # zero width only: no sequence
}
_CROPS = [(_VID, "000000.00"), (_VID, "000001.00"), (_VID, "000010.00"), (_VID, "000000.01")]


def _pysot_get_bbox(w: float, h: float, imw: int = 511, imh: int = 511) -> list[float]:
    """pysot's TrkDataset._get_bbox, step by step, returned as x, y, w, h."""
    wc_z = w + 0.5 * (w + h)
    hc_z = h + 0.5 * (w + h)
    scale_z = 127 / math.sqrt(wc_z * hc_z)
    w, h = w * scale_z, h * scale_z
    cx, cy = imw // 2, imh // 2
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2  # center2corner
    return [x1, y1, x2 - x1, y2 - y1]


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Index caches go to a temporary folder, never the user's."""
    folder = tmp_path_factory.mktemp("index_cache")
    monkeypatch.setenv("SIAMLIGHTNING_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def crop_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vid")
    for video, stem in _CROPS:
        d = root / "crop511" / video
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{stem}.x.jpg"), np.full((511, 511, 3), 77, np.uint8))
        cv2.imwrite(str(d / f"{stem}.z.jpg"), np.full((127, 127, 3), 77, np.uint8))
    (root / "train.json").write_text(json.dumps(_JSON, indent=4))
    return root


def test_tracks_become_sequences_of_in_crop_boxes(crop_root: Path) -> None:
    with pytest.warns(UserWarning, match=r"dropped 1 frames listed in .*train\.json"):
        index = open_dataset("pysot_crops", crop_root)
    assert index.name == "pysot_crops" and index.names == [f"{_VID}/00", f"{_VID}/01"]
    s = index[f"{_VID}/00"]
    assert [Path(f).name[:6] for f in s.frames] == ["000000", "000001", "000010"]
    assert all(f.endswith(".00.x.jpg") for f in s.frames)
    assert Path(s.frames[0]).parent == crop_root / "crop511" / _VID
    np.testing.assert_array_equal(
        s.meta["original_boxes"], [[100, 50, 200, 100], [0, 0, 40, 10], [10, 20, 100, 100]]
    )
    assert s.boxes[2].tolist() == [223.25, 223.25, 63.5, 63.5]  # square: scale 127/200, centre 255
    for box, (_, _, w, h) in zip(s.boxes, s.meta["original_boxes"]):
        np.testing.assert_allclose(box, _pysot_get_bbox(w, h), rtol=0, atol=1e-12)
    assert (s.meta["crop_size"], s.meta["exemplar_size"]) == (511, 127)
    assert (s.meta["video"], s.meta["track"]) == (_VID, "00") and s.visible.all()
    t = index[f"{_VID}/01"]
    assert np.isnan(t.meta["original_boxes"][0, :2]).all()
    np.testing.assert_allclose(t.boxes[0], _pysot_get_bbox(60, 30), atol=1e-12)


def test_in_crop_box_covers_the_target_of_a_pysot_crop() -> None:
    """Crop a frame as pysot's par_crop.py does and find the target inside the 511 crop."""
    frame = np.zeros((400, 600), np.uint8)
    x1, y1, x2, y2 = 250.0, 150.0, 370.0, 210.0  # a 120 x 60 target
    frame[150:210, 250:370] = 255
    w, h = x2 - x1, y2 - y1
    s_z = math.sqrt((w + (w + h) / 2) * (h + (w + h) / 2))
    s_x = s_z + 2 * (511 - 127) / 2 / (127 / s_z)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a = 510 / s_x  # crop_hwc maps [c - s/2, c + s/2] onto [0, 510]
    m = np.array([[a, 0, -a * (cx - s_x / 2)], [0, a, -a * (cy - s_x / 2)]])
    crop = cv2.warpAffine(frame, m, (511, 511), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(crop > 127)
    found = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
    np.testing.assert_allclose(crop_boxes([[w, h]])[0], found, atol=1.0)


def test_normalised_json_is_flagged(tmp_path: Path) -> None:
    d = tmp_path / "crop511" / "yt_bb_detection_train" / "0" / "vid"
    d.mkdir(parents=True)
    cv2.imwrite(str(d / "000001.00.x.jpg"), np.zeros((8, 8, 3), np.uint8))
    data = {"yt_bb_detection_train/0/vid": {"00": {"000001": [0.25, 0.25, 0.5, 0.75]}}}
    (tmp_path / "train.json").write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="normalised coordinates"):
        s = load(tmp_path, split="train")[0]
    assert s.meta["normalised"] is True
    assert s.boxes[0, 2] / s.boxes[0, 3] == pytest.approx(0.5)  # the normalised aspect
    s = load(tmp_path, normalised_aspect=16 / 9)[0]  # single *.json found
    assert s.boxes[0, 2] / s.boxes[0, 3] == pytest.approx(0.5 * 16 / 9)
    assert s.meta["original_boxes"].tolist() == [[0.25, 0.25, 0.25, 0.5]]


def test_errors_name_the_file(crop_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ILSVRC2015_train_00000000/000002\.00\.x\.jpg: crop of"):
        load(crop_root, strict=True)
    with pytest.raises(DataError, match=r"val\.json: pysot annotation JSON does not exist"):
        load(crop_root, split="val")
    with pytest.raises(DataError, match="no crop folder crop511/"):
        load(tmp_path)
    (tmp_path / "crop511").mkdir()
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text('{"v": {"00": {"000000": [1, 2, 3]}}}')
    with pytest.raises(DataError, match=r"exactly one \*\.json .* found a\.json, b\.json"):
        load(tmp_path)
    with pytest.raises(DataError, match=r"b\.json: v/00/000000: expected \[x1, y1, x2, y2\]"):
        load(tmp_path, anno="b.json")
    (tmp_path / "b.json").write_text('{"v": {\n"00": [1, 2]}}')
    with pytest.raises(DataError, match=r"v/00: expected \{frame: box\}"):
        load(tmp_path, anno=tmp_path / "b.json")
    (tmp_path / "b.json").write_text('{"v": {\n"00": }}')
    with pytest.raises(DataError, match="invalid JSON") as err:
        load(tmp_path, split="b")
    assert err.value.line == 2


def test_pair_dataset_draws_from_crops(crop_root: Path) -> None:
    with pytest.warns(UserWarning):
        index = load(crop_root)
    ds = PairDataset(sources=[index], sampler=PairSampler(frame_range=100), search_size=255)
    for i in range(4):
        sample = ds[(0, 0, i)]
        assert sample["search"].shape == (3, 255, 255) and int(sample["skipped"]) == 0


def test_index_cache_round_trip(crop_root: Path) -> None:
    with pytest.warns(UserWarning):
        fresh = load(crop_root)
    with pytest.warns(UserWarning):
        load_cached(pysot_crops, "pysot_crops", crop_root, None, {})
    cached, info = load_cached(pysot_crops, "pysot_crops", crop_root, None, {})
    assert info.hit and cached.names == fresh.names
    for a, b in zip(fresh, cached):
        assert list(b.frames) == a.frames and np.array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(b.meta["original_boxes"], a.meta["original_boxes"])
    crops = crop_root / "crop511"
    assert cache_files(crop_root) == [crop_root / "train.json", crops, crops / _VID.split("/")[0]]
