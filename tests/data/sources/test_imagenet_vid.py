"""The ImageNet VID reader: tracklets split at gaps, boxes, flags, layouts, defects, sampling."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.index.cache import load_cached
from siamlightning.data.pairs.dataset import CropJitter, PairDataset
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.sources import imagenet_vid
from siamlightning.data.sources.imagenet_vid import VERSION, cache_files, load, read_ilsvrc_xml
from siamlightning.errors import DataError

_JPEG = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()
_SET = "ILSVRC2015_VID_train_0000"


def _xml(objects: list[dict], width: int = 64, height: int = 48) -> str:
    """An ILSVRC VID annotation holding ``objects`` (trackid, box, occluded, name)."""
    parts = [f"<annotation><size><width>{width}</width><height>{height}</height></size>"]
    for o in objects:
        x1, y1, x2, y2 = o["box"]
        parts.append(
            f"<object><trackid>{o['t']}</trackid><name>{o.get('name', 'n02084071')}</name>"
            f"<bndbox><xmax>{x2}</xmax><xmin>{x1}</xmin><ymax>{y2}</ymax><ymin>{y1}</ymin>"
            f"</bndbox><occluded>{int(o.get('occ', 0))}</occluded>"
            f"<generated>{int(o.get('gen', 0))}</generated></object>"
        )
    return "\n".join([*parts, "</annotation>\n"])


def _video(root: Path, rel: str, frames: dict[int, list[dict]], split: str = "train") -> None:
    """Write ``frames`` (frame number -> objects) as XMLs and tiny JPEGs of video ``rel``."""
    ann, data = root / "Annotations/VID" / split / rel, root / "Data/VID" / split / rel
    ann.mkdir(parents=True)
    data.mkdir(parents=True)
    for i, objs in frames.items():
        (ann / f"{i:06d}.xml").write_text(_xml(objs))
        (data / f"{i:06d}.JPEG").write_bytes(_JPEG)


def _box(i: int) -> tuple[int, int, int, int]:
    return (10 + i, 8, 30 + i, 40)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Index caches go to a temporary folder, never the user's."""
    folder = tmp_path_factory.mktemp("index_cache")
    monkeypatch.setenv("SIAMLIGHTNING_CACHE_DIR", str(folder))
    return folder


@pytest.fixture()
def vid(tmp_path: Path) -> Path:
    """Video 0: track 0 in frames 0-2, 4-5 and 7 (gaps at 3 and 6); track 1 in 1-6 (occluded at
    3, generated at 4). Video 1: no XML for frame 2, track 5 in 0, 1, 3, 4. Plus pysot's ``a``."""
    f0: dict[int, list[dict]] = {i: [] for i in range(8)}
    for i in (0, 1, 2, 4, 5, 7):
        f0[i].append({"t": 0, "box": _box(i)})
    for i in range(1, 7):
        f0[i].append({"t": 1, "box": (1, 2, 21, 32), "occ": i == 3, "gen": i == 4, "name": "n1"})
    _video(tmp_path, f"{_SET}/ILSVRC2015_train_00000000", f0)
    f1 = {i: [{"t": 5, "box": _box(i)}] for i in (0, 1, 3, 4)}
    _video(tmp_path, "ILSVRC2015_VID_train_0001/ILSVRC2015_train_00001000", f1)
    _video(tmp_path, "a/ILSVRC2015_train_00000000", f0)  # pysot symlink stand-in: ignored
    return tmp_path


