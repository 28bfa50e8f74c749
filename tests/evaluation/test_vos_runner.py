"""VOS runner: one tracker per object from its mask's box, label fusion, DAVIS and YouTube-VOS
result layouts, rank shards; on tiny DAVIS / YouTube-VOS trees with a box-mask tracker."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image
from test_davis import labels_of, write_seq
from test_youtube_vos import _JPEG as YTVOS_JPEG
from test_youtube_vos import labels_of as ytvos_labels
from test_youtube_vos import write_png as ytvos_png

from siamlightning.configs import compose
from siamlightning.data.core.masks import read_palette_png
from siamlightning.evaluation.benchmarks import open_benchmark, run_benchmark
from siamlightning.evaluation.vos_runner import box_mask, fuse_labels, run_vos
from siamlightning.evaluation.vos_videos import DAVIS_PALETTE, read_labels, vos_video
from siamlightning.tracking.base import StaticTracker, Tracker, TrackResult

VOID_ROW = {255: (19, 19, 0, 29)}  # a void (255) bottom row on every frame


def two_objects(f: int) -> dict[int, tuple[int, int, int, int]]:
    """Frame f: object 1 static, object 2 (6 x 8 px) moved 2f px right; rows/cols inclusive."""
    return {1: (2, 7, 2, 9), 2: (10, 15, 15 + 2 * f, 22 + 2 * f)}


def write_davis(root: Path, videos: dict[str, int], void: bool = True) -> Path:
    """A DAVIS-2017 trainval tree (20 x 30 px): videos {name: frames} of `two_objects`, listed
    in ImageSets/2017/val.txt and 2016/val.txt."""
    for name, n in videos.items():
        write_seq(root, name, [two_objects(f) | (VOID_ROW if void else {}) for f in range(n)])
    for year in ("2016", "2017"):
        (root / "ImageSets" / year).mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / year / "val.txt").write_text("\n".join(videos) + "\n")
    return root


class BoxMaskTracker(Tracker):
    """Stays on its init box; its mask is 0.8 on the box's pixels (threshold 0.5)."""

    mask_threshold = 0.5

    def __init__(self, log: list) -> None:
        self.log = log

    def init(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        self.box, self.shape = np.asarray(box, float), image.shape[:2]
        self.log.append(self.box.tolist())

    def track(self, image: np.ndarray) -> TrackResult:
        return TrackResult(box=self.box, score=1.0, mask=0.8 * box_mask(self.box, self.shape))


def spec_of(name: str, root: Path, *overrides: str) -> dict:
    """The benchmark node of ``siamlightning-eval benchmark=<name> benchmark.root=<root>``."""
    cfg = compose("eval", [f"benchmark={name}", f"benchmark.root={root}", *overrides])
    return OmegaConf.to_container(cfg.benchmark, resolve=True)


def test_fuse_labels_and_box_mask() -> None:
    probs = np.array([[[0.9, 0.6, 0.5, -1.0]], [[0.9, 0.7, 0.2, -1.0]]], np.float32)
    # tie -> the first object; strictly above the threshold; labels are the objects' ids
    assert fuse_labels(probs, np.array([3, 7]), 0.5).tolist() == [[3, 7, 0, 0]]
    assert fuse_labels(probs[:0], np.zeros(0), 0.5).tolist() == [[0, 0, 0, 0]]
    m = box_mask(np.array([0.6, 0.4, 2.0, 1.0]), (3, 4))  # centres 1.5, 2.5 in x; 0.5 in y
    assert m.tolist() == [[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert box_mask(np.array([np.nan, 0, 1, 1]), (2, 2)).sum() == 0


def test_davis2017_objects_fused_into_palette_pngs(tmp_path: Path) -> None:
    root = write_davis(tmp_path / "DAVIS", {"two": 5})
    spec = spec_of("davis2017_val", root)
    index = open_benchmark(spec)
    assert index.names == ["two"] and len(index[0]) == 5
    assert vos_video(index[0]).frame_ids == ("00000", "00001", "00002", "00003", "00004")
    log: list = []
    out = run_benchmark({"fake": lambda: BoxMaskTracker(log)}, index, spec, tmp_path / "o")
    # boundingRect of each object's frame-0 mask, void row not an object
    assert log == [[2, 2, 8, 6], [15, 10, 8, 6]]
    folder = tmp_path / "o" / "results" / "davis2017_val" / "fake" / "two"
    first = Image.open(folder / "00000.png")
    assert first.mode == "P" and first.getpalette()[:9] == DAVIS_PALETTE[:9]
    assert DAVIS_PALETTE[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]  # VOC colours, as DAVIS
    assert (read_palette_png(folder / "00000.png") == labels_of(two_objects(0))).all()  # GT, void 0
    for f in range(1, 5):  # every object stays on its frame-0 box
        assert (read_palette_png(folder / f"{f:05d}.png") == labels_of(two_objects(0))).all()
    result = out["fake"]
    assert result.kind == "vos" and result.protocol == "davis2017" and result.tracker == "fake"
    assert result.value("num_objects") == 2 and result.value("num_frames") == 3
    assert result.fps > 0
    assert set(result.sequences) == {"two_1", "two_2"}


def test_threshold_override_and_davis2016_union(tmp_path: Path) -> None:
    root = write_davis(tmp_path / "DAVIS", {"two": 3}, void=False)
    spec = spec_of("davis2016_val", root, "benchmark.mask_threshold=0.9")
    index = open_benchmark(spec)
    assert vos_video(index[0]).binary and read_labels(index[0], 0).max() == 1
    log: list = []
    run_benchmark({"fake": lambda: BoxMaskTracker(log)}, index, spec, tmp_path / "o")
    assert log == [[2, 2, 21, 14]]  # one object: the union of the 2017 objects
    folder = tmp_path / "o" / "results" / "davis2016_val" / "fake" / "two"
    assert (read_palette_png(folder / "00000.png") == (labels_of(two_objects(0)) > 0)).all()
    assert read_palette_png(folder / "00001.png").max() == 0  # 0.8 is not above 0.9


def test_rank_shards_write_the_single_process_files(tmp_path: Path) -> None:
    root = write_davis(tmp_path / "DAVIS", {"a": 4, "b": 3, "c": 3})
    index = open_benchmark(spec_of("davis2017_val", root))

    def files(folder: Path) -> dict[str, bytes]:
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.png")}

    one = run_vos(lambda: BoxMaskTracker([]), index, tmp_path / "one", progress=False)
    parts = [
        run_vos(lambda: BoxMaskTracker([]), index, tmp_path / "two", rank=r, world_size=2)
        for r in (0, 1)
    ]
    assert sorted(parts[0]) == ["a"] and sorted(parts[1]) == ["b", "c"]  # frame-balanced
    assert files(tmp_path / "one") == files(tmp_path / "two") and len(files(tmp_path / "one")) == 10
    assert {k: v.tracked for k, v in one.items()} == {"a": 6, "b": 4, "c": 4}


def write_ytvos_valid(root: Path) -> Path:
    """YouTube-VOS valid: vid with JPEGs 00000..00015 (every 5th); object 1 annotated at 00000,
    object 2 first at 00010 (its PNG also shows object 1)."""
    jpgs = root / "valid" / "JPEGImages" / "vid"
    jpgs.mkdir(parents=True)
    for f in range(0, 20, 5):
        (jpgs / f"{f:05d}.jpg").write_bytes(YTVOS_JPEG)
    ann = root / "valid" / "Annotations" / "vid"
    ytvos_png(ann / "00000.png", ytvos_labels({1: (2, 5, 3, 9)}))
    ytvos_png(ann / "00010.png", ytvos_labels({1: (3, 6, 4, 10), 2: (12, 15, 20, 25)}))
    frames = [f"{f:05d}" for f in range(0, 20, 5)]
    objects = {
        "1": {"category": "cat", "frames": frames},
        "2": {"category": "dog", "frames": frames[2:]},
    }
    meta = {"videos": {"vid": {"objects": objects}}}
    (root / "valid" / "meta.json").write_text(json.dumps(meta))
    return root


def test_youtube_vos_submission_layout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_ytvos_valid(tmp_path / "2018")
    spec = spec_of("youtube_vos_val", root)
    index = open_benchmark(spec)
    assert index.names == ["vid"] and [o.start for o in vos_video(index[0]).objects] == [0, 2]
    log: list = []
    out = run_benchmark({"fake": lambda: BoxMaskTracker(log)}, index, spec, tmp_path / "o")
    assert out == {} and "NO LOCAL SCORE" in capsys.readouterr().out
    assert log == [[3, 2, 7, 4], [20, 12, 6, 4]]  # object 2 from its own first frame's PNG
    res = tmp_path / "o" / "results" / "youtube_vos_val" / "fake"
    ann = res / "Annotations" / "vid"
    assert sorted(p.name for p in ann.iterdir()) == [f"{f:05d}.png" for f in range(0, 20, 5)]
    assert (read_palette_png(ann / "00005.png") == ytvos_labels({1: (2, 5, 3, 9)})).all()
    both = ytvos_labels({1: (2, 5, 3, 9), 2: (12, 15, 20, 25)})
    assert (read_palette_png(ann / "00015.png") == both).all()
    # on object 2's start frame: its ground truth (1.0) and object 1's tracked box (0.8)
    assert (read_palette_png(ann / "00010.png") == both).all()
    with zipfile.ZipFile(res / "submission.zip") as z:
        assert sorted(z.namelist())[0] == "Annotations/vid/00000.png" and len(z.namelist()) == 4


def test_real_davis_config_and_its_absence(
    real_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIAMLIGHTNING_REAL_DATA", str(real_data))
    spec = OmegaConf.to_container(compose("eval", ["benchmark=davis_real"]).benchmark, resolve=True)
    index = open_benchmark(spec)
    assert index.names == ["davis_blackswan", "davis_car-shadow"]
    assert [len(s) for s in index] == [50, 40] and vos_video(index[0]).frame_ids[0] == "0001"
    assert vos_video(index[1]).binary and read_labels(index[1], 0).max() == 1
    monkeypatch.setenv("SIAMLIGHTNING_REAL_DATA", str(tmp_path / "absent"))
    spec = OmegaConf.to_container(compose("eval", ["benchmark=davis_real"]).benchmark, resolve=True)
    assert open_benchmark(spec) is None  # skipped with a log line


class DriftingMaskTracker(BoxMaskTracker):
    """Its box drifts 1 px right per frame; its mask is a different, smaller box."""

    def track(self, image: np.ndarray) -> TrackResult:
        self.box = self.box + np.array([1.0, 0.0, 0.0, 0.0])
        inner = self.box + np.array([1.0, 1.0, -2.0, -2.0])
        return TrackResult(box=self.box, score=1.0, mask=0.8 * box_mask(inner, self.shape))


class BoxOnly(Tracker):
    """Another tracker's boxes with its masks dropped (the box baseline tracked separately)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def init(self, image: np.ndarray, box: np.ndarray | list[float]) -> None:
        self.tracker.init(image, box)

    def track(self, image: np.ndarray) -> TrackResult:
        return TrackResult(box=self.tracker.track(image).box, score=1.0)


def test_synthetic_masks_and_box_as_mask_baseline(tmp_path: Path) -> None:
    over = ["benchmark.options.num_sequences=2", "benchmark.options.length=4"]
    spec = OmegaConf.to_container(compose("eval", ["benchmark=synthetic_vos", *over]).benchmark)
    index = open_benchmark(spec)
    assert len(index) == 2 and vos_video(index[0]).frame_ids == ("00000", "00001", "00002", "00003")
    trackers = {"fake": lambda: BoxMaskTracker([]), "static": StaticTracker}
    out = run_benchmark(trackers, index, spec, tmp_path, progress=False, box_of="fake")
    assert list(out) == ["fake", "static", "box"]  # the baseline after the others
    # both are the frame-0 box filled (box masks are 1, threshold 0.5), scored on frames 1, 2
    static, box = out["static"], out["box"]
    assert static.value("num_frames") == 4 and static.value("num_objects") == 2
    assert static.overall.values == box.overall.values
    assert 0 < static.overall.values["j_mean"] < 1
    assert box.fps == out["fake"].fps and box.tracker == "box"
    with pytest.raises(ValueError, match="box_of='nope'"):
        run_benchmark(trackers, index, spec, tmp_path, progress=False, box_of="nope")
    with pytest.raises(ValueError, match="called 'box'"):
        run_benchmark(trackers | {"box": StaticTracker}, index, spec, tmp_path, box_of="fake")


@pytest.mark.parametrize("name", ["davis2017_val", "youtube_vos_val"])
def test_box_baseline_equals_tracking_the_boxes_again(tmp_path: Path, name: str) -> None:
    if name == "davis2017_val":
        spec = spec_of(name, write_davis(tmp_path / "DAVIS", {"two": 6, "three": 4}))
    else:
        spec = spec_of(name, write_ytvos_valid(tmp_path / "2018"))
    index = open_benchmark(spec)
    runs = {"drift": lambda: DriftingMaskTracker([])}
    run_benchmark(runs, index, spec, tmp_path / "one", progress=False, box_of="drift")
    again = {"box": lambda: BoxOnly(DriftingMaskTracker([]))}
    run_benchmark(again, index, spec, tmp_path / "two", progress=False)
    one, two = (tmp_path / d / "results" / spec["name"] / "box" for d in ("one", "two"))
    pngs = sorted(p.relative_to(one) for p in one.rglob("*.png"))
    assert pngs == sorted(p.relative_to(two) for p in two.rglob("*.png")) and len(pngs) >= 4
    for rel in pngs:
        assert (read_palette_png(one / rel) == read_palette_png(two / rel)).all(), rel
    drift = one.parent / "drift"  # the tracker's own masks differ from its boxes
    assert any((read_palette_png(drift / r) != read_palette_png(one / r)).any() for r in pngs)
