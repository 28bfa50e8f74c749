"""The ImageNet DET reader: nested folders, one sequence per object, val layout, defects."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.index.cache import load_cached
from siamlightning.data.pairs.dataset import CropJitter, PairDataset
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.sources import imagenet_det
from siamlightning.data.sources.imagenet_det import VERSION, cache_files, load
from siamlightning.errors import DataError

_JPEG = cv2.imencode(".jpg", np.full((48, 64, 3), 200, np.uint8))[1].tobytes()
_NESTED = "ILSVRC2013_train/n01440764/n01440764_10026"
_FLAT = "ILSVRC2014_train_0000/ILSVRC2014_train_00000001"


def _xml(boxes: list[tuple[str, tuple]], width: int = 64, height: int = 48) -> str:
    """An ILSVRC DET annotation with one ``(wnid, (xmin, ymin, xmax, ymax))`` per object."""
    parts = [
        "<annotation><folder>f</folder><filename>x</filename>",
        f"<size><width>{width}</width><height>{height}</height></size><segmented>0</segmented>",
    ]
    for name, (x1, y1, x2, y2) in boxes:
        parts.append(
            f"<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>"
            f"<difficult>0</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
            f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        )
    return "\n".join([*parts, "</annotation>\n"])


def _image(root: Path, rel: str, boxes: list, split: str = "train", jpeg: bool = True) -> Path:
    """Write the XML (and JPEG) of image ``rel`` (no suffix); returns the XML path."""
    xml = root / "Annotations/DET" / split / f"{rel}.xml"
    xml.parent.mkdir(parents=True, exist_ok=True)
    xml.write_text(_xml(boxes))
    img = root / "Data/DET" / split / f"{rel}.JPEG"
    img.parent.mkdir(parents=True, exist_ok=True)
    if jpeg:
        img.write_bytes(_JPEG)
    return xml


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Index caches go to a temporary folder, never the user's."""
    folder = tmp_path_factory.mktemp("index_cache")
    monkeypatch.setenv("SIAMLIGHTNING_CACHE_DIR", str(folder))
    return folder


@pytest.fixture()
def det(tmp_path: Path) -> Path:
    """Two images with objects in nested and flat train folders, one negative image."""
    _image(tmp_path, _NESTED, [("n01440764", (3, 4, 33, 44)), ("n02084071", (10, 0, 20, 8))])
    _image(tmp_path, _FLAT, [("n00007846", (0, 0, 64, 48))])
    _image(tmp_path, "ILSVRC2014_train_0000/ILSVRC2014_train_00000002", [])
    _image(tmp_path, "ILSVRC2012_val_00000001", [("n1", (1, 1, 9, 9))], split="val")
    for top in ("Annotations", "Data"):  # pysot's aliases (skipped)
        train = tmp_path / top / "DET/train"
        (train / "a").symlink_to(train / "ILSVRC2013_train")
        (train / "i").symlink_to(tmp_path / top / "DET/val")
    return tmp_path


