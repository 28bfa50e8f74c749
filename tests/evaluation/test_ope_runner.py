"""OPE runner, scoring and reports on tiny in-memory sequences with the static-box tracker."""

from __future__ import annotations

import itertools
import json
import os
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError
from siamlightning.evaluation import (
    format_table,
    read_ope_result,
    read_ope_results,
    read_times,
    run_ope,
    score_ope,
    write_metrics_json,
)
from siamlightning.evaluation import ope as ope_module
from siamlightning.tracking.base import StaticTracker


class Blank:
    """In-memory renderer: grey 48x64 frames, no masks."""

    def frame(self, i: int) -> np.ndarray:
        return np.full((48, 64, 3), 128, dtype=np.uint8)

    def mask(self, i: int) -> None:
        return None


def make_seq(name: str, boxes: list[list[float]]) -> Sequence:
    frames = [f"synthetic://{name}/{i}" for i in range(len(boxes))]
    return Sequence(name=name, frames=frames, boxes=np.array(boxes, float), renderer=Blank())


# Static tracker keeps (10, 10, 10, 10). "a": IoU 1, 1, 1/3, 0 and CE 0, 0, 5, 28.3.
SEQ_A = [[10, 10, 10, 10], [10, 10, 10, 10], [15, 10, 10, 10], [30, 30, 10, 10]]
SEQ_B = [[5, 5, 8, 8]] * 3  # static target: perfect
AUC_A = (7 * 0.75 + 13 * 0.5) / 21  # IoU 1/3 passes t = 0 .. 0.30 (7 thresholds)
AUC_B = 20 / 21


@pytest.fixture
def index() -> SequenceIndex:
    return SequenceIndex([make_seq("a", SEQ_A), make_seq("b", SEQ_B)], name="tiny")


def test_run_ope_writes_files_and_scores(index: SequenceIndex, tmp_path: Path) -> None:
    results = run_ope(StaticTracker, index, tmp_path / "static", progress=False)
    assert list(results) == ["a", "b"]
    a = results["a"]
    assert a.uid == index["a"].uid and a.times.shape == (4,)
    assert a.boxes.tolist() == [[10, 10, 10, 10]] * 4
    on_disk = read_ope_result(tmp_path / "static" / "a.txt", expected_len=4)
    np.testing.assert_array_equal(on_disk, a.boxes)
    assert read_times(tmp_path / "static" / "times" / "b_time.txt").shape == (3,)

    report = score_ope(results, index)
    overall = report.to_json()["overall"]
    assert report.protocol == "otb"
    assert overall["success_auc"] == pytest.approx((AUC_A + AUC_B) / 2, abs=1e-15)
    assert overall["precision_20"] == (0.75 + 1.0) / 2
    assert overall["num_sequences"] == 2 and overall["num_frames"] == 7
    assert overall["repaired_frames"] == 0
    assert len(overall["success_curve"]) == 21 and len(overall["precision_curve"]) == 51
    assert report.sequences["a"]["success_auc"] == pytest.approx(AUC_A, abs=1e-15)
    assert report.sequences["a"]["precision_20"] == 0.75
    assert report.sequences["b"]["success_auc"] == AUC_B
    assert report.fps == overall["fps"] > 0

    # scoring the files on disk gives the same numbers
    again = score_ope(read_ope_results(tmp_path / "static", index), index)
    assert again.value("success_auc") == overall["success_auc"]


def test_times_wrap_tracker_calls_only(index: SequenceIndex, monkeypatch) -> None:
    clock = itertools.count(step=0.5)  # every perf_counter() call advances 0.5 s
    monkeypatch.setattr(ope_module.time, "perf_counter", lambda: next(clock))
    results = run_ope(StaticTracker, index, None, progress=False)
    monkeypatch.undo()
    assert results["a"].times.tolist() == [0.5] * 4
    assert results["a"].fps == 2.0  # frames 1..3 over 1.5 s
    assert score_ope(results, index).fps == 2.0  # 5 tracked frames over 2.5 s


def test_sharding_covers_every_sequence_once(index: SequenceIndex, tmp_path: Path) -> None:
    r0 = run_ope(StaticTracker, index, tmp_path, rank=0, world_size=2, progress=False)
    r1 = run_ope(StaticTracker, index, tmp_path, rank=1, world_size=2, progress=False)
    assert sorted([*r0, *r1]) == ["a", "b"] and not set(r0) & set(r1)
    merged = score_ope({**r0, **r1}, index)
    assert merged.value("num_sequences") == 2
    partial = score_ope(r1, index)  # only what it is given
    assert partial.value("num_sequences") == 1


def test_invalid_frame0_gt_raises(tmp_path: Path) -> None:
    bad = SequenceIndex([make_seq("ghost", [[np.nan] * 4, [1, 1, 5, 5]])])
    with pytest.raises(DataError, match="sequence 'ghost': frame 0 ground truth"):
        run_ope(StaticTracker, bad, tmp_path, progress=False)


def test_score_errors(index: SequenceIndex) -> None:
    results = run_ope(StaticTracker, index, None, progress=False)
    results["a"].boxes = results["a"].boxes[:3]
    with pytest.raises(ValueError, match="sequence 'a': 3 predicted boxes for 4 ground-truth"):
        score_ope(results, index)
    with pytest.raises(ValueError, match="known: otb"):
        score_ope(results, index, protocol="vot")


def test_metrics_json_and_table(index: SequenceIndex, tmp_path: Path) -> None:
    report = score_ope(run_ope(StaticTracker, index, None, progress=False), index)
    report = replace(report, fps=float("nan"))
    write_metrics_json(tmp_path / "out" / "metrics.json", {"tiny": {"static": report}})
    loaded = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert loaded["tiny"]["static"]["overall"]["fps"] is None
    assert loaded["tiny"]["static"]["overall"]["num_sequences"] == 2
    rows = {"tiny/static": {**report.scalars(), "sequences": 2}, "tiny/other": {}}
    table = format_table(rows, columns=["success_auc", "precision_20", "fps", "sequences"])
    lines = table.splitlines()
    assert lines[0].split() == ["name", "success_auc", "precision_20", "fps", "sequences"]
    assert lines[2].split() == ["tiny/static", f"{(AUC_A + AUC_B) / 2:.3f}", "0.875", "-", "2"]
    assert lines[3].split() == ["tiny/other", "-", "-", "-", "-"]
    assert len({len(line) for line in lines[:3]}) == 1  # fixed width


def _tiny_index() -> SequenceIndex:
    seqs = [make_seq("a", SEQ_A), make_seq("b", SEQ_B), make_seq("c", SEQ_A[::-1])]
    return SequenceIndex(seqs, name="tiny")


def _ddp_worker(rank: int, store: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        index = _tiny_index()
        local = run_ope(StaticTracker, index, None, rank=rank, world_size=2, progress=False)
        report = score_ope(local, index, gather=True)
        torch.save((sorted(local), report), os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_score_gathers_all_ranks(tmp_path: Path) -> None:
    mp.spawn(_ddp_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    index = _tiny_index()
    expected = score_ope(run_ope(StaticTracker, index, None, progress=False), index)
    names = []
    for rank in (0, 1):
        local, report = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        names += local
        for key in ("success_auc", "precision_20", "num_sequences", "success_curve"):
            assert report.to_json()["overall"][key] == expected.to_json()["overall"][key], (
                rank,
                key,
            )
        assert sorted(report.sequences) == ["a", "b", "c"]
    assert sorted(names) == ["a", "b", "c"]  # each rank tracked only its shard
