"""The YouTube-BB reader: CSV + decoded frames, pixel boxes per frame size, the JPEG header."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.index.cache import load_cached
from siamlightning.data.pairs.dataset import PairDataset
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.sources import youtube_bb
from siamlightning.data.sources.youtube_bb import cache_files, jpeg_size, load
from siamlightning.errors import DataError

_A, _B = "AAAAAAAAAAA", "B_b-bbbbbbb"  # YouTube ids may hold '_' and '-'
_SIZE = {_A: (640, 360), _B: (320, 240)}  # (W, H): a 16:9 and a 4:3 video
# youtube_id, timestamp_ms, class_id, class_name, object_id, presence, xmin, xmax, ymin, ymax
_ROWS = [
    (_A, 3000, 0, "person", 0, "present", 0.5, 0.75, 0.25, 0.5),
    (_B, 0, 5, "car", 1, "present", 0.5, 0.75, 0.25, 0.5),
    (_A, 1000, 0, "person", 0, "present", 0.25, 0.5, 0.125, 0.625),
    (_A, 2000, 0, "person", 0, "absent", -1, -1, -1, -1),
    (_A, 4000, 0, "person", 0, "present", 0.25, 0.5, 0.125, 0.625),  # JPEG missing
    (_B, 1000, 5, "car", 1, "present", 0.0, 1.0, 0.0, 1.0),
    (_B, 1000, 5, "car", 1, "present", 0.1, 0.2, 0.1, 0.2),  # duplicate timestamp
    (_B, 0, 5, "car", 0, "present", 0.75, 0.5, 0.25, 0.5),  # xmax < xmin: NaN box
    (_B, 0, 3, "bicycle", 0, "present", 0.1, 0.2, 0.1, 0.2),  # no JPEG at all
]
_MISSING = {(_A, 4000), (_B, 0, 3)}


def _write_root(root: Path, stem: str = "yt_bb_detection_train", packed: bool = False) -> Path:
    text = "".join(",".join(str(v) for v in r) + "\n" for r in _ROWS)
    if packed:
        with gzip.open(root / f"{stem}.csv.gz", "wt") as f:
            f.write(text)
    else:
        (root / f"{stem}.csv").write_text(text)
    for yt, ts, cls, _, obj, *_ in _ROWS:
        if (yt, ts) in _MISSING or (yt, ts, cls) in _MISSING:
            continue
        d = root / stem / str(cls)
        d.mkdir(parents=True, exist_ok=True)
        w, h = _SIZE[yt]
        cv2.imwrite(str(d / f"{yt}_{ts}_{cls}_{obj}.jpg"), np.full((h, w, 3), 90, np.uint8))
    return root


@pytest.fixture(autouse=True)
def cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Index caches go to a temporary folder, never the user's."""
    folder = tmp_path_factory.mktemp("index_cache")
    monkeypatch.setenv("SIAMLIGHTNING_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def yt_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_root(tmp_path_factory.mktemp("ytbb"))


def test_sequences_boxes_in_pixels_and_absent_frames(yt_root: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="siamlightning.data.sources.youtube_bb")
    with pytest.warns(UserWarning, match="dropped 2 frames with no JPEG .* 1 objects had no"):
        index = open_dataset("youtube_bb", yt_root)
    assert "3 objects, 1 duplicated rows skipped" in caplog.text
    assert index.name == "youtube_bb"
    assert index.names == [f"{_A}_0_0", f"{_B}_5_1", f"{_B}_5_0"]
    a = index[f"{_A}_0_0"]
    assert a.meta["timestamps_ms"].tolist() == [1000, 2000, 3000]
    assert Path(a.frames[0]).name == f"{_A}_1000_0_0.jpg"
    assert Path(a.frames[0]).parent == yt_root / "yt_bb_detection_train" / "0"
    np.testing.assert_array_equal(a.boxes[0], [160, 45, 160, 180])  # 640 x 360
    assert np.isnan(a.boxes[1]).all()
    np.testing.assert_array_equal(a.boxes[2], [320, 90, 160, 90])
    assert a.absent.tolist() == [False, True, False] and a.visible.tolist() == [True, False, True]
    assert (a.meta["class_name"], a.meta["class_id"], a.meta["object_id"]) == ("person", 0, 0)
    b = index[f"{_B}_5_1"]  # the same normalised box on a 320 x 240 frame; duplicate dropped
    assert b.meta["timestamps_ms"].tolist() == [0, 1000]
    np.testing.assert_array_equal(b.boxes, [[160, 60, 80, 60], [0, 0, 320, 240]])
    bad = index[f"{_B}_5_0"]
    assert np.isnan(bad.boxes).all() and bad.visible.tolist() == [False]


def test_frame_size_option_and_gzip_validation_csv(tmp_path: Path) -> None:
    _write_root(tmp_path, "yt_bb_detection_validation", packed=True)
    with pytest.warns(UserWarning, match="dropped 2 frames"):
        index = load(tmp_path, split="val", frame_size=(100, 200))
    np.testing.assert_array_equal(index[f"{_A}_0_0"].boxes[0], [25, 25, 25, 100])
    np.testing.assert_array_equal(index[f"{_B}_5_1"].boxes[1], [0, 0, 100, 200])
    with pytest.raises(DataError, match=f"{_A}_4000_0_0.jpg missing"):
        load(tmp_path, split="validation", strict=True)


def test_unreadable_frames_are_dropped_or_raise(tmp_path: Path) -> None:
    _write_root(tmp_path)
    bad = tmp_path / "yt_bb_detection_train" / "0" / f"{_A}_3000_0_0.jpg"
    bad.write_bytes(b"GIF89a")
    with pytest.warns(UserWarning, match="dropped 2 frames with no JPEG and 1 unreadable"):
        index = load(tmp_path)
    assert index[f"{_A}_0_0"].meta["timestamps_ms"].tolist() == [1000, 2000]
    with pytest.raises(DataError, match=f"{bad.name}: cannot read frame size"):
        load(tmp_path, strict=True)  # the unreadable frame comes before the missing one


def test_csv_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "yt_bb_detection_train").mkdir()
    csv_file = tmp_path / "yt_bb_detection_train.csv"
    with pytest.raises(ValueError, match="no split 'test'"):
        load(tmp_path, split="test")
    with pytest.raises(DataError, match=r"yt_bb_detection_train\.csv \(or \.csv\.gz\) does not"):
        load(tmp_path)
    good = "x,0,0,person,0,present,0.1,0.2,0.1,0.2\n"
    for bad, msg in [
        ("x,0,0,person,0,present,0.1,0.2,0.1\n", "expected 10 columns"),
        ("x,0,0,person,0,visible,0.1,0.2,0.1,0.2\n", "object_presence must be"),
        ("x,0.5,0,person,0,present,0.1,0.2,0.1,0.2\n", "bad number"),
    ]:
        csv_file.write_text(good + bad)
        with pytest.raises(DataError, match=msg) as err:
            load(tmp_path)
        assert err.value.line == 2 and err.value.path == str(csv_file)


