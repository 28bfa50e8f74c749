"""The COCO reader: one-frame sequences, skipped crowd / empty boxes, masks, errors, pairs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from siamlightning.data import open_dataset
from siamlightning.data.core.masks import decode_coco_segmentation
from siamlightning.data.index.cache import load_cached
from siamlightning.data.pairs.dataset import PairDataset
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.sources import coco
from siamlightning.data.sources.coco import cache_files, load
from siamlightning.errors import DataError

# image 1 is 40x30 (W x H), image 2 is 50x60
_RLE_COUNTS = [2 * 30 + 5, 5, 25, 5, 1100]  # column-major: rows 5-9 of columns 2 and 3
_SOLID = np.zeros((60, 50), np.uint8)
_SOLID[10:40, 20:30] = 1  # 300 px, compressed RLE below


def decode_mask(seq):
    """The COCO mask of a one-frame sequence, decoded from its meta."""
    return decode_coco_segmentation(seq.meta, seq.name)


def _coco_json() -> dict:
    compressed = mask_utils.encode(np.asfortranarray(_SOLID))
    compressed["counts"] = compressed["counts"].decode()
    return {
        "images": [
            {"id": 7, "file_name": "000000000007.jpg", "width": 40, "height": 30},
            {"id": 9, "file_name": "000000000009.jpg", "width": 50, "height": 60},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
        "annotations": [
            {"id": 101, "image_id": 7, "category_id": 1, "bbox": [10, 10, 10, 10], "iscrowd": 0,
             "area": 100, "segmentation": [[10, 10, 20, 10, 20, 20, 10, 20]]},
            {"id": 102, "image_id": 7, "category_id": 3, "bbox": [2.0, 5.0, 2.0, 5.0],
             "iscrowd": 0, "segmentation": {"counts": _RLE_COUNTS, "size": [30, 40]}},
            {"id": 103, "image_id": 9, "category_id": 1, "bbox": [0, 0, 50, 60], "iscrowd": 1,
             "segmentation": {"counts": [0, 3000], "size": [60, 50]}},
            {"id": 104, "image_id": 9, "category_id": 1, "bbox": [5, 5, 0, 8], "iscrowd": 0,
             "segmentation": [[5, 5, 5, 13, 5, 5]]},
            {"id": 105, "image_id": 9, "category_id": 3, "bbox": [20.5, 10.25, 10, 30],
             "iscrowd": 0, "segmentation": compressed},
        ],
    }  # fmt: skip


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Index caches go to a temporary folder, never the user's."""
    folder = tmp_path_factory.mktemp("index_cache")
    monkeypatch.setenv("SIAMLIGHTNING_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def coco_root(tmp_path: Path) -> Path:
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps(_coco_json()))
    (tmp_path / "val2017").mkdir()
    for name, (h, w) in {"000000000007.jpg": (30, 40), "000000000009.jpg": (60, 50)}.items():
        cv2.imwrite(str(tmp_path / "val2017" / name), np.full((h, w, 3), 120, np.uint8))
    return tmp_path


def test_instances_become_one_frame_sequences(coco_root: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="siamlightning.data.sources.coco"):
        index = open_dataset("coco", coco_root, split="val2017")
    assert index.name == "coco" and index.names == ["7-101", "7-102", "9-105"]
    assert "5 annotations -> 3 sequences; skipped 1 crowd, 1 zero-size" in caplog.text
    s = index["9-105"]
    assert len(s) == 1 and s.frames == [str(coco_root / "val2017" / "000000000009.jpg")]
    assert s.boxes.tolist() == [[20.5, 10.25, 10.0, 30.0]] and s.boxes.dtype == np.float64
    assert s.visible.tolist() == [True] and not s.absent.any()
    assert s.meta["category"] == "car" and s.meta["category_id"] == 3
    assert (s.meta["image_id"], s.meta["ann_id"]) == (9, 105)
    assert (s.meta["width"], s.meta["height"]) == (50, 60)
    assert index["7-101"].meta["category"] == "person"
    direct = load(coco_root, split="val2017")  # not through the index cache
    assert direct["7-101"].frames[0] is direct["7-102"].frames[0]  # one path string per image
    assert all(q.has_masks for q in index)


