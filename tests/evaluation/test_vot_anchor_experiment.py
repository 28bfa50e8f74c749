"""VOT2020 anchor ("multistart") runner and folder scorer: hand-computed A, R, EAO and layouts."""

import struct
from pathlib import Path

import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.tools.writers import write_vot
from siamlightning.errors import DataError
from siamlightning.evaluation.vot_anchor_runner import run_vot_multistart
from siamlightning.evaluation.vot_anchor_scoring import (
    read_trajectory,
    score_vot_multistart_folder,
)
from siamlightning.metrics.regions import Mask, Special, format_region, write_regions
from siamlightning.tracking.base import Tracker, TrackResult

GT = [10.0, 10.0, 10.0, 10.0]  # 100 px
EXACT, THIRD, HALF, FAR = GT, [15.0, 10, 10, 10], [10.0, 10, 10, 5], [80.0, 80, 5, 5]


def _seq(name: str, n: int, anchors: list[int], absent: list[int] = ()) -> Sequence:
    boxes = np.tile(GT, (n, 1))
    boxes[list(absent)] = np.nan
    meta = {"width": 100, "height": 100, "values": {"anchor": np.array(anchors, float)}}
    return Sequence(name, [f"{name}{i}" for i in range(n)], boxes, meta=meta)


def _write(folder: Path, name: str, anchor: int, regions: list) -> None:
    rows = [Special(1)] + [r if isinstance(r, Special) else np.array(r) for r in regions]
    write_regions(folder / "baseline" / name / f"{name}_{anchor:08d}.txt", rows)


def _bin(path: Path, regions: list) -> None:
    """The toolkit's binary trajectory: header <hI, then <B type + payload per region."""
    out = struct.pack("<hI", 1, len(regions))
    for r in regions:
        if isinstance(r, Special):
            out += struct.pack("<BI", 0, r.code)
        elif isinstance(r, Mask):
            rle = [3, 2, 1, 2]
            h, w = r.mask.shape
            out += struct.pack(f"<BhhHHH{len(rle)}H", 3, *r.offset, w, h, len(rle), *rle)
        else:
            out += struct.pack("<Bffff", 1, *r)
    path.write_bytes(out)


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[SequenceIndex, Path]:
    """Sequence a: 12 frames, anchors 0 (forward) and 11 (backward, fails); b: 6 frames, forward
    anchors 0 and 3, target absent on frame 5."""
    a = _seq("a", 12, [1] + [0] * 10 + [-1])
    b = _seq("b", 6, [1, 0, 0, 1, 0, 0], absent=[5])
    _write(tmp_path, "a", 0, [EXACT] * 11)  # overlaps 0 (init), 1 x 11
    _write(tmp_path, "a", 11, [HALF] + [FAR] * 10)  # 0, .5, then 10 x 0: fails, progress 2
    _write(tmp_path, "b", 0, [THIRD, THIRD, HALF, HALF, EXACT])  # frame 5 absent: a box scores 0
    _write(tmp_path, "b", 3, [EXACT, Special(0)])  # nothing vs an absent target scores 1
    return SequenceIndex([a, b]), tmp_path


