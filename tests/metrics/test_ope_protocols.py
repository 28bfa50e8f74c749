"""OPE protocol presets: hand-worked numbers for every convention where the toolkits differ."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from siamlightning.data.core.sequences import Sequence
from siamlightning.metrics.geometry import box_iou
from siamlightning.metrics.ope import (
    PROTOCOLS,
    OPESummaryMetric,
    get_protocol,
    ope_frame_details,
    ope_frame_errors,
    ope_sequence_curves,
    ope_sequence_stats,
    ope_targets,
)

GT = [10.0, 10.0, 20.0, 20.0]
HALF = [10.0, 10.0, 20.0, 10.0]  # IoU 0.5 with GT
FAR = [200.0, 200.0, 20.0, 20.0]
NAN = [np.nan] * 4


def _score(protocol: str, *seqs: dict) -> dict[str, torch.Tensor]:
    m = OPESummaryMetric(protocol)
    for k, s in enumerate(seqs):
        m.update(seq_id=k, **s)
    return m.compute()


def test_presets_and_keys() -> None:
    assert sorted(PROTOCOLS) == ["got10k", "lasot", "nfs", "otb", "pysot", "trackingnet", "uav"]
    with pytest.raises(
        ValueError, match=r"unknown OPE protocol 'vot'; known: otb, uav, nfs, lasot"
    ):
        get_protocol("vot")
    gt = np.tile(GT, (6, 1))
    pred = np.array([GT, HALF, FAR, GT, HALF, [12.0, 10, 20, 20]])
    otb = _score("otb", {"pred": pred, "gt": gt})
    for name in ("uav", "nfs"):  # the OTB-m rules under another name
        out = _score(name, {"pred": pred, "gt": gt})
        assert out.keys() == otb.keys()
        assert all(torch.equal(out[k], otb[k]) for k in otb)
    assert "norm_precision_20" not in otb and "ao" not in otb
    for name in ("lasot", "pysot", "trackingnet"):
        keys = _score(name, {"pred": pred, "gt": gt}).keys()
        assert {"success_auc", "precision_20", "norm_precision_20", "norm_precision_curve"} <= keys
    got = _score("got10k", {"pred": pred, "gt": gt})
    assert {"ao", "sr50", "sr75", "success_curve", "scored_frames"} <= got.keys()
    assert got["success_curve"].shape == (101,) and "success_auc" not in got


def test_lasot_absent_frames_removed_denominator_all_frames() -> None:
    gt = np.array([GT, GT, NAN, NAN, GT])  # frames 2, 3 absent (NaN, as the reader stores them)
    absent = np.array([0, 0, 1, 1, 0], bool)
    pred = np.array([GT, GT, FAR, FAR, GT])
    lasot = _score("lasot", {"pred": pred, "gt": gt, "absent": absent})
    # 3 scored frames with IoU 1 and CE 0, over 5 frames (not 3)
    assert lasot["success_curve"].tolist() == [3 / 5] * 20 + [0.0]
    assert lasot["precision_20"].item() == 3 / 5
    assert lasot["norm_precision_20"].item() == 3 / 5
    # the OTB rule instead scores the NaN GT frames: IoU -1 (fails), CE -1 (precise)
    otb = _score("otb", {"pred": pred, "gt": gt, "absent": absent})
    assert otb["success_curve"][0].item() == 3 / 5 and otb["precision_20"].item() == 1.0
    iou, ce, _ = ope_frame_errors(pred, gt, "lasot", absent=absent)
    assert iou.isnan().tolist() == [False, False, True, True, False]
    assert ce[[0, 1, 4]].tolist() == [0.0, 0.0, 0.0]


def test_lasot_repairs_bad_prediction_on_absent_frame() -> None:
    # LaSOT's absent GT rows are 0,0,0,0 (not NaN), so calc_seq_err_robust.m repairs a NaN
    # prediction there, and the next frame's NaN prediction takes that repaired box.
    b1 = [12.0, 10, 20, 20]
    gt = np.array([GT, GT, NAN, GT])
    pred = np.array([GT, b1, NAN, NAN])
    absent = np.array([0, 0, 1, 0], bool)
    e = ope_frame_details(pred, gt, "lasot", absent=absent)
    assert e.repaired.tolist() == [False, False, True, True]
    expected = box_iou(np.array(b1), np.array(GT)).item()
    assert e.iou[3].item() == expected and e.ce[3].item() == 2.0
    iou, _, repaired = ope_frame_errors(pred, gt, "otb")  # NaN GT: frame 2 stays NaN
    assert repaired.tolist() == [False, False, False, True] and iou[3].isnan()


def test_normalised_precision_value() -> None:
    gt = np.tile([10.0, 10.0, 20.0, 40.0], (5, 1))
    near = [12.0, 14.0, 20.0, 40.0]  # NCE = sqrt((2/20)^2 + (4/40)^2) = 0.1414
    far = [14.0, 14.0, 20.0, 40.0]  # NCE = sqrt((4/20)^2 + (4/40)^2) = 0.2236
    pred = np.array([gt[0], near, near, near, far])
    e = ope_frame_details(pred, gt, "lasot")
    assert e.nce[1:].tolist() == pytest.approx([0.02**0.5] * 3 + [0.05**0.5], abs=1e-12)
    for name in ("lasot", "pysot"):
        out = _score(name, {"pred": pred, "gt": gt})
        curve = out["norm_precision_curve"]
        assert curve[14].item() == 1 / 5 and curve[15].item() == 4 / 5  # 0.14 < 0.1414 <= 0.15
        assert curve[22].item() == 4 / 5 and curve[23].item() == 1.0
        assert out["norm_precision_20"].item() == 4 / 5  # the value at index 20 (0.20)
        assert out["precision_20"].item() == 1.0  # 4.47 px and 5.66 px


def test_pysot_frame0_not_overridden_and_invalid_rules() -> None:
    gt = np.tile(GT, (5, 1))
    pred = np.tile(HALF, (5, 1))
    pysot = _score("pysot", {"pred": pred, "gt": gt})
    assert pysot["success_curve"].tolist() == [1.0] * 10 + [0.0] * 11  # frame 0 too: IoU 0.5
    assert pysot["success_auc"].item() == 10 / 21
    otb = _score("otb", {"pred": pred, "gt": gt})
    assert otb["success_auc"].item() == pytest.approx(12 / 21, abs=1e-15)  # frame 0 := GT
    # x = 0 is a valid GT for pysot (IoU computed); a centre x + (w-1)/2 <= 0 voids the CE only
    gt2 = np.array([[0.0, 10, 20, 20], [-5.0, 10, 8, 20], [10.0, 10, 0, 20], NAN])
    pred2 = np.array([[0.0, 10, 20, 20], [-5.0, 10, 8, 20], [10.0, 10, 5, 20], GT])
    iou, ce, repaired = ope_frame_errors(pred2, gt2, "pysot")
    assert iou.tolist()[:3] == [1.0, 1.0, -1.0] and iou[3].item() == -1.0
    assert ce.tolist() == [0.0, -1.0, 0.0 + 2.5, -1.0] and not repaired.any()
    iou_otb, _, _ = ope_frame_errors(pred2, gt2, "otb")
    assert iou_otb.tolist()[:3] == [-1.0, -1.0, -1.0]  # x <= 0 or w <= 0: invalid for OTB-m


def test_pysot_absent_removed_with_full_denominator() -> None:
    gt = np.tile(GT, (4, 1))
    pred = np.array([GT, GT, FAR, GT])
    out = _score("pysot", {"pred": pred, "gt": gt, "absent": np.array([0, 0, 1, 0], bool)})
    assert out["success_curve"][0].item() == 3 / 4 and out["precision_20"].item() == 3 / 4


def test_trackingnet_rounding_and_trapz() -> None:
    gt = np.tile(GT, (4, 1))
    perfect = _score("trackingnet", {"pred": gt, "gt": gt})
    # success: IoU 1 fails only t = 1 -> trapz = 0.05 * (19 + 1/2) = 0.975 (devkit: 97.5)
    assert perfect["success_auc"].item() == pytest.approx(0.975, abs=1e-15)
    assert perfect["precision_20"].item() == pytest.approx(1.0, abs=1e-15)
    assert perfect["norm_precision_20"].item() == pytest.approx(1.0, abs=1e-15)
    # rounding (half to even: 10.5 -> 10, 11.5 -> 12) makes these predictions exact
    pred = np.array([[3.0, 3, 3, 3], [10.4, 9.6, 20.4, 19.5], [10.5, 9.5, 19.5, 20.5], GT])
    gt2 = np.array([[9.6, 10.4, 20.2, 19.8], GT, GT, [10.0, 11.5, 20.0, 20.0]])
    iou, ce, _ = ope_frame_errors(pred, gt2, "trackingnet")
    assert iou.tolist() == [1.0, 1.0, 1.0, 360 / 440] and ce.tolist() == [0.0, 0.0, 0.0, 2.0]
    iou_otb, _, _ = ope_frame_errors(pred, gt2, "otb")
    assert iou_otb[1].item() < 0.95
    # precision curve: frame 0 exact, frames 1..3 at CE 25 px: passes from t = 25 (index 10)
    pred3 = np.array([GT, [35.0, 10, 20, 20], [35.0, 10, 20, 20], [10.0, 35, 20, 20]])
    out = _score("trackingnet", {"pred": pred3, "gt": gt})
    assert out["precision_curve"].tolist() == [0.25] * 10 + [1.0] * 11
    # trapz: 0.05 * (sum - (first + last) / 2) = 0.05 * (2.5 + 11 - 0.625)
    assert out["precision_20"].item() == pytest.approx(0.64375, abs=1e-15)


def test_got10k_pooled_differs_from_per_sequence_mean() -> None:
    a = {"pred": np.tile(GT, (3, 1)), "gt": np.tile(GT, (3, 1))}  # 2 scored frames, IoU 1
    b = {"pred": np.tile(FAR, (5, 1)), "gt": np.tile(GT, (5, 1))}  # 4 scored frames, IoU 0
    out = _score("got10k", a, b)
    assert out["ao"].item() == 2 / 6  # frame-pooled; the per-sequence mean would be 0.5
    assert out["sr50"].item() == 2 / 6 and out["sr75"].item() == 2 / 6
    assert out["scored_frames"].item() == 6 and out["num_frames"].item() == 8
    assert out["success_curve"][100].item() == 0.0 and out["success_curve"][99].item() == 2 / 6
    # frame 0 is excluded even when wrong, and invisible (cover 0) frames are dropped
    b["pred"][0] = GT
    b["visible"] = np.array([1, 1, 0, 1, 1], bool)
    out = _score("got10k", a, b)
    assert out["ao"].item() == 2 / 5 and out["scored_frames"].item() == 5
    s = ope_sequence_stats(**a, protocol="got10k")
    assert (s.iou_sum, s.sr50, s.sr75, s.scored, s.denominator) == (2.0, 2, 2, 2, 2)


def test_got10k_image_bounded_iou() -> None:
    gt = np.array([GT, [80.0, 10, 20, 20], [0.0, 10, 30, 20]])
    pred = np.array([GT, [90.0, 10, 20, 20], [-10.0, 10, 30, 20]])
    free, _, _ = ope_frame_errors(pred, gt, "got10k")
    assert free[1:].tolist() == pytest.approx([1 / 3, 0.5], abs=1e-15)
    iou, _, _ = ope_frame_errors(pred, gt, "got10k", bound=(100, 100))
    assert iou[0].isnan()  # frame 0 excluded
    # the box leaving the right border is cut to w = 10: IoU 200 / 400; a box with x < 0 is
    # moved to x = 0 keeping its w (the toolkit's clip), so it matches the GT exactly
    assert iou[1:].tolist() == [0.5, 1.0]


def test_curves_and_targets_from_a_sequence() -> None:
    boxes = np.array([GT, GT, NAN, GT])
    seq = Sequence("s", ["a", "b", "c", "d"], boxes)
    seq.meta.update(width=64, height=48, cover=np.array([8, 8, 0, 3]))
    t = ope_targets(seq)
    assert t["bound"] == (64.0, 48.0) and t["visible"].tolist() == [True, True, False, True]
    assert t["absent"].tolist() == [False, False, True, False]
    curves = ope_sequence_curves(boxes, protocol="got10k", **t)
    assert curves.success[0].item() == 1.0 and curves.num_frames == 4
    m = OPESummaryMetric("lasot")
    m.update(boxes, **t, seq_id=seq.uid)
    assert m.compute()["success_curve"][0].item() == 3 / 4


def test_merged_states_deduplicate_and_match_single_run() -> None:
    rng = np.random.default_rng(0)
    seqs = []
    for k, n in enumerate((7, 12, 5)):
        gt = np.concatenate([rng.uniform(1, 60, (n, 2)), rng.uniform(4, 30, (n, 2))], axis=1)
        seqs.append((k, gt + rng.normal(0, 5, gt.shape), gt))
    for name in PROTOCOLS:
        single = OPESummaryMetric(name)
        for sid, pred, gt in seqs:
            single.update(pred, gt, seq_id=sid, bound=(70, 70))
        a, b = OPESummaryMetric(name), OPESummaryMetric(name)
        for sid, pred, gt in (seqs[2], seqs[0]):
            b.update(pred, gt, seq_id=sid, bound=(70, 70))
        a.update(*seqs[1][1:], seq_id=1, bound=(70, 70))
        a.update(*seqs[2][1:], seq_id=2, bound=(70, 70))  # a padded duplicate
        a.merge_state(b)
        expected, got = single.compute(), a.compute()
        assert got["num_sequences"].item() == 3
        for key, value in expected.items():
            assert torch.equal(got[key], value), (name, key)


# ----------------------------------------------------------------------------------- DDP

_PROTOS = ("got10k", "lasot", "trackingnet")


def _sequences() -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    out = []
    for k, n in enumerate((11, 4, 17)):
        gt = np.concatenate([rng.uniform(1, 60, (n, 2)), rng.uniform(4, 30, (n, 2))], axis=1)
        absent = rng.random(n) < 0.2
        absent[0] = False
        out.append((500 + k, gt + rng.normal(0, 4, gt.shape), gt, absent))
    return out


def _run(name: str, picks: list[int]) -> dict[str, torch.Tensor]:
    m = OPESummaryMetric(name)
    seqs = _sequences()
    for k in picks:
        sid, pred, gt, absent = seqs[k]
        m.update(pred, gt, seq_id=sid, absent=absent, visible=~absent, bound=(64, 64))
    return m.compute()


def _ddp_worker(rank: int, store: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        picks = [[0, 1], [2, 0]][rank]  # sequence 0 on both ranks (padding)
        outs = {name: _run(name, picks) for name in _PROTOS}
        torch.save(outs, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_sync_is_exact_for_pooled_and_absent_protocols(tmp_path: Path) -> None:
    mp.spawn(_ddp_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        outs = torch.load(tmp_path / f"rank{rank}.pt")
        for name in _PROTOS:
            expected = _run(name, [0, 1, 2])
            for key, value in expected.items():
                assert torch.equal(outs[name][key], value), (rank, name, key)