def test_masks_decode_polygons_and_rle(coco_root: Path) -> None:
    index = load(coco_root, split="val2017")
    poly = decode_mask(index["7-101"])
    assert poly.shape == (30, 40) and poly.dtype == bool and int(poly.sum()) == 100
    assert poly[10:20, 10:20].all()
    rle = decode_mask(index["7-102"])
    assert rle.shape == (30, 40) and int(rle.sum()) == 10 and rle[5:10, 2:4].all()
    packed = decode_mask(index["9-105"])
    assert packed.shape == (60, 50) and np.array_equal(packed, _SOLID.astype(bool))
    assert np.array_equal(index["7-101"].read_mask(0), poly)  # Sequence.read_mask decodes it


def test_masks_false_drops_segmentations(coco_root: Path) -> None:
    index = load(coco_root, split="val2017", masks=False)
    s = index["7-101"]
    assert "segmentation" not in s.meta and not s.has_masks
    assert s.read_mask(0) is None and "mask_format" not in s.meta
    with pytest.raises(DataError, match="has no segmentation"):
        decode_mask(s)


def test_errors_name_the_file(coco_root: Path) -> None:
    with pytest.raises(DataError, match=r"image folder .*train2017 does not exist"):
        load(coco_root)  # the default split is train2017
    (coco_root / "train2017").mkdir()
    with pytest.raises(DataError, match=r"instances_train2017\.json: COCO annotation file"):
        load(coco_root)
    with pytest.raises(ValueError, match="no split 'test2017'"):
        load(coco_root, split="test2017")
    ann = coco_root / "annotations" / "instances_val2017.json"
    ann.write_text('{"images": [],\n "annotations": [,]}')
    with pytest.raises(DataError, match=r"instances_val2017\.json:2: invalid JSON") as err:
        load(coco_root, split="val2017")
    assert err.value.line == 2
    bad = _coco_json()
    bad["annotations"][1]["image_id"] = 8
    ann.write_text(json.dumps(bad))
    with pytest.raises(DataError, match="annotation 102 refers to unknown image_id 8"):
        load(coco_root, split="val2017")
    del bad["annotations"][1]["image_id"]
    ann.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"not a COCO instances file \(KeyError\('image_id'"):
        load(coco_root, split="val2017")
    bad["annotations"][1]["image_id"] = 7
    del bad["annotations"][1]["bbox"]
    ann.write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"malformed COCO annotation 102 \(KeyError\('bbox'"):
        load(coco_root, split="val2017")


def test_pair_dataset_draws_from_coco(coco_root: Path) -> None:
    index = load(coco_root, split="val2017")
    ds = PairDataset(
        sources=[index], sampler=PairSampler(frame_range=1), search_size=63, masks=True
    )
    for i in range(4):
        sample = ds[(0, 0, i)]
        assert sample["template"].shape == (3, 127, 127) and sample["search"].shape == (3, 63, 63)
        assert int(sample["skipped"]) == 0 and not bool(sample["negative"])
        # the instance's segmentation, warped with the search crop, lies on the search box
        assert bool(sample["has_mask"]) and sample["search_mask"].shape == (1, 63, 63)
        ys, xs = np.nonzero(sample["search_mask"][0].numpy())
        x, y, w, h = sample["search_box"].numpy()
        scale = w / index[ds.spec((0, 0, i)).x[1]].boxes[0, 2]  # crop px per frame px
        got = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        want = np.clip([x, y, x + w, y + h], 0, 63)  # tall targets leave the 63-px crop
        np.testing.assert_allclose(got, want, atol=scale + 0.6)


def test_index_cache_round_trip(coco_root: Path) -> None:
    fresh = load(coco_root, split="val2017")
    load_cached(coco, "coco", coco_root, "val2017", {})
    cached, info = load_cached(coco, "coco", coco_root, "val2017", {})
    assert info.hit and cached.names == fresh.names
    for a, b in zip(fresh, cached):
        assert list(b.frames) == a.frames and np.array_equal(a.boxes, b.boxes)
        assert np.array_equal(decode_mask(a), decode_mask(b)) and b.meta["category"]
        assert np.array_equal(a.read_mask(0), b.read_mask(0)) and b.meta["mask_format"] == "coco"
    ann = coco_root / "annotations" / "instances_val2017.json"
    assert cache_files(coco_root, "val2017") == [ann, coco_root / "val2017"]
