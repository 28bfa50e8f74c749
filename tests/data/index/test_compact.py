"""CompactIndex: exact round trips of every reader fixture, lazy frames, select/shard, pickles."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from pathlib import Path, PurePath

import cv2
import numpy as np
import pytest
from test_davis import _DOGS, write_seq

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import FrameList, Sequence, SequenceIndex
from siamlightning.data.index.compact import CompactIndex
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.tools.writers import write_got10k, write_lasot, write_otb, write_vot
from siamlightning.errors import DataError, IndexCacheError

_JPEG = cv2.imencode(".jpg", np.full((12, 16, 3), 70, np.uint8))[1].tobytes()


def same_value(a: object, b: object, where: str = "meta") -> None:
    """Equal values of the same types (arrays: dtype, shape and values with NaN)."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            same_value(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same_value(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, where


def same_sequence(a: Sequence, b: Sequence) -> None:
    """Every field of two sequences is identical."""
    assert a.name == b.name and len(a) == len(b) and b.renderer is None
    assert list(a.frames) == list(b.frames) and b.frames == a.frames
    assert all(type(f) is str for f in b.frames)
    assert b.boxes.dtype == np.float64
    np.testing.assert_array_equal(a.boxes, b.boxes)
    for f in ("polygons", "absent", "occluded", "out_of_view"):
        same_value(getattr(a, f), getattr(b, f), f)
    assert (a.masks is None) == (b.masks is None)
    assert a.masks is None or list(a.masks) == list(b.masks)
    same_value(a.meta, b.meta)


def same_index(a: SequenceIndex, b: SequenceIndex) -> None:
    """Same sequences, names, totals and frame tables."""
    assert (b.name, b.root, b.names, len(b)) == (a.name, a.root, a.names, len(a))
    assert b.num_frames == a.num_frames
    for s, t in zip(a, b):
        same_sequence(s, t)
    ta, tb = a.frame_table(), b.frame_table()
    np.testing.assert_array_equal(ta.offsets, tb.offsets)
    np.testing.assert_array_equal(ta.boxes, tb.boxes)
    np.testing.assert_array_equal(ta.visible, tb.visible)
    same_value(ta.visible_ratio, tb.visible_ratio, "visible_ratio")
    same_value(ta.image_size, tb.image_size, "image_size")


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str | None]]:
    """Small trees in the GOT-10k, LaSOT, OTB, VOT, TrackingNet and DAVIS layouts."""
    base = tmp_path_factory.mktemp("layouts")
    synth = open_dataset(
        "synthetic", None, seed=3, num_sequences=3, length=9, width=48, height=40, difficulty=2
    )
    out = {
        "got10k": (write_got10k(synth, base / "GOT-10k", split="val"), "val"),
        "lasot": (write_lasot(synth, base / "LaSOT"), None),
        "otb": (write_otb(synth, base / "OTB"), None),
        "vot": (write_vot(synth, base / "VOT"), None),
    }
    tn = base / "TrackingNet" / "TRAIN_0"
    for name, n in (("vid_a", 12), ("vid_b", 3)):
        (tn / "frames" / name).mkdir(parents=True)
        for i in range(n):
            (tn / "frames" / name / f"{i}.jpg").write_bytes(_JPEG)
        (tn / "anno").mkdir(exist_ok=True)
        rows = [f"{i}.5,1,{3 + i},4" for i in range(n)]
        (tn / "anno" / f"{name}.txt").write_text("\n".join(rows) + "\n")
    out["trackingnet"] = (tn.parent, None)
    write_seq(base / "DAVIS", "dogs", _DOGS)  # masks with gaps: listed, not a pattern
    (base / "DAVIS" / "ImageSets" / "2017").mkdir(parents=True)
    (base / "DAVIS" / "ImageSets" / "2017" / "train.txt").write_text("dogs\n")
    out["davis"] = (base / "DAVIS", None)
    return out


@pytest.mark.parametrize("source", ["got10k", "lasot", "otb", "vot", "trackingnet", "davis"])
def test_reader_fixtures_round_trip_exactly(layouts: dict, source: str, tmp_path: Path) -> None:
    root, split = layouts[source]
    index = open_dataset(source, root, split, cache=False)
    assert len(index) >= 2 and index.num_frames >= 8
    compact = CompactIndex.from_index(index)
    same_index(index, compact)
    opened = CompactIndex.open(compact.save(tmp_path / "ix"))
    same_index(index, opened)
    same_index(index, opened.to_index())
    same_index(index, pickle.loads(pickle.dumps(compact)))  # in memory: pickles the arrays
    assert isinstance(opened.frame_table().boxes.base, np.memmap) or opened.num_frames == 0
    if source == "got10k":  # meta width/height reach the frame table without Sequences
        np.testing.assert_array_equal(opened.frame_table().image_size, [[48, 40]] * 3)
    if source in ("got10k", "lasot", "vot", "trackingnet", "otb"):
        assert all(isinstance(s.frames, FrameList) for s in opened)  # named by a pattern