def _with_app1(jpeg: bytes) -> bytes:
    """Insert an APP1 segment full of 0xFF bytes and fill bytes after the SOI marker."""
    payload = b"Exif\x00\x00" + b"\xff\xc0" * 300
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def test_jpeg_size_reads_the_header(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for k, (w, h) in enumerate([(1, 1), (17, 5), (640, 360), (300, 1000)]):
        img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        params = [cv2.IMWRITE_JPEG_PROGRESSIVE, k % 2]  # baseline SOF0 and progressive SOF2
        data = cv2.imencode(".jpg", img, params)[1].tobytes()
        p = tmp_path / f"{k}.jpg"
        p.write_bytes(data if k < 2 else _with_app1(data))
        assert jpeg_size(p) == (w, h)
        assert cv2.imdecode(np.fromfile(p, np.uint8), cv2.IMREAD_COLOR).shape[:2] == (h, w)
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[:30])
    with pytest.raises(DataError, match=r"cut\.jpg: JPEG ends"):
        jpeg_size(p)
    p.write_bytes(cv2.imencode(".png", img)[1].tobytes())
    with pytest.raises(DataError, match="not a JPEG file"):
        jpeg_size(p)


def test_pair_dataset_draws_from_youtube_bb(yt_root: Path) -> None:
    with pytest.warns(UserWarning):
        index = load(yt_root)
    ds = PairDataset(sources=[index], sampler=PairSampler(frame_range=3), search_size=63)
    for i in range(4):
        sample = ds[(0, 0, i)]
        assert sample["search"].shape == (3, 63, 63) and int(sample["skipped"]) == 0


def test_index_cache_round_trip(yt_root: Path) -> None:
    with pytest.warns(UserWarning):
        fresh = load(yt_root)
    with pytest.warns(UserWarning):  # the first call parses (and warns), the second is a hit
        load_cached(youtube_bb, "youtube_bb", yt_root, None, {})
    cached, info = load_cached(youtube_bb, "youtube_bb", yt_root, None, {})
    assert info.hit and cached.names == fresh.names
    for a, b in zip(fresh, cached):
        assert list(b.frames) == a.frames and np.array_equal(a.boxes, b.boxes, equal_nan=True)
        assert b.absent.tolist() == a.absent.tolist()
        assert b.meta["timestamps_ms"].tolist() == a.meta["timestamps_ms"].tolist()
    top = yt_root / "yt_bb_detection_train"
    assert cache_files(yt_root) == [
        yt_root / "yt_bb_detection_train.csv",
        yt_root / "yt_bb_detection_train.csv.gz",
        top,
        top / "0",
        top / "5",
    ]