def test_scorer_matches_hand_computed_a_r_eao(tiny: tuple[SequenceIndex, Path]) -> None:
    index, folder = tiny
    rep = score_vot_multistart_folder(folder, index, interval=(1, 14))
    seqs = rep.sequences
    assert seqs["a"]["accuracy"] == pytest.approx(11.5 / 14)  # (11 + .5) / (12 + 2)
    assert seqs["a"]["robustness"] == pytest.approx(14 / 24)
    assert seqs["b"]["accuracy"] == pytest.approx((11 / 3) / 9)  # (2/3 + 1 + 0 + 2) / (6 + 3)
    assert seqs["b"]["robustness"] == pytest.approx(1.0) and seqs["b"]["anchors"] == 2
    overall = rep.to_json()["overall"]
    assert overall["accuracy"] == pytest.approx((11.5 + 11 / 3) / 23)  # weights: progress
    assert overall["robustness"] == pytest.approx((7 + 6) / 18)  # weights: sequence length
    # EAO: each run adds mean(o[1..j]) while j < its length; the failed run of a adds
    # sum(o[1:]) / (j - 1) beyond its end; the successful runs stop counting at their end
    contrib = {j: [1.0, 0.5 / j] for j in range(1, 12)}
    b0 = {1: 1 / 3, 2: 1 / 3, 3: 7 / 18, 4: 5 / 12, 5: 1 / 3}
    b3 = {1: 1.0, 2: 1.0}
    for j in range(1, 12):
        contrib[j] += [b[j] for b in (b0, b3) if j in b]
    contrib.update({12: [0.5 / 11], 13: [0.5 / 12]})
    curve = [0.0] + [float(np.mean(contrib[j])) for j in range(1, 14)]
    np.testing.assert_allclose(overall["eao_curve"], curve, rtol=1e-12)
    assert overall["eao"] == pytest.approx(np.mean(curve[1:15]))
    assert rep.protocol == "vot2020-anchor" and overall["eao_interval"] == [1, 14]
    # default: VOT2020's [115, 755] on a 755-entry curve; only the failed run still counts there
    default = score_vot_multistart_folder(folder, index).to_json()["overall"]
    assert len(default["eao_curve"]) == 755 and default["eao_interval"] == [115, 755]
    assert default["eao"] == pytest.approx(np.mean([0.5 / (j - 1) for j in range(115, 755)]))


def test_binary_trajectories_and_missing_files(tiny: tuple[SequenceIndex, Path]) -> None:
    index, folder = tiny
    before = score_vot_multistart_folder(folder, index, interval=(1, 14))
    txt = folder / "baseline" / "b" / "b_00000003.txt"
    txt.unlink()
    _bin(txt.with_suffix(".bin"), [Special(1), np.array(EXACT), Special(0)])
    after = score_vot_multistart_folder(folder, index, interval=(1, 14))
    assert after.overall == before.overall
    mask = read_trajectory(_write_mask_bin(folder / "m.bin"))[0]
    np.testing.assert_array_equal(mask.mask, [[0, 0, 0, 1], [1, 0, 1, 1]])
    assert mask.offset == (4, 5)
    (folder / "baseline" / "a" / "a_00000011.txt").unlink()
    with pytest.raises(DataError, match=r"no trajectory a_00000011\.txt or a_00000011\.bin"):
        score_vot_multistart_folder(folder, index)


def _write_mask_bin(path: Path) -> Path:
    _bin(path, [Mask(np.zeros((2, 4), bool), (4, 5))])  # RLE 3, 2, 1, 2 in a 4 x 2 box
    return path


class Replay(Tracker):
    """Identifies each frame among the sequence's frames and answers with its GT mask."""

    def __init__(self, frames: list[np.ndarray], masks: list[np.ndarray], log: list) -> None:
        self.frames, self.masks, self.log = frames, masks, log

    def _index(self, image: np.ndarray) -> int:
        return next(i for i, f in enumerate(self.frames) if np.array_equal(f, image))

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        self.seen = [self._index(image)]
        self.log.append((self.seen, np.asarray(box)))

    def track(self, image: np.ndarray) -> TrackResult:
        i = self._index(image)
        self.seen.append(i)
        return TrackResult(box=np.array([0.0, 0, 5, 5]), score=1.0, mask=self.masks[i])


def _vot2020(tmp_path: Path) -> tuple[Path, SequenceIndex]:
    synth = open_dataset("synthetic", None, seed=3, num_sequences=2, length=20)
    root = write_vot(synth, tmp_path / "vot2020")
    for seq in synth:
        masks = [seq.read_mask(i) for i in range(len(seq))]
        masks[7] = np.zeros_like(masks[7])  # the target is absent on frame 7
        lines = [format_region(Mask.from_image(m)) for m in masks]
        (root / seq.name / "groundtruth.txt").write_text("\n".join(lines) + "\n")
        anchors = np.zeros(20, int)
        anchors[[0, 10]], anchors[19] = 1, -1
        np.savetxt(root / seq.name / "anchor.value", anchors, fmt="%d")
    return root, synth