def test_pattern_detection_and_frame_list() -> None:
    seqs = [
        Sequence("got", [f"/d/GOT_1/{i:08d}.jpg" for i in range(1, 6)], np.ones((5, 4))),
        Sequence("tn", [f"/t/{i}.jpg" for i in range(12)], np.ones((12, 4))),
        Sequence("vos", [f"/v%x/{i:05d}.jpg" for i in range(0, 50, 5)], np.ones((10, 4))),
        Sequence("one", ["/coco/000000391895.jpg"], np.ones((1, 4))),
        Sequence("gap", ["/g/1.jpg", "/g/2.jpg", "/g/4.jpg"], np.ones((3, 4))),
        Sequence("mixed", ["/a/x.jpg", "/b/y.jpg"], np.ones((2, 4))),
        Sequence("empty", [], np.zeros((0, 4))),
    ]
    c = CompactIndex.from_index(SequenceIndex(seqs))
    got, tn, vos, one, gap, mixed, empty = c
    assert (got.frames.template, got.frames.start) == ("/d/GOT_1/%08d.jpg", 1)
    assert (tn.frames.template, tn.frames.start, vos.frames.step) == ("/t/%d.jpg", 0, 5)
    assert vos.frames[-1] == "/v%x/00045.jpg" and one.frames == ["/coco/000000391895.jpg"]
    assert type(gap.frames) is list and mixed.frames == ["/a/x.jpg", "/b/y.jpg"]
    assert len(empty) == 0 and empty.frames == []
    f = tn.frames
    assert isinstance(Sequence("x", f, np.ones((12, 4))).frames, FrameList)  # kept lazy
    assert (
        len(f) == 12
        and f[3] == "/t/3.jpg"
        and f[-1] == "/t/11.jpg"
        and f[np.int64(2)] == "/t/2.jpg"
    )
    assert f[2:5] == ["/t/2.jpg", "/t/3.jpg", "/t/4.jpg"] and f[::-4] == [
        "/t/11.jpg",
        "/t/7.jpg",
        "/t/3.jpg",
    ]
    assert list(f)[:2] == ["/t/0.jpg", "/t/1.jpg"] and "/t/7.jpg" in f and f.index("/t/5.jpg") == 5
    assert f == [f"/t/{i}.jpg" for i in range(12)] and f != [f"/t/{i}.jpg" for i in range(11)]
    assert pickle.loads(pickle.dumps(f)) == f and f != "/t/0.jpg"
    with pytest.raises(IndexError):
        f[12]


def test_every_meta_type_round_trips(tmp_path: Path) -> None:
    n = 4
    meta = {
        "s": "naïve \udcff",
        "i": 2**62,
        "f": 0.1,
        "nan": float("nan"),
        "b": True,
        "none": None,
        "tuple": (1, (2.5, "x")),
        "list": [1, [2, {"k": (3,)}]],
        "path": Path("/a/b.txt"),
        "np": [np.float32(1.5), np.int64(-3), np.bool_(True), np.uint8(7)],
        "per_frame": np.array([1, 2, 3, 4], np.int16),
        "other_len": np.arange(6.0).reshape(3, 2),
        "zero_d": np.array(2.5),
        "strings": np.array(["a", "bc", "d", "e"]),
        "tags": {"occlusion": np.array([0, 1, 0, 1], bool), "x": np.zeros((n, 2), ">f4")},
        1: "int key",
        ("t", 2): "tuple key",
        "\0odd": 1,
        "empty": np.zeros((0,), np.int8),
    }
    polys = np.arange(n * 8, dtype=np.float64).reshape(n, 8) / 3
    a = Sequence(
        "a/%b",
        [f"/x/{i}.png" for i in range(n)],
        np.array([[0.1, 2, 3, 4]] * n),
        polys,
        masks=["/m/0.png", "", "", "/m/3.png"],
        absent=[0, 1, 0, 0],
        occluded=[1, 0, 0, 0],
        out_of_view=[0, 0, 1, 1],
        meta=meta,
    )
    b = Sequence(
        "b", ["/y/1.jpg"], np.array([[1.0, 2, 3, np.nan]]), meta={"visible_ratio": np.ones(1)}
    )
    index = SequenceIndex([a, b], name="mix", root=None)
    c = CompactIndex.open(CompactIndex.from_index(index).save(tmp_path / "ix"))
    same_index(index, c)
    assert c[0].boxes.dtype == np.float64 and c[0].boxes[0, 0] == 0.1  # not exact in float32
    assert c.frame_table().visible_ratio.tolist() == [1, 1, 1, 1, 1]
    assert (
        isinstance(c[0].meta["path"], PurePath)
        and c[0].polygons is not None
        and c[1].polygons is None
    )
    m = c[0].meta["per_frame"]
    m[0] = 9  # arrays handed out are private copies
    assert c[0].meta["per_frame"][0] == 1 and c[0].boxes.flags.writeable
    with pytest.raises(TypeError, match=r"meta\['bad'\]: a set"):
        CompactIndex.from_index(
            SequenceIndex([Sequence("s", ["/a"], np.ones((1, 4)), meta={"bad": {1}})])
        )
    with pytest.raises(TypeError, match="in memory"):
        CompactIndex.from_index(open_dataset("synthetic", None, num_sequences=1, length=3))