def test_nested_folders_and_objects(det: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing skipped, nothing repaired
        index = load(det)
    assert VERSION == 1 and index.name == "imagenet_det" and index.root == str(det)
    assert index.names == [
        "n01440764_10026-0",
        "n01440764_10026-1",
        "ILSVRC2014_train_00000001-0",
    ]
    a, b, c = index
    assert a.frames == [str(det / "Data/DET/train" / f"{_NESTED}.JPEG")] == b.frames
    assert c.frames == [str(det / "Data/DET/train" / f"{_FLAT}.JPEG")]
    np.testing.assert_array_equal(a.boxes, [[3, 4, 30, 40]])  # w = xmax - xmin, no +1
    np.testing.assert_array_equal(b.boxes, [[10, 0, 10, 8]])
    np.testing.assert_array_equal(c.boxes, [[0, 0, 64, 48]])
    assert [s.meta["class"] for s in index] == ["n01440764", "n02084071", "n00007846"]
    assert (a.meta["width"], a.meta["height"]) == (64, 48)
    assert all(len(s) == 1 and s.visible.all() and not s.occluded.any() for s in index)


def test_symlinked_folders_outside_the_tree_are_read(det: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("disk2")
    _image(elsewhere, "x/ILSVRC2014_train_00060000", [("n1", (1, 1, 9, 9))])
    link = det / "Annotations/DET/train/ILSVRC2014_train_0006"
    link.symlink_to(elsewhere / "Annotations/DET/train/x")
    (det / "Data/DET/train/ILSVRC2014_train_0006").symlink_to(elsewhere / "Data/DET/train/x")
    index = load(det)
    assert index.names[-1] == "ILSVRC2014_train_00060000-0" and len(index) == 4
    assert index[-1].frames == [
        str(det / "Data/DET/train/ILSVRC2014_train_0006/ILSVRC2014_train_00060000.JPEG")
    ]


def test_val_layout_and_outer_root(tmp_path: Path) -> None:
    _image(tmp_path / "ILSVRC", "ILSVRC2012_val_00000001", [("n1", (1, 1, 9, 9))], split="val")
    index = open_dataset("imagenet_det", tmp_path, "val")  # Kaggle-style ILSVRC/ inside root
    assert index.names == ["ILSVRC2012_val_00000001-0"]
    assert index[0].frames[0] == str(tmp_path / "ILSVRC/Data/DET/val/ILSVRC2012_val_00000001.JPEG")
    np.testing.assert_array_equal(index[0].boxes, [[1, 1, 8, 8]])


def test_bad_xml_and_missing_image_strict_and_lenient(det: Path) -> None:
    bad = _image(det, "ILSVRC2014_train_0001/ILSVRC2014_train_00010000", [])
    bad.write_text("<annotation><size><width>5</width></size>\n<object><name>n1</name>")
    gone = _image(det, "ILSVRC2014_train_0001/ILSVRC2014_train_00010001", [("n1", (1, 1, 9, 9))])
    with pytest.raises(DataError, match="malformed XML") as err:
        load(det, strict=True)
    assert err.value.path == str(bad) and err.value.line == 2
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable.*train_00010000\.xml") as rec:
        index = load(det)
    assert len(rec) == 1 and len(index) == 3 + 1
    assert index.names[-1] == "ILSVRC2014_train_00010001-0"
    jpeg = Path(index[-1].frames[0])
    jpeg.unlink()
    bad.unlink()
    with pytest.raises(DataError, match=re.escape(f"image missing for annotation {gone}")) as err:
        load(det, strict=True)
    assert err.value.path == str(jpeg)
    with pytest.warns(UserWarning, match="skipped 1 "):
        assert len(load(det)) == 3


def test_degenerate_box(det: Path) -> None:
    xml = _image(det, "ILSVRC2014_train_0000/ILSVRC2014_train_00000003", [("n1", (7, 7, 7, 20))])
    with pytest.warns(UserWarning, match=r"1 degenerate box\(es\).* in 1 sequence"):
        index = load(det)
    s = index["ILSVRC2014_train_00000003-0"]
    assert (
        np.isnan(s.boxes).all() and s.absent.all() and s.meta["repaired"] == {"degenerate_box": 1}
    )
    with pytest.raises(DataError, match="degenerate box of n1: xmin=7 ymin=7 xmax=7") as err:
        load(det, strict=True)
    assert err.value.path == str(xml)


def test_duplicate_image_name_and_missing_root(det: Path, tmp_path_factory) -> None:
    _image(det, "ILSVRC2014_train_0003/ILSVRC2014_train_00000001", [("n1", (1, 1, 9, 9))])
    with pytest.raises(DataError, match=r"'ILSVRC2014_train_00000001' also used by .*0000/"):
        load(det)
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(DataError, match="not an ILSVRC2015 DET root"):
        load(empty)
    with pytest.raises(FileNotFoundError):
        open_dataset("imagenet_det", empty / "missing")
    (empty / "Annotations/DET/train").mkdir(parents=True)
    (empty / "Data/DET/train").mkdir(parents=True)
    with pytest.raises(DataError, match="no annotation XML"):
        load(empty)
    with pytest.raises(ValueError, match="no split 'test'"):
        load(empty, split="test")


def test_pairs_from_single_frames(det: Path) -> None:
    sampler = PairSampler(frame_range=100)
    ds = PairDataset(
        sources=[load(det)],
        sampler=sampler,
        template_jitter=CropJitter(0.0, 0.0),
        search_jitter=CropJitter(0.0, 0.0),
    )
    sample = ds[(0, 0, 1)]
    assert int(sample["skipped"]) == 0 and sample["search"].shape == (3, 239, 239)
    box = sample["search_box"].numpy()
    assert box[0] + box[2] / 2 == pytest.approx(119.5, abs=1e-3)
    spec = ds.pairs.sample(np.random.default_rng(0))
    assert spec.z == spec.x  # one-frame sequences: template and search from the same image


def test_index_cache_round_trip(det: Path) -> None:
    fresh = load(det)
    load_cached(imagenet_det, "imagenet_det", det, None, {})
    cached, info = load_cached(imagenet_det, "imagenet_det", det, None, {})
    assert info.hit and cached.names == fresh.names
    for a, b in zip(fresh, cached):
        assert list(b.frames) == a.frames and b.meta == a.meta
        np.testing.assert_array_equal(b.boxes, a.boxes)
    ann, data = det / "Annotations/DET/train", det / "Data/DET/train"
    sub = ["ILSVRC2013_train", "ILSVRC2014_train_0000"]  # pysot's a, i aliases are links
    assert set(cache_files(det)) >= {ann, data, *(ann / s for s in sub), *(data / s for s in sub)}