def test_runner_writes_toolkit_layout_and_scores_a_perfect_mask_tracker(tmp_path: Path) -> None:
    root, synth = _vot2020(tmp_path)
    index = open_dataset("vot", root)
    seq = index[0]
    frames = [seq.read_frame(i) for i in range(20)]
    masks = [synth[0].read_mask(i) for i in range(20)]
    log: list = []
    one = SequenceIndex([seq])
    runs = run_vot_multistart(
        lambda: Replay(frames, masks, log), one, tmp_path / "m", progress=False
    )
    assert [(r.anchor, r.reverse) for r in runs[seq.name]] == [(0, False), (10, False), (19, True)]
    assert [seen for seen, _ in log] == [
        list(range(20)),
        list(range(10, 20)),
        list(range(19, -1, -1)),
    ]
    ys, xs = np.nonzero(masks[10])
    box = [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    np.testing.assert_array_equal(log[1][1], box)  # init on the mask's tight box
    files = sorted(p.name for p in (tmp_path / "m" / "baseline" / seq.name).iterdir())
    stems = [f"{seq.name}_{a:08d}" for a in (0, 10, 19)]
    assert files == sorted([f"{s}.txt" for s in stems] + [f"{s}_time.value" for s in stems])
    back = read_trajectory(tmp_path / "m" / "baseline" / seq.name / f"{stems[2]}.txt")
    assert back[0] == Special(1) and len(back) == 20
    assert back[1].offset == Mask.from_image(masks[18]).offset  # run order: 19, 18, ...
    rep = score_vot_multistart_folder(tmp_path / "m", one)
    # every frame scores 1 but the 3 init frames and frame 7 (a mask against the absent target)
    assert rep.value("accuracy") == pytest.approx((50 - 3 - 2) / 50)
    assert rep.value("robustness") == 1.0


def test_runner_shards_sequences_across_ranks(tmp_path: Path) -> None:
    root, _ = _vot2020(tmp_path)
    index = open_dataset("vot", root)
    frames = {s.name: [s.read_frame(i) for i in range(20)] for s in index}
    names = []
    for rank in (0, 1):
        shard = index.shard(rank, 2)
        fr = frames[shard[0].name]
        runs = run_vot_multistart(
            lambda fr=fr: Replay(fr, [np.zeros((240, 320), bool)] * 20, []),
            index,
            None,
            rank=rank,
            world_size=2,
            progress=False,
        )
        names += list(runs)
    assert sorted(names) == sorted(index.names)


class Flat:
    """Frame i is a flat 40 x 30 image of value i."""

    def frame(self, i: int) -> np.ndarray:
        return np.full((30, 40, 3), i, np.uint8)

    def mask(self, i: int) -> None:
        return None


class Soft(Tracker):
    """A mask tracker: probabilities .2 / .6 / .9 in three columns, thresholded at .5."""

    mask_threshold = 0.5

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        self.box = box

    def track(self, image: np.ndarray) -> TrackResult:
        prob = np.zeros((30, 40), np.float32)
        prob[4:8, 10], prob[4:8, 11], prob[4:8, 12] = 0.2, 0.6, 0.9
        return TrackResult(box=self.box, score=1.0, polygon=np.zeros(8), mask=prob)


def test_no_anchor_runs_from_frame_0_and_masks_are_thresholded(tmp_path: Path) -> None:
    seq = Sequence("s", [f"s{i}" for i in range(4)], np.tile(GT, (4, 1)), renderer=Flat())
    runs = run_vot_multistart(Soft, SequenceIndex([seq]), tmp_path, progress=False)
    (run,) = runs["s"]
    assert (run.anchor, run.reverse, len(run.regions)) == (0, False, 4)
    back = read_trajectory(tmp_path / "baseline" / "s" / "s_00000000.txt")
    assert back[1].offset == (11, 4) and back[1].mask.shape == (4, 2) and back[1].mask.all()
    boxes = run_vot_multistart(Soft, SequenceIndex([seq]), None, output="box", progress=False)
    np.testing.assert_array_equal(boxes["s"][0].regions[1], GT)
    write_regions(tmp_path / "baseline" / "s" / "s_00000000.txt", [Special(1)] * 3)
    with pytest.raises(DataError, match="3 regions for a run of 4 frames"):
        score_vot_multistart_folder(tmp_path, SequenceIndex([seq]))
