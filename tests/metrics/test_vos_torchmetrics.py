"""`VOSMetric`: object-weighted DAVIS statistics, de-duplication, and exact DDP sync."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from siamlightning.metrics import DAVIS_COLUMNS, VOSMetric, sequence_key
from siamlightning.metrics.vos import boundary_measure, region_similarity


def test_object_weighted_means_by_hand() -> None:
    m = VOSMetric()
    m.update(np.array([1.0, 1.0]), np.array([0.8, 0.8]), seq="a", obj=1)
    m.update(np.array([0.2, 0.4]), np.array([0.0, 0.6]), seq="a", obj=2)
    m.update(torch.tensor([0.6, 0.6]), torch.tensor([1.0, 1.0]), seq="b", obj=1)
    out = m.compute()
    # object-weighted: (1 + 0.3 + 0.6) / 3, not the sequence mean (0.65 + 0.6) / 2
    assert out["j_mean"].item() == pytest.approx(1.9 / 3)
    assert out["f_mean"].item() == pytest.approx(2.1 / 3)
    assert out["jf_mean"].item() == pytest.approx((1.9 + 2.1) / 6)
    assert out["j_recall"].item() == pytest.approx(2 / 3)  # [1, 0, 1]
    assert out["f_recall"].item() == pytest.approx(2.5 / 3)  # [1, 0.5, 1]
    assert out["j_decay"].item() == pytest.approx(-0.2 / 3)  # n=2: decay = v[0] - v[1]
    assert out["f_decay"].item() == pytest.approx(-0.6 / 3)
    assert out["num_objects"].item() == 3 and out["num_objects"].dtype == torch.int64
    assert list(out)[:7] == list(DAVIS_COLUMNS)


def test_duplicates_count_once_first_kept() -> None:
    m = VOSMetric()
    m.update([0.9, 0.9], [0.9, 0.9], seq=7, obj=2)
    m.update([0.1, 0.1], [0.1, 0.1], seq=7, obj=2)  # a padded copy (DDP): ignored
    m.update([0.5, 0.5], [0.5, 0.5], seq=7, obj=1)
    rows = m.object_rows()
    assert rows.obj_ids.tolist() == [1, 2] and rows.seq_ids.tolist() == [7, 7]
    np.testing.assert_allclose(rows.j[:, 0], [0.5, 0.9])
    assert rows.frames.tolist() == [2, 2]
    assert m.compute()["j_mean"].item() == pytest.approx(0.7)


def test_update_masks_and_sequence_key() -> None:
    gt = np.zeros((3, 30, 40), bool)
    gt[:, 5:20, 5:25] = True
    pred = np.roll(gt, 2, axis=2)
    m = VOSMetric(bound_th=1)
    j, f = m.update_masks(pred, gt, seq="blackswan", obj=1)
    np.testing.assert_array_equal(j, region_similarity(pred, gt))
    np.testing.assert_array_equal(f, boundary_measure(pred, gt, bound_th=1))
    assert f[0] < 1.0  # 2 px apart at radius 1
    from siamlightning.data.core.sequences import Sequence  # not imported by the DDP workers

    seq = Sequence(name="blackswan", frames=["a.jpg"], boxes=np.zeros((1, 4)))
    assert m.object_rows().seq_ids.tolist() == [seq.uid] == [sequence_key("blackswan")]
    assert sequence_key(12) == 12


def test_empty_and_errors() -> None:
    m = VOSMetric()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # compute before update
        out = m.compute()
    assert out["num_objects"].item() == 0 and torch.isnan(out["jf_mean"])
    with pytest.raises(ValueError, match=r"j \(3,\) and f \(2,\)"):
        m.update(np.zeros(3), np.zeros(2), seq=1)
    with pytest.raises(ValueError, match="per-frame vector"):
        m.update(np.zeros((2, 2)), np.zeros((2, 2)), seq=1)


def _objects() -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    out = []
    for s, n_obj in enumerate([2, 1, 3, 1]):
        n = int(rng.integers(3, 60))
        for k in range(1, n_obj + 1):
            out.append((f"seq{s}", k, rng.random(n), rng.random(n)))
    return out


# object indices per rank: uneven, an empty rank, and padding (rank 1 repeats objects 0 and 6)
_SPLITS = [
    [[0, 1, 2, 3, 4, 5], [6]],
    [[], [0, 1, 2, 3, 4, 5, 6]],
    [[0, 1, 2, 3], [4, 5, 6, 0]],
    [[6, 5, 4], [3, 2, 1, 0, 6]],
]


def _ddp_worker(rank: int, store: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # "compute before update" on the empty rank
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        objs, outs = _objects(), []
        for split in _SPLITS:
            m = VOSMetric()
            for i in split[rank]:
                seq, k, j, f = objs[i]
                m.update(torch.from_numpy(j), torch.from_numpy(f), seq=seq, obj=k)
            outs.append(m.compute())
            assert len(m.seq_ids) == len(split[rank])  # local state restored after the sync
        torch.save(outs, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_sync_equals_single_process(tmp_path: Path) -> None:
    # fork where the platform has it: spawned workers re-import torch and torchmetrics (~5-20 s
    # on a busy 2-core machine), forked ones start at once; they set one intra-op thread first
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    args = (str(tmp_path / "store"), str(tmp_path))
    mp.start_processes(_ddp_worker, args=args, nprocs=2, join=True, start_method=method)
    single = VOSMetric()
    for seq, k, j, f in _objects():
        single.update(j, f, seq=seq, obj=k)
    want = single.compute()
    assert want["num_objects"].item() == 7
    for rank in (0, 1):
        for case, out in enumerate(torch.load(tmp_path / f"rank{rank}.pt")):
            for key, value in want.items():
                assert torch.equal(out[key], value), (rank, _SPLITS[case], key)