def test_tracklets_split_at_gaps_with_names_boxes_and_flags(vid: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing skipped, nothing repaired
        index = load(vid)
    assert VERSION == 1 and index.name == "imagenet_vid" and index.root == str(vid)
    v0, v1 = "ILSVRC2015_train_00000000", "ILSVRC2015_train_00001000"
    assert index.names == [f"{v0}-t0-0", f"{v0}-t0-1", f"{v0}-t1-0", f"{v1}-t5-0", f"{v1}-t5-1"]
    s = index[f"{v0}-t0-0"]
    assert [Path(f).name for f in s.frames] == ["000000.JPEG", "000001.JPEG", "000002.JPEG"]
    assert s.frames[0] == str(vid / "Data/VID/train" / _SET / v0 / "000000.JPEG")
    np.testing.assert_array_equal(s.boxes, [[10, 8, 20, 32], [11, 8, 20, 32], [12, 8, 20, 32]])
    assert s.meta["first_frame"] == 0 and s.meta["trackid"] == 0 and s.meta["video"] == v0
    assert (s.meta["width"], s.meta["height"], s.meta["class"]) == (64, 48, "n02084071")
    again = index[f"{v0}-t0-1"]
    assert again.meta["first_frame"] == 4 and len(again) == 2 and again.boxes[1, 0] == 15
    t1 = index[f"{v0}-t1-0"]
    assert len(t1) == 6 and t1.meta["class"] == "n1"
    assert t1.occluded.tolist() == [False, False, True, False, False, False]
    assert t1.meta["generated"].tolist() == [False, False, False, True, False, False]
    assert t1.visible.all() and "repaired" not in t1.meta
    np.testing.assert_array_equal(t1.boxes[0], [1, 2, 20, 30])  # w = xmax - xmin, no +1
    # a missing XML (frame 2 of video 1) is a gap too
    assert [len(index[f"{v1}-t5-{k}"]) for k in (0, 1)] == [2, 2]


def test_min_length_keeps_or_drops_single_frames(vid: Path) -> None:
    names = load(vid, min_length=1).names
    assert "ILSVRC2015_train_00000000-t0-2" in names and len(names) == 6
    v0 = "ILSVRC2015_train_00000000"
    assert load(vid, min_length=3).names == [f"{v0}-t0-0", f"{v0}-t1-0"]
    with pytest.raises(ValueError, match="min_length must be >= 1"):
        load(vid, min_length=0)


def test_val_layout(tmp_path: Path) -> None:
    frames = {i: [{"t": 2, "box": _box(i), "occ": i == 1}] for i in range(3)}
    _video(tmp_path, "ILSVRC2015_val_00000007", frames, split="val")
    s = load(tmp_path, split="val")[0]
    assert s.name == "ILSVRC2015_val_00000007-t2-0" and len(s) == 3
    assert s.frames[2] == str(tmp_path / "Data/VID/val/ILSVRC2015_val_00000007/000002.JPEG")
    assert s.occluded.tolist() == [False, True, False]
    # a folder holding ILSVRC2015/ is accepted as root
    outer = tmp_path / "outer"
    outer.mkdir()
    (outer / "ILSVRC2015").symlink_to(tmp_path)
    assert load(outer, split="val").names == [s.name]


def test_malformed_xml_strict_and_lenient(vid: Path) -> None:
    ann = vid / "Annotations/VID/train" / _SET / "ILSVRC2015_train_00000000"
    bad = ann / "000004.xml"
    bad.write_text("<annotation><size><width>64</width>\n<object>\n</annotation>")
    with pytest.raises(DataError, match="malformed XML") as err:
        load(vid, strict=True)
    assert err.value.path == str(bad) and err.value.line == 3
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable.*000004\.xml") as rec:
        index = load(vid)
    assert len(rec) == 1
    # frame 4 is gone: track 0's second run (4-5) shrinks to one frame and is dropped,
    # track 1 (1-6) splits into 1-3 and 5-6
    v0 = "ILSVRC2015_train_00000000"
    assert [n for n in index.names if n.startswith(v0)] == [
        f"{v0}-t0-0",
        f"{v0}-t1-0",
        f"{v0}-t1-1",
    ]
    assert index[f"{v0}-t1-1"].meta["first_frame"] == 5
    bad.write_text(_xml([{"t": 0, "box": ("x", 1, 2, 3)}]))
    with pytest.raises(DataError, match="expected numeric bndbox") as err:
        read_ilsvrc_xml(bad)
    assert err.value.path == str(bad)


def test_missing_image_strict_and_lenient(vid: Path) -> None:
    jpeg = vid / "Data/VID/train" / _SET / "ILSVRC2015_train_00000000/000001.JPEG"
    jpeg.unlink()
    with pytest.raises(DataError, match="image missing for annotation") as err:
        load(vid, strict=True)
    assert err.value.path == str(jpeg)
    with pytest.warns(UserWarning, match="skipped 1 "):
        index = load(vid)
    assert index["ILSVRC2015_train_00000000-t1-0"].meta["first_frame"] == 2


def test_degenerate_box_becomes_nan_and_is_counted(vid: Path) -> None:
    ann = vid / "Annotations/VID/train" / _SET / "ILSVRC2015_train_00000000"
    (ann / "000002.xml").write_text(_xml([{"t": 0, "box": (30, 8, 30, 40)}]))  # xmax == xmin
    (ann / "000003.xml").write_text(
        _xml([{"t": 1, "box": (5, 9, 25, 9)}, {"t": 7, "box": (9, 9, 5, 20)}])
    )
    with pytest.warns(UserWarning, match=r"3 degenerate box\(es\).* in 3 sequence") as rec:
        index = load(vid, min_length=1)
    assert len(rec) == 1
    s = index["ILSVRC2015_train_00000000-t0-0"]
    assert len(s) == 3 and np.isnan(s.boxes[2]).all() and s.absent.tolist() == [0, 0, 1]
    assert s.meta["repaired"] == {"degenerate_box": 1}
    assert index["ILSVRC2015_train_00000000-t1-1"].absent.tolist() == [1, 0, 0, 0]
    assert index["ILSVRC2015_train_00000000-t7-0"].meta["repaired"] == {"degenerate_box": 1}
    with pytest.raises(DataError, match="degenerate box of n02084071: xmin=30") as err:
        load(vid, strict=True)
    assert err.value.path == str(ann / "000002.xml")


def test_missing_root_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_dataset("imagenet_vid", tmp_path / "nope")
    with pytest.raises(DataError, match="not an ILSVRC2015 VID root") as err:
        load(tmp_path)
    assert "Annotations/VID/train" in str(err.value)
    with pytest.raises(ValueError, match=r"root .* is required"):
        load(None)
    with pytest.raises(ValueError, match="no split 'test'"):
        load(tmp_path, split="test")
    (tmp_path / "Annotations/VID/train/x").mkdir(parents=True)
    (tmp_path / "Data/VID/train").mkdir(parents=True)
    with pytest.raises(DataError, match="no ILSVRC2015_VID_train_<k> folder"):
        load(tmp_path)


def test_open_dataset_and_pair_sampling(vid: Path) -> None:
    index = open_dataset("imagenet_vid", vid, "train")
    assert len(index) == 5 and index.num_frames == 3 + 2 + 6 + 2 + 2
    sampler = PairSampler(frame_range=2)
    ds = PairDataset(
        sources=[index],
        sampler=sampler,
        template_jitter=CropJitter(0.0, 0.0),
        search_jitter=CropJitter(0.0, 0.0),
    )
    rng = np.random.default_rng(0)
    for _ in range(50):
        p = ds.pairs.sample(rng)
        assert p.z[1] == p.x[1] and abs(p.z[2] - p.x[2]) <= 2
    sample = ds[(0, 0, 0)]
    assert sample["template"].shape == (3, 127, 127) and sample["search"].shape == (3, 239, 239)
    assert int(sample["skipped"]) == 0
    box = sample["search_box"].numpy()
    assert box[0] + box[2] / 2 == pytest.approx(119.5, abs=1e-3)
    assert box[1] + box[3] / 2 == pytest.approx(119.5, abs=1e-3)


def test_index_cache_round_trip_and_invalidation(vid: Path) -> None:
    fresh = load(vid)
    _, info = load_cached(imagenet_vid, "imagenet_vid", vid, None, {})
    assert not info.hit and info.folder is not None
    cached, info = load_cached(imagenet_vid, "imagenet_vid", vid, None, {})
    assert info.hit and cached.names == fresh.names
    for a, b in zip(fresh, cached):
        assert list(b.frames) == a.frames and b.occluded.tolist() == a.occluded.tolist()
        np.testing.assert_array_equal(b.boxes, a.boxes)
        assert {k: v for k, v in b.meta.items() if k != "generated"} == {
            k: v for k, v in a.meta.items() if k != "generated"
        }
        assert b.meta["generated"].tolist() == a.meta["generated"].tolist()
    ann, data = vid / "Annotations/VID/train", vid / "Data/VID/train"
    sets = [_SET, "ILSVRC2015_VID_train_0001"]
    assert cache_files(vid) == [ann, *(ann / s for s in sets), data, *(data / s for s in sets)]
    time.sleep(0.05)  # past the file system's coarse timestamp tick
    _video(
        vid, f"{_SET}/ILSVRC2015_train_00000002", {i: [{"t": 3, "box": _box(i)}] for i in (0, 1)}
    )
    newer, info = load_cached(imagenet_vid, "imagenet_vid", vid, None, {})
    assert not info.hit and len(newer) == len(fresh) + 1
    assert newer.names[3] == "ILSVRC2015_train_00000002-t3-0"  # set 0000 comes before 0001
