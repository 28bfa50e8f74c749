import numpy as np
import pytest
import torch

from siamlightning.data import augment, open_dataset
from siamlightning.data.pairs import PairDataset
from siamlightning.data.sampling import EpochKeySampler, PairSampler, usable_frames
from siamlightning.data.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError


@pytest.fixture(scope="module")
def synth():
    return open_dataset("synthetic", None, seed=3, num_sequences=6, length=40)


def _dataset(index, **kw):
    return PairDataset(
        sources=[index],
        sampler=PairSampler(frame_range=20, neg_prob=0.2),
        augment_z=augment.photometric(),
        augment_x=augment.photometric(),
        **kw,
    )


def test_sample_is_pure_function_of_key(synth):
    a, b = _dataset(synth, seed=1), _dataset(synth, seed=1)
    for key in [(0, 0, 5), (2, 1, 7)]:
        sa, sb = a[key], b[key]
        for k in sa:
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


def test_key_sampler_follows_epoch_and_rank():
    s = EpochKeySampler(4, rank=1)
    assert list(s) == [(0, 1, 0), (0, 1, 1), (0, 1, 2), (0, 1, 3)]
    s.set_epoch(3)
    assert next(iter(s)) == (3, 1, 0)
    assert len(s) == 4


def test_pairs_respect_frame_range_and_target_is_centred(synth):
    sampler = PairSampler(frame_range=5)
    sampler.bind([synth])
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = sampler.sample(rng)
        assert p.z[:2] == p.x[:2] and abs(p.z[2] - p.x[2]) <= 5
    ds = PairDataset(
        sources=[synth],
        sampler=PairSampler(),
        template_jitter=augment_free(),
        search_jitter=augment_free(),
    )
    box = ds[(0, 0, 0)]["search_box"].numpy()
    assert box[0] + box[2] / 2 == pytest.approx(119.5, abs=1e-3)
    assert box[1] + box[3] / 2 == pytest.approx(119.5, abs=1e-3)


def augment_free():
    from siamlightning.data.pairs import CropJitter

    return CropJitter(0.0, 0.0)


def test_usable_frames_filters_bad_boxes():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 0, 10], [0, 0, 100, 5], [np.nan] * 4, [1, 1, 8, 8.0]])
    vis = np.array([True, True, True, False, True])
    ratio = np.array([1.0, 1, 1, 0, 0.2])
    assert usable_frames(boxes, vis, min_size=4, max_aspect=8, visible_ratio=ratio).tolist() == [0]


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
    seq = Sequence(
        name="broken",
        frames=[f"f{i}" for i in range(n)],
        boxes=np.tile([20.0, 20.0, 20.0, 16.0], (n, 1)),
        renderer=_Broken(),
    )
    ds = PairDataset(sources=[SequenceIndex([seq])], sampler=PairSampler(frame_range=3))
    skipped = sum(int(ds[(0, 0, i)]["skipped"]) for i in range(20))
    assert skipped > 0
    assert "corrupt JPEG" in caplog.text


def test_all_frames_broken_raises_clear_error():
    n = 4
    seq = Sequence(
        name="dead",
        frames=[f"f{i}" for i in range(n)],
        boxes=np.tile([20.0, 20.0, 20.0, 16.0], (n, 1)),
        renderer=_AllBroken(),
    )
    ds = PairDataset(sources=[SequenceIndex([seq])], sampler=PairSampler(), max_retries=3)
    with pytest.raises(DataError, match="consecutive training pairs"):
        ds[(0, 0, 0)]


class _AllBroken(_Broken):
    def frame(self, i):
        raise DataError("missing frame", path=f"/data/seq/{i:04d}.jpg")
