"""Lockstep evaluation (``evaluate.batch_sequences``): jobs join and leave, results equal the
sequential runners' for OPE, VOT reset and VOS, with the DDP shards and the result files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamlightning.data import open_dataset
from siamlightning.errors import ConfigError
from siamlightning.evaluation.benchmarks import (
    check_batch_sequences,
    open_benchmark,
    run_benchmark,
)
from siamlightning.evaluation.lockstep import run_job, run_lockstep
from siamlightning.evaluation.ope import run_ope
from siamlightning.evaluation.vot_reset_runner import run_vot
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.models.siamfc import SiamFCNet
from siamlightning.tracking.base import Tracker, TrackResult
from siamlightning.tracking.siamfc import SiamFCTracker


class Counter(Tracker):
    """Returns its call count as the box's x: shows which frame each request was."""

    n = 0

    def init(self, image, box):
        self.n = 0

    def track(self, image):
        self.n += 1
        return TrackResult(box=np.array([self.n, 0.0, 1.0, 1.0]), score=float(image[0, 0, 0]))


def _job(name: str, length: int, log: list):
    t = Counter()
    t.init(None, None)
    got = []
    for i in range(length):
        log.append((name, i))
        ((res, seconds),) = yield [(t, np.full((4, 4, 3), i, np.uint8))]
        assert seconds >= 0
        got.append((res.box[0], res.score))
    return got


def test_jobs_join_and_leave_in_lockstep():
    log: list = []
    lengths = {"a": 3, "b": 1, "c": 0, "d": 2}
    jobs = ((k, _job(k, n, log)) for k, n in lengths.items())
    done = dict(run_lockstep(jobs, batch=2))
    assert done == {k: [(i + 1, float(i)) for i in range(n)] for k, n in lengths.items()}
    # a and b start together; b leaves after one frame, c (no frame) and then d join
    assert log[:2] == [("a", 0), ("b", 0)] and log[2:4] == [("a", 1), ("d", 0)]
    sequential = dict(run_lockstep(((k, _job(k, n, [])) for k, n in lengths.items()), batch=1))
    assert sequential == done
    assert run_job(_job("x", 2, [])) == [(1, 0.0), (2, 1.0)]


def test_an_error_inside_a_job_reaches_the_caller():
    def bad():
        yield [(Counter(), np.zeros((2, 2, 3), np.uint8))]
        raise ValueError("frame 3 of seq is broken")

    with pytest.raises(ValueError, match="frame 3 of seq"):
        dict(run_lockstep([("s", bad())], batch=4))


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", None, True])
def test_bad_batch_sequences_is_a_config_error(value):
    with pytest.raises(ConfigError, match=r"evaluate\.batch_sequences must be a whole number"):
        check_batch_sequences(value)
    assert check_batch_sequences("4") == 4 and check_batch_sequences(2.0) == 2


@pytest.fixture(scope="module")
def factory():
    torch.manual_seed(0)
    net = SiamFCNet(backbone=SiamFCAlexNet(width=0.125)).eval()
    return lambda: SiamFCTracker(net=net, search_size=199)