def _random_index(num: int, seed: int = 0) -> SequenceIndex:
    rng = np.random.default_rng(seed)
    seqs = []
    for k in range(num):
        n = int(rng.integers(1, 40))
        boxes = rng.uniform(1, 50, (n, 4)).round(2)
        boxes[rng.random(n) < 0.2] = np.nan
        meta = {"visible_ratio": rng.random(n), "cls": f"c{k % 3}"} if k % 2 else {}
        frames = [f"/r/seq_{k:03d}/{i:08d}.jpg" for i in range(1, n + 1)]
        seqs.append(
            Sequence(f"seq_{k:03d}", frames, boxes, occluded=rng.random(n) < 0.3, meta=meta)
        )
    return SequenceIndex(seqs, name="rand", root="/r")


def test_select_shard_lookup_and_sampler_match_sequence_index(tmp_path: Path) -> None:
    index = _random_index(37)
    c = CompactIndex.open(CompactIndex.from_index(index).save(tmp_path / "ix"))
    assert c.names == index.names and "seq_005" in c and "nope" not in c and c.name == "rand"
    same_sequence(index["seq_007"], c["seq_007"])
    same_sequence(index[-1], c[-1])
    assert [s.name for s in c[3:6]] == index.names[3:6]
    for world in (1, 2, 3, 5):
        shards = [c.shard(r, world) for r in range(world)]
        for r, sh in enumerate(shards):
            same_index(index.shard(r, world), sh)
        assert sorted(n for sh in shards for n in sh.names) == sorted(index.names)
    pick = ["seq_010", "seq_002", "seq_030"]
    sel = c.select(pick)
    same_index(index.select(pick), sel)
    same_index(index.select(pick).shard(1, 2), sel.shard(1, 2))
    assert sel.select(["seq_030"]).names == ["seq_030"] and len(pickle.dumps(sel)) < 1000
    with pytest.raises(KeyError, match="nope"):
        c.select(["nope"])
    with pytest.raises(DataError, match="duplicate"):
        c.select(["seq_001", "seq_001"])
    with pytest.raises(IndexError):
        c[37]
    sa, sb = PairSampler(frame_range=5).bind([index]), PairSampler(frame_range=5).bind([c])
    ra, rb = np.random.default_rng(4), np.random.default_rng(4)
    assert [sa.sample(ra) for _ in range(50)] == [sb.sample(rb) for _ in range(50)]


def _child(index: CompactIndex, q: mp.Queue) -> None:
    q.put((len(index), index.num_frames, float(np.nansum(index.frame_table().boxes)), index.names))


def test_pickle_holds_only_the_path_and_spawned_workers_reopen(tmp_path: Path) -> None:
    lens = np.full(100, 15_000)  # 1.5 M frames
    seqs = [
        Sequence(f"s{k}", FrameList(f"/big/s{k}/%08d.jpg", 1, 1, n), np.ones((n, 4)))
        for k, n in enumerate(lens)
    ]
    big = CompactIndex.open(CompactIndex.from_index(SequenceIndex(seqs)).save(tmp_path / "big"))
    assert big.num_frames == 1_500_000 and len(pickle.dumps(big)) < 1000
    assert len(pickle.dumps(big.shard(0, 4))) < 1000
    small = CompactIndex.open(CompactIndex.from_index(_random_index(5)).save(tmp_path / "s"))
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(small.select(["seq_003", "seq_001"]), q))
    p.start()
    got = q.get(timeout=120)
    p.join(60)
    table = small.select(["seq_003", "seq_001"]).frame_table()
    assert got == (2, int(table.offsets[-1]), float(np.nansum(table.boxes)), ["seq_003", "seq_001"])
    small.save(tmp_path / "s")  # rebuilt: an old pickle no longer matches
    with pytest.raises(IndexCacheError, match="rebuilt"):
        pickle.loads(pickle.dumps(small))


def test_open_rejects_partial_folders(tmp_path: Path) -> None:
    folder = CompactIndex.from_index(_random_index(4)).save(tmp_path / "ix")
    CompactIndex.open(folder)
    (folder / "flags.npy").write_bytes((folder / "flags.npy").read_bytes()[:-3])
    with pytest.raises(IndexCacheError, match=r"flags\.npy"):
        CompactIndex.open(folder)
    (folder / "meta.json").unlink()
    with pytest.raises(IndexCacheError, match=r"no meta\.json"):
        CompactIndex.open(folder)
    assert [p.name for p in tmp_path.iterdir()] == ["ix"]  # no temp folders left behind
