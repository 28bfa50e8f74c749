"""OPE metrics (OTB protocol): hand-worked curves, OTB-m rules, and DDP sync with uneven ranks."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from siamlightning.metrics import (
    OPESummaryMetric,
    Precision,
    PrecisionCurve,
    SuccessAUC,
    SuccessCurve,
    box_iou,
    get_protocol,
    ope_frame_errors,
    ope_sequence_curves,
)

GT = [10.0, 10.0, 20.0, 20.0]
HALF = [10.0, 10.0, 20.0, 10.0]  # IoU 0.5 with GT, centre 5 px away


def test_perfect_tracker() -> None:
    gt = np.tile(GT, (7, 1))
    m = OPESummaryMetric()
    m.update(gt, gt, seq_id=1)
    out = m.compute()
    assert out["success_auc"].item() == 20 / 21
    assert out["precision_20"].item() == 1.0
    assert out["success_curve"].tolist() == [1.0] * 20 + [0.0]
    assert out["precision_curve"].tolist() == [1.0] * 51
    assert out["num_sequences"].item() == 1 and out["num_frames"].item() == 7
    assert out["repaired_frames"].item() == 0


def test_constant_half_iou_and_frame0_override() -> None:
    gt = np.tile(GT, (5, 1))
    pred = np.tile(HALF, (5, 1))  # frame 0 too, but it is replaced by the GT
    succ, prec, repaired, n = ope_sequence_curves(pred, gt)
    # frame 0: IoU 1; frames 1..4: IoU 0.5 (fails t = 0.5: strict >)
    assert succ.tolist() == [1.0] * 10 + [0.2] * 10 + [0.0]
    # frame 0: CE 0; frames 1..4: CE 5 (<= t from t = 5)
    assert prec.tolist() == [0.2] * 5 + [1.0] * 46
    assert (repaired, n) == (0, 5)
    m = SuccessAUC()
    m.update(pred, gt)
    assert m.compute().item() == pytest.approx((10 + 0.2 * 10) / 21, abs=1e-15)


def test_averaged_per_sequence_not_per_frame() -> None:
    m = OPESummaryMetric()
    m.update(np.tile(GT, (2, 1)), np.tile(GT, (2, 1)), seq_id=1)  # curve[10] (t=0.5) = 1
    far = np.tile([100.0, 100.0, 20.0, 20.0], (8, 1))
    m.update(far, np.tile(GT, (8, 1)), seq_id=2)  # frame 0 only: curve[10] = 1/8
    out = m.compute()
    assert out["success_curve"][10].item() == (1.0 + 1 / 8) / 2  # per frame would give 0.3
    assert out["num_sequences"].item() == 2 and out["num_frames"].item() == 10


def test_invalid_gt_fails_success_and_passes_precision() -> None:
    gt = np.array([GT, [np.nan] * 4, [0.0, 10, 20, 20], [10, 10, 0, 20], GT])
    pred = np.array([GT, GT, [0.0, 10, 20, 20], [10, 10, 5, 20], GT])
    iou, ce, repaired = ope_frame_errors(pred, gt)
    assert iou.tolist() == [1.0, -1.0, -1.0, -1.0, 1.0]  # x = 0 counts invalid (OTB rule)
    assert ce.tolist() == [0.0, -1.0, -1.0, -1.0, 0.0]
    assert not repaired.any()
    succ, prec, _, _ = ope_sequence_curves(pred, gt)
    assert succ[0].item() == 2 / 5  # denominator: all frames
    assert prec.tolist() == [1.0] * 51


def test_repair_rule() -> None:
    b1 = [12.0, 10, 20, 20]
    gt = np.tile(GT, (6, 1))
    gt[5] = np.nan  # not annotated: its NaN prediction is not repaired (and does not count)
    pred = np.array([GT, b1, [np.nan] * 4, [10, 10, 0, 20], [10, 10, 20, -1], [np.nan] * 4])
    iou, ce, repaired = ope_frame_errors(pred, gt)
    assert repaired.tolist() == [False, False, True, True, True, False]
    expected = box_iou(np.array(b1), np.array(GT)).item()
    assert iou[1:5].tolist() == [expected] * 4
    assert ce[1:5].tolist() == [2.0] * 4
    m = OPESummaryMetric()
    m.update(pred, gt, seq_id=3)
    assert m.compute()["repaired_frames"].item() == 3


def test_repair_uses_raw_frame0_before_gt_override() -> None:
    raw0 = [10.0, 10, 10, 10]  # calcSeqErrRobust.m repairs first, then sets frame 0 to the GT
    gt = np.tile(GT, (3, 1))
    pred = np.array([raw0, [np.nan] * 4, GT])
    iou, _, _ = ope_frame_errors(pred, gt)
    assert iou.tolist() == [1.0, 0.25, 1.0]


def test_numpy_and_torch_inputs_agree() -> None:
    rng = np.random.default_rng(1)
    gt = np.concatenate([rng.uniform(1, 50, (30, 2)), rng.uniform(5, 30, (30, 2))], axis=1)
    pred = gt + rng.normal(0, 4, gt.shape)
    a, b = OPESummaryMetric(), OPESummaryMetric()
    a.update(pred, gt, seq_id=0)
    b.update(torch.from_numpy(pred), torch.from_numpy(gt), seq_id=0)
    for key, value in a.compute().items():
        assert torch.equal(value, b.compute()[key]), key


def test_single_value_metrics_match_collection() -> None:
    gt = np.tile(GT, (4, 1))
    pred = np.array([GT, HALF, GT, [30.0, 30, 20, 20]])
    metrics = [OPESummaryMetric(), SuccessCurve(), SuccessAUC(), PrecisionCurve(), Precision()]
    for m in metrics:
        m.update(pred, gt, seq_id=7)
    full = metrics[0].compute()
    assert torch.equal(metrics[1].compute(), full["success_curve"])
    assert metrics[2].compute().item() == full["success_auc"].item()
    assert torch.equal(metrics[3].compute(), full["precision_curve"])
    assert metrics[4].compute().item() == full["precision_20"].item() == 0.75


def test_duplicate_seq_id_counts_once_and_empty_drop() -> None:
    gt = np.tile(GT, (4, 1))
    far = np.tile([200.0, 200, 20, 20], (4, 1))
    m = OPESummaryMetric()
    m.update(gt, gt, seq_id=5)
    m.update(far, gt, seq_id=5)  # a padded duplicate: the first row wins
    assert m.compute()["num_sequences"].item() == 1
    assert m.compute()["success_auc"].item() == 20 / 21
    # frame 0 is always right, so build a curve that is all zero from an invalid frame-0 GT
    bad = np.tile([0.0, 0, 0, 0], (4, 1))
    for drop, expected in ((False, 10 / 21), (True, 20 / 21)):
        m = OPESummaryMetric(drop_empty_curves=drop)
        m.update(gt, gt, seq_id=1)
        m.update(far, bad, seq_id=2)
        assert m.compute()["success_auc"].item() == pytest.approx(expected, abs=1e-15)


def test_errors_and_empty() -> None:
    with pytest.raises(ValueError, match="3 predicted boxes for 4 ground-truth"):
        OPESummaryMetric().update(np.zeros((3, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"unknown OPE protocol 'vot'; known: otb"):
        OPESummaryMetric(protocol="vot")
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        ope_sequence_curves(np.zeros((3, 5)), np.zeros((3, 5)))
    assert get_protocol("otb").iou_thresholds[10] == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = OPESummaryMetric().compute()
    assert out["num_sequences"].item() == 0 and torch.isnan(out["success_auc"])


# ----------------------------------------------------------------------------------- DDP


def _sequences() -> list[tuple[int, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(2)
    out = []
    for k, n in enumerate((23, 9, 31, 14)):
        gt = np.concatenate([rng.uniform(1, 60, (n, 2)), rng.uniform(4, 30, (n, 2))], axis=1)
        pred = gt + rng.normal(0, 6, gt.shape)
        pred[n // 2] = np.nan  # one repaired frame per sequence
        gt[n // 3] = 0.0  # one invalid GT frame
        out.append((1000 + k, pred, gt))
    return out


# (rank 0 sequences, rank 1 sequences); index 0 on both ranks in the last case: padding
_SPLITS = [([0, 1, 2], [3]), ([], [0, 1, 2, 3]), ([0, 1, 2], [3, 0])]


def _single_process() -> dict[str, torch.Tensor]:
    m = OPESummaryMetric()
    for sid, pred, gt in _sequences():
        m.update(pred, gt, seq_id=sid)
    return m.compute()


def _ddp_worker(rank: int, store: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # "compute before update" on the empty rank
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        seqs = _sequences()
        outs = []
        for split in _SPLITS:
            m = OPESummaryMetric()
            for k in split[rank]:
                sid, pred, gt = seqs[k]
                m.update(torch.from_numpy(pred), torch.from_numpy(gt), seq_id=sid)
            outs.append(m.compute())
            # local state is restored after the synced compute: this rank's rows only
            assert len(m.seq_ids) == len(split[rank])
        torch.save(outs, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_sync_equals_single_process(tmp_path: Path) -> None:
    mp.spawn(_ddp_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    expected = _single_process()
    assert expected["num_sequences"].item() == 4 and expected["repaired_frames"].item() >= 4
    for rank in (0, 1):
        outs = torch.load(tmp_path / f"rank{rank}.pt")
        for case, out in enumerate(outs):
            for key, value in expected.items():
                assert torch.equal(out[key], value), (rank, _SPLITS[case], key)