def _close(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_allclose(a, b, atol=1e-3, rtol=0)


def test_ope_batched_equals_sequential_with_files_and_shards(factory, tmp_path):
    index = open_dataset("synthetic", None, seed=21, num_sequences=5, length=6)
    one = run_ope(factory, index, tmp_path / "k1", progress=False)
    many = run_ope(factory, index, tmp_path / "k3", progress=False, batch_sequences=3)
    assert list(many) == list(one) == list(index.names)  # the shard's order
    for name in index.names:
        _close(many[name].boxes, one[name].boxes)
        a = np.loadtxt(tmp_path / "k1" / f"{name}.txt", delimiter=",")
        b = np.loadtxt(tmp_path / "k3" / f"{name}.txt", delimiter=",")
        _close(a, b)
        assert np.isfinite(many[name].times).all()
    # DDP: each rank drives its own shard in lockstep; together they are the whole benchmark
    shards = [
        run_ope(factory, index, None, rank=r, world_size=2, progress=False, batch_sequences=2)
        for r in range(2)
    ]
    assert sorted(shards[0]) + sorted(shards[1]) != [] and not set(shards[0]) & set(shards[1])
    for shard in shards:
        for name, res in shard.items():
            _close(res.boxes, one[name].boxes)
    assert set(shards[0]) | set(shards[1]) == set(index.names)


def test_ope_repetitions_batched(factory, tmp_path):
    index = open_dataset("synthetic", None, seed=22, num_sequences=3, length=4)
    one = run_ope(factory, index, None, progress=False, repetitions=3)
    many = run_ope(
        factory, index, tmp_path, progress=False, repetitions=3, batch_sequences=2, layout="got10k"
    )
    for name in index.names:  # deterministic: run 2 equals run 1, the rest skipped
        assert len(many[name].runs) == len(one[name].runs) == 1
        assert (tmp_path / name / f"{name}_001.txt").is_file()


class Drifting(SiamFCTracker):
    """SiamFC whose 3rd box after each init is far off: it fails and is re-initialised."""

    def init(self, image, box):
        super().init(image, box)
        self.frames = 0

    def finish(self, step, outputs):
        res = super().finish(step, outputs)
        self.frames += 1
        if self.frames == 3:
            res.box = res.box + np.array([1000.0, 0.0, 0.0, 0.0])
        return res


def test_vot_reset_batched_equals_sequential(factory):
    index = open_dataset("synthetic", None, seed=23, num_sequences=3, length=14)
    kw = {"repetitions": 2, "deterministic_runs": 2, "progress": False}
    net = factory().net
    drifting = lambda: Drifting(net=net, search_size=199)  # noqa: E731
    one = run_vot(drifting, index, None, **kw)
    many = run_vot(drifting, index, None, batch_sequences=3, **kw)
    assert list(many) == list(one)
    failures = 0
    for name in one:
        assert len(many[name]) == len(one[name])
        for ra, rb in zip(one[name], many[name], strict=True):
            for a, b in zip(ra.regions, rb.regions, strict=True):
                assert type(a) is type(b)
                if isinstance(a, np.ndarray):
                    _close(a, b)
                else:
                    failures += a.code == 2
    assert failures > 0  # an untrained net fails: re-initialisation ran inside the lockstep


def test_vos_batched_equals_sequential(factory, tmp_path):
    spec = {
        "name": "synthetic_vos",
        "source": "synthetic",
        "root": None,
        "options": {"seed": 24, "num_sequences": 3, "length": 5, "width": 160, "height": 120},
        "kind": "vos",
        "protocol": "davis2016",
        "layout": "davis",
    }
    index = open_benchmark(spec)
    out = {
        k: run_benchmark(
            {"t": factory}, index, spec, tmp_path / f"k{k}", progress=False, batch_sequences=k
        )["t"]
        for k in (1, 2)
    }
    for name in ("jf_mean", "j_mean", "f_mean"):
        assert abs(out[1].value(name) - out[2].value(name)) < 1e-3
    pngs = sorted((tmp_path / "k1").rglob("*.png"))
    assert len(pngs) == 15
    differ = [
        p
        for p in pngs
        if p.read_bytes() != (tmp_path / "k2" / p.relative_to(tmp_path / "k1")).read_bytes()
    ]
    assert not differ, differ


def test_several_requests_per_job_step():
    """A VOS video with two objects asks for two tracks per frame: both in the same batch."""

    def two(log):
        a, b = Counter(), Counter()
        a.init(None, None), b.init(None, None)
        image = np.zeros((2, 2, 3), np.uint8)
        for _ in range(2):
            replies = yield [(a, image), (b, image)]
            log.append([r.box[0] for r, _ in replies])
        return "done"

    log: list = []
    assert dict(run_lockstep([("v", two(log)), ("w", _job("w", 1, []))], batch=2)) == {
        "v": "done",
        "w": [(1, 0.0)],
    }
    assert log == [[1, 1], [2, 2]]
