"""PairSampler: purity of draws, frame-range semantics, box filters, the mix, bind at scale."""

import time

import numpy as np
import pytest
import torch

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import FrameTable, Sequence, SequenceIndex
from siamlightning.data.pairs import augment
from siamlightning.data.pairs.datamodule import TrackingDataModule
from siamlightning.data.pairs.dataset import CropJitter, PairDataset
from siamlightning.data.pairs.sampling import (
    EpochKeySampler,
    PairSampler,
    usable_frames,
    usable_mask,
)
from siamlightning.errors import DataError


@pytest.fixture(scope="module")
def synth():
    return open_dataset("synthetic", None, seed=3, num_sequences=6, length=40)


def _dataset(index, **kw):
    return PairDataset(
        sources=[index],
        sampler=PairSampler(frame_range=20, neg_prob=0.2),
        augment_z=augment.Photometric(color="pca"),
        augment_x=augment.Photometric(color="jitter", blur_prob=0.5),
        **kw,
    )


def _seq(name, boxes, **kw):
    boxes = np.asarray(boxes, dtype=np.float64)
    return Sequence(
        name=name, frames=[f"{name}/{i}.jpg" for i in range(len(boxes))], boxes=boxes, **kw
    )


def test_sample_is_pure_function_of_key(synth):
    a, b = _dataset(synth, seed=1), _dataset(synth, seed=1)
    for key in [(0, 0, 5), (2, 1, 7)]:
        sa, sb = a[key], b[key]
        assert sa.keys() == sb.keys() and sa["skip_note"] == sb["skip_note"] == ""
        for k in sa:
            if k != "skip_note":
                assert torch.equal(sa[k], sb[k]), k
    # order of access does not matter (no hidden state)
    first = a[(0, 0, 3)]["search"]
    a[(0, 0, 4)]
    assert torch.equal(a[(0, 0, 3)]["search"], first)


def test_ranks_epochs_and_seeds_draw_different_pairs(synth):
    ds = _dataset(synth, seed=1)
    r0 = torch.stack([ds[(0, 0, i)]["search"] for i in range(6)])
    r1 = torch.stack([ds[(0, 1, i)]["search"] for i in range(6)])
    e1 = torch.stack([ds[(1, 0, i)]["search"] for i in range(6)])
    s2 = torch.stack([_dataset(synth, seed=2)[(0, 0, i)]["search"] for i in range(6)])
    for other in (r1, e1, s2):
        assert not any(torch.equal(r0[i], other[j]) for i in range(6) for j in range(6))


def test_binding_leaves_the_sampler_as_hydra_built_it():
    sampler = PairSampler(frame_range=20, neg_prob=0.2)
    before = repr(vars(sampler))
    dm = TrackingDataModule(
        train_sources=[{"name": "synthetic", "options": {"num_sequences": 3, "length": 12}}],
        val_sources=[{"name": "synthetic", "options": {"seed": 5, "num_sequences": 2}}],
        sampler=sampler,
        num_workers=0,
    )
    dm.setup("fit")
    assert dm.sampler is sampler and repr(vars(sampler)) == before
    assert dm.train_set.pairs.sampler is sampler and len(dm.train_set.pairs.summary) == 1


def test_one_sampler_binds_two_datasets_independently(synth):
    other = open_dataset("synthetic", None, seed=4, num_sequences=2, length=10)
    shared = PairSampler(frame_range=20, neg_prob=0.2)
    a = PairDataset(sources=[synth], sampler=shared)
    PairDataset(sources=[other], sampler=shared)  # binding again does not rebind ``a``
    alone = PairDataset(sources=[synth], sampler=PairSampler(frame_range=20, neg_prob=0.2))
    keys = [(0, 0, i) for i in range(20)]
    assert [a.spec(k) for k in keys] == [alone.spec(k) for k in keys]


def test_key_sampler_follows_epoch_and_rank():
    s = EpochKeySampler(4, rank=1)
    assert list(s) == [(0, 1, 0), (0, 1, 1), (0, 1, 2), (0, 1, 3)]
    s.set_epoch(3)
    assert next(iter(s)) == (3, 1, 0)
    assert len(s) == 4


