"""Repeated OPE runs (GOT-10k's _001.._003) and per-attribute scores and plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_ope_runner import AUC_A, AUC_B, SEQ_A, SEQ_B, make_seq

from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.evaluation import run_ope, score_ope
from siamlightning.evaluation.log_report import flat_scalars
from siamlightning.evaluation.plots import ope_plots
from siamlightning.evaluation.result_files import SequenceResult, read_results, write_result
from siamlightning.tracking.base import StaticTracker, TrackResult


class Drifting(StaticTracker):
    """Static box shifted right by a per-instance offset: every new tracker is a new run."""

    instances = 0

    def init(self, image, box):
        type(self).instances += 1
        self.shift = 3.0 * (type(self).instances % 3)
        super().init(image, box)

    def track(self, image):
        out = super().track(image)
        b = np.asarray(out.box, dtype=np.float64).copy()
        b[0] += self.shift
        return TrackResult(box=b, score=out.score)


def _index() -> SequenceIndex:
    a, b = make_seq("a", SEQ_A), make_seq("b", SEQ_B)
    a.meta["attributes"] = ["OCC", "FM"]
    b.meta["attributes"] = ["FM"]
    return SequenceIndex([a, b], name="tiny")


def test_deterministic_tracker_keeps_one_run(tmp_path: Path) -> None:
    results = run_ope(StaticTracker, _index(), tmp_path, progress=False, repetitions=3,
                      layout="got10k")  # fmt: skip
    assert all(r.repeats == () for r in results.values())
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["a_001.txt", "a_time.txt"]
    rep = score_ope(results, _index())
    assert rep.value("num_runs") == 2 and rep.value("num_sequences") == 2
    assert rep.value("success_auc") == pytest.approx((AUC_A + AUC_B) / 2)


def test_stochastic_tracker_runs_three_times_and_pools_frames(tmp_path: Path) -> None:
    Drifting.instances = 0
    results = run_ope(Drifting, _index(), tmp_path, progress=False, repetitions=3,
                      layout="got10k")  # fmt: skip
    assert [len(r.runs) for r in results.values()] == [3, 3]
    assert (tmp_path / "b" / "b_003.txt").is_file()
    back = read_results(tmp_path, _index())
    for name, res in results.items():
        for mine, read in zip(res.runs, back[name].runs, strict=True):
            np.testing.assert_allclose(mine, read, atol=1e-4)
    got = score_ope(back, _index(), protocol="got10k")
    # got10k pools frames 1.. of every run of every sequence: the mean IoU, by hand
    ious = []
    for seq in _index():
        for boxes in back[seq.name].runs:
            g, p = seq.boxes[1:], boxes[1:]
            x1 = np.maximum(g[:, 0], p[:, 0])
            x2 = np.minimum(g[:, 0] + g[:, 2], p[:, 0] + p[:, 2])
            y1 = np.maximum(g[:, 1], p[:, 1])
            y2 = np.minimum(g[:, 1] + g[:, 3], p[:, 1] + p[:, 3])
            inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
            ious += list(inter / (g[:, 2] * g[:, 3] + p[:, 2] * p[:, 3] - inter))
    assert got.value("ao") == pytest.approx(np.mean(ious), abs=1e-6)
    assert got.value("num_runs") == 6 and got.sequences["a"]["num_runs"] == 3
    one_run = score_ope(read_results(tmp_path, _index(), repeats=False), _index(), "got10k")
    assert one_run.value("ao") != pytest.approx(got.value("ao"))


def test_otb_layout_refuses_repeated_runs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one run per sequence"):
        run_ope(StaticTracker, _index(), tmp_path, progress=False, repetitions=3)


def test_a_bad_second_run_file_names_the_file(tmp_path: Path) -> None:
    idx = _index()
    for seq in idx:
        write_result(tmp_path, seq.name, seq.boxes, layout="got10k")
    (tmp_path / "a" / "a_002.txt").write_text("1,2,3,4\n")
    with pytest.raises(ValueError, match=r"a_002\.txt"):
        read_results(tmp_path, idx)


def test_per_attribute_scores_plots_and_logged_scalars(tmp_path: Path) -> None:
    idx = _index()
    results = {s.name: SequenceResult(s.name, np.tile(s.boxes[:1], (len(s), 1)),
                                      np.zeros(len(s)), s.uid) for s in idx}  # fmt: skip
    rep = score_ope(results, idx)
    assert set(rep.attributes) == {"OCC", "FM"}
    assert rep.attributes["OCC"].get("success_auc") == pytest.approx(AUC_A)
    assert rep.attributes["OCC"].get("num_sequences") == 1
    assert rep.attributes["FM"].get("success_auc") == pytest.approx(rep.value("success_auc"))
    pngs = ope_plots({"tiny": {"static": rep}}, tmp_path / "plots")
    names = sorted(p.name for p in pngs)
    assert "tiny_OCC_success.png" in names and "tiny_FM_precision.png" in names
    assert all(p.stat().st_size > 1000 for p in pngs)
    flat = flat_scalars({"tiny": {"static": rep}})
    assert flat["eval/tiny/static/attr/OCC/success_auc"] == pytest.approx(AUC_A)
    json.dumps(flat)


def test_log_reports_sends_plots_and_sequence_tables_to_wandb(tmp_path: Path) -> None:
    from unittest import mock

    from lightning.pytorch.loggers import WandbLogger

    from siamlightning.evaluation.log_report import log_reports

    idx = _index()
    results = {s.name: SequenceResult(s.name, np.tile(s.boxes[:1], (len(s), 1)),
                                      np.zeros(len(s)), s.uid) for s in idx}  # fmt: skip
    reports = {"tiny": {"static": score_ope(results, idx)}}
    wandb = mock.create_autospec(WandbLogger, instance=True)
    plain = mock.Mock()
    pngs = ope_plots(reports, tmp_path)
    log_reports([wandb, plain], reports, pngs)
    for lg in (wandb, plain):
        (scalars,), _ = lg.log_metrics.call_args
        assert scalars["eval/tiny/static/success_auc"] == pytest.approx((AUC_A + AUC_B) / 2)
    assert not plain.log_image.called
    key, images = wandb.log_image.call_args.args
    assert key == "eval/plots" and len(images) == len(pngs) == 6
    key, columns, rows = wandb.log_table.call_args.args
    assert key == "eval/tiny/static/sequences" and columns[0] == "sequence"
    assert [r[0] for r in rows] == ["a", "b"] and "success_auc" in columns