def test_target_is_centred_without_jitter(synth):
    ds = PairDataset(
        sources=[synth],
        sampler=PairSampler(),
        template_jitter=CropJitter(),
        search_jitter=CropJitter(),
    )
    box = ds[(0, 0, 0)]["search_box"].numpy()
    assert box[0] + box[2] / 2 == pytest.approx(119.5, abs=1e-3)
    assert box[1] + box[3] / 2 == pytest.approx(119.5, abs=1e-3)


def test_frame_range_in_frames_and_in_positions():
    # usable frames 0..9 and 50..59 (the gap is unannotated): 20 usable frames in 60
    boxes = np.full((60, 4), np.nan)
    boxes[:10] = boxes[50:] = [10, 10, 20, 20]
    index = SequenceIndex([_seq("gap", boxes)])
    rng = np.random.default_rng(0)
    frames = PairSampler(frame_range=5).bind([index])
    gaps = [abs(p.x[2] - p.z[2]) for p in (frames.sample(rng) for _ in range(2000))]
    assert max(gaps) == 5
    positions = PairSampler(frame_range=5, range_unit="positions").bind([index])
    pairs = [positions.sample(rng) for _ in range(4000)]
    usable = list(range(10)) + list(range(50, 60))
    pos = [(usable.index(p.z[2]), usable.index(p.x[2])) for p in pairs]
    assert max(abs(a - b) for a, b in pos) == 5  # pysot: +-5 positions in the usable list
    assert any(abs(p.x[2] - p.z[2]) > 5 for p in pairs)  # ... which crosses the gap
    assert any(p.x == p.z for p in pairs)  # the search may be the template frame


def test_box_filters_follow_siamfc_rules():
    boxes = np.array(
        [
            [0, 0, 10, 10],  # ok
            [0, 0, 0, 10],  # zero width
            [0, 0, 100, 5],  # aspect 20
            [np.nan] * 4,  # absent
            [1, 1, 8, 8.0],  # low visibility
            [0, 0, 600, 400],  # larger than max_size
            [0, 0, 2, 3],  # too small
            [-50, 10, 20, 20],  # centre outside the image
            [0, 0, 90, 20],  # wider than half the image
            [0, 0, -10, 10],  # negative width
        ],
        dtype=float,
    )
    vis = np.isfinite(boxes).all(axis=1)
    ratio = np.array([1, 1, 1, 0, 0.2, 1, 1, 1, 1, 1.0])
    size = np.tile([160.0, 120.0], (len(boxes), 1))
    ok, counts = usable_mask(
        boxes, vis, min_size=4, max_size=500, max_aspect=8, visible_ratio=ratio,
        image_size=size, min_rel_size=0.01, max_rel_size=0.5,
    )  # fmt: skip
    assert np.flatnonzero(ok).tolist() == [0]
    assert counts == {
        "not_visible": 3, "too_small": 1, "too_large": 1, "aspect": 1, "low_visibility": 1,
        "relative_size": 3, "outside_image": 2,  # a box may fail several rules
    }  # fmt: skip
    assert usable_frames(boxes, vis, min_size=4, max_aspect=8, visible_ratio=ratio).tolist() == [
        0, 5, 7, 8,
    ]  # fmt: skip


def _sources(n_seqs=(10, 20, 30)):
    box = [10.0, 10.0, 20.0, 20.0]
    return [
        SequenceIndex([_seq(f"s{k}_{j}", [box] * 5) for j in range(n)], name=f"src{k}")
        for k, n in enumerate(n_seqs)
    ]


def test_mix_weights_num_use_and_empty_sources():
    p = PairSampler()
    s = p.bind(_sources(), [0.5, 0.3, 0.2])
    np.testing.assert_allclose(s.probabilities, [0.5, 0.3, 0.2])
    s = p.bind(_sources(), num_use=[-1, 100, None])  # pysot: NUM_USE, -1 (and None) = all sequences
    np.testing.assert_allclose(s.probabilities, np.array([10, 100, 30]) / 140)
    s = p.bind(_sources(), [2.0, 1.0, 1.0], num_use=[10, 10, 20])
    np.testing.assert_allclose(s.probabilities, [0.4, 0.2, 0.4])
    empty = SequenceIndex([_seq("bad", [[0, 0, 0, 0.0]] * 3)], name="bad")
    s = p.bind([*_sources((4,)), empty], [1.0, 5.0])
    np.testing.assert_allclose(s.probabilities, [1.0, 0.0])
    assert s.summary[1]["empty_sequences"] == 1 and s.summary[1]["dropped"]["not_visible"] == 3
    with pytest.raises(ValueError, match="no source"):
        p.bind([empty])
    rng = np.random.default_rng(1)
    s = p.bind(_sources(), [0.5, 0.3, 0.2])
    counts = np.bincount([s.sample(rng).z[0] for _ in range(20000)], minlength=3) / 20000
    np.testing.assert_allclose(counts, [0.5, 0.3, 0.2], atol=4 * np.sqrt(0.25 / 20000))


def test_per_source_frame_range_and_negative_pairs():
    long = [
        SequenceIndex([_seq(f"{k}{j}", [[5.0, 5.0, 10.0, 10.0]] * 200) for j in range(3)])
        for k in "ab"
    ]
    s = PairSampler(frame_range=50, neg_prob=0.25).bind(long, frame_ranges=[None, 2])
    rng = np.random.default_rng(2)
    pairs = [s.sample(rng) for _ in range(4000)]
    neg = [p for p in pairs if p.negative]
    assert abs(len(neg) / len(pairs) - 0.25) < 0.03
    assert all(p.z[:2] != p.x[:2] for p in neg)
    pos = [p for p in pairs if not p.negative]
    assert max(abs(p.x[2] - p.z[2]) for p in pos if p.z[0] == 0) == 50
    assert max(abs(p.x[2] - p.z[2]) for p in pos if p.z[0] == 1) == 2


class _BigIndex:
    """A FrameTable-only index: 10k sequences, 1.5M frames (what a compact cached index gives)."""

    name = "big"

    def __init__(self):
        rng = np.random.default_rng(0)
        lens = rng.integers(50, 250, 10_000)
        lens[-1] += 1_500_000 - lens.sum()
        n = int(lens.sum())
        boxes = np.column_stack([rng.uniform(0, 600, (n, 2)), rng.uniform(1, 300, (n, 2))])
        boxes[rng.random(n) < 0.05] = np.nan
        self.table = FrameTable(
            np.concatenate([[0], np.cumsum(lens)]), boxes, np.isfinite(boxes[:, 0]),
            rng.random(n).astype(np.float32),
        )  # fmt: skip

    def frame_table(self):
        return self.table


def test_bind_is_vectorised_over_a_million_frames():
    big = _BigIndex()
    p = PairSampler(min_size=20, max_aspect=4)
    t0 = time.perf_counter()
    s = p.bind([big])
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.5, f"bind took {elapsed:.2f} s for 1.5M frames"
    info = s.summary[0]
    assert info["frames"] == 1_500_000 and 0 < info["usable_frames"] < 1_500_000
    p = s.sample(np.random.default_rng(0))
    assert s.box(*p.z)[2] >= 20


class _Broken:
    """Renderer whose odd frames cannot be read."""

    def frame(self, i):
        if i % 2:
            raise DataError("corrupt JPEG", path=f"/data/seq/{i:04d}.jpg")
        return np.full((60, 80, 3), 90, np.uint8)

    def mask(self, i):
        return None


def test_unreadable_frames_are_skipped_and_counted(caplog):
    n = 10
    seq = _seq("broken", np.tile([20.0, 20.0, 20.0, 16.0], (n, 1)), renderer=_Broken())
    ds = PairDataset(sources=[SequenceIndex([seq])], sampler=PairSampler(frame_range=3))
    samples = [ds[(0, 0, i)] for i in range(20)]
    assert sum(int(s["skipped"]) for s in samples) > 0
    notes = [s["skip_note"] for s in samples if s["skipped"]]
    assert all("corrupt JPEG" in n and "/data/seq/" in n for n in notes)
    assert "corrupt JPEG" in caplog.text


class _AllBroken(_Broken):
    def frame(self, i):
        raise DataError("missing frame", path=f"/data/seq/{i:04d}.jpg")


def test_all_frames_broken_raises_clear_error():
    seq = _seq("dead", np.tile([20.0, 20.0, 20.0, 16.0], (4, 1)), renderer=_AllBroken())
    ds = PairDataset(sources=[SequenceIndex([seq])], sampler=PairSampler(), max_retries=3)
    with pytest.raises(DataError, match=r"consecutive training pairs.*missing frame"):
        ds[(0, 0, 0)]
