"""VOT reset-based A/R and EAO: hand-worked values, a slow fragment-matrix oracle, metrics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from siamlightning.errors import DataError
from siamlightning.metrics.regions import FAILURE, INIT, REGION, UNKNOWN, Special, write_regions
from siamlightning.metrics.vot_anchor import (
    AnchorSequence,
    anchor_ar,
    anchor_eao,
    anchor_eao_curve,
    anchor_progress,
    find_anchors,
)
from siamlightning.metrics.vot_eao import eao, eao_curve, eao_interval, eao_score
from siamlightning.metrics.vot_reset import (
    accuracy,
    ar_summary,
    average_failures,
    burnin_mask,
    failures_per_run,
    normalized_failures,
    overlap_bounds,
    pysot_robustness,
    read_runs,
    trajectory_overlaps,
)
from siamlightning.metrics.vot_torchmetrics import VOTEAO, VOTAccuracyRobustness

R, U, I, F = REGION, UNKNOWN, INIT, FAILURE  # noqa: E741 (trajectory codes, as in the spec)


def _run(codes: list[int], values: dict[int, float], default: float = 0.5) -> tuple:
    o = np.array([values.get(i, default) if c == R else np.nan for i, c in enumerate(codes)])
    return o[None], np.array(codes)[None]


def simulate(rng: np.random.Generator, n: int, p_fail: float, *, late_ok: bool = True):
    """One run of the reset protocol: init, track (fail with prob. p_fail), re-init at f + 5."""
    codes, o, f = np.full(n, U), np.full(n, np.nan), 0
    while f < n:
        codes[f], f = I, f + 1
        while f < n:
            if rng.random() < p_fail and (late_ok or f + 5 <= n - 1):
                codes[f], f = F, f + 5
                break
            codes[f], o[f], f = R, rng.uniform(0.05, 0.95), f + 1
    return o, codes


# --------------------------------------------------------------------------- A and R


def test_burnin_excludes_ten_frames_from_each_init() -> None:
    codes = [I] + [R] * 12 + [F, U, U, U, U, I, R]  # init 0, fail 13, re-init 18
    o, c = _run(codes, {10: 0.2, 11: 0.4, 12: 0.6})
    assert np.flatnonzero(burnin_mask(c)[0]).tolist() == [10, 11, 12]
    assert accuracy([o], [c]) == pytest.approx(0.4)
    assert np.flatnonzero(burnin_mask(c, 0)[0]).tolist() == [*range(1, 13), 19]
    assert accuracy([o], [c], burnin=3) == pytest.approx((0.5 * 7 + 1.2) / 10)  # 3..12


def test_accuracy_pooling_and_robustness() -> None:
    # seq A: 2 runs of 12 frames, frame 11 valid in both (0.2, 0.6), frame 10 only in run 0
    a0, ca0 = _run([I] + [R] * 11, {10: 0.3, 11: 0.2})
    a1, ca1 = _run([I] + [R] * 9 + [F, U], {11: 0.6})
    a1[0, 11], ca1[0, 11] = 0.6, R  # a region again (no re-init needed for the check)
    seq_a = (np.concatenate([a0, a1]), np.concatenate([ca0, ca1]))
    # seq B: 1 run of 13 frames, frames 10..12 valid at 0.9
    seq_b = _run([I] + [R] * 12, {}, 0.9)
    o, c = [seq_a[0], seq_b[0]], [seq_a[1], seq_b[1]]
    # per-frame means: A10 = 0.3, A11 = 0.4; B = 0.9 x 3 -> pooled over 5 frames
    assert accuracy(o, c) == pytest.approx((0.3 + 0.4 + 2.7) / 5)
    # votpy: A = mean(run0 (0.25), run1 (0.6)) = 0.425 weight 12; B = 0.9 weight 13
    assert accuracy(o, c, variant="votpy") == pytest.approx((0.425 * 12 + 0.9 * 13) / 25)
    assert failures_per_run(c[0]).tolist() == [0, 1]
    assert average_failures(c) == 0.5  # mean over runs of the failures summed over sequences
    assert normalized_failures(c) == pytest.approx(0.5 / 25)
    assert pysot_robustness(c) == pytest.approx(2.0)
    s = ar_summary(o, c)
    assert s["mean_failures"] == pytest.approx(0.5 * 12 / 25)
    assert s["ar_robustness"] == pytest.approx(math.exp(-30 * (6 / 25) / 12.5))
    assert (s["num_sequences"], s["num_frames"]) == (2, 25)


# ------------------------------------------------------------------------------- EAO


def _two_sequences() -> tuple[list, list]:
    # seq 1, N = 12: fails at 3 -> P = [0, 8]; seq 2, N = 6, no failure
    s1 = _run([I, R, R, F, U, U, U, U, I, R, R, R], {1: 0.8, 2: 0.6})
    s2 = _run([I, R, R, R, R, R], {}, 1.0)
    return [s1[0], s2[0]], [s1[1], s2[1]]


def test_eao_fragments_by_hand() -> None:
    o, c = _two_sequences()
    curve = eao_curve(o, c)
    # rows: failed o[0..8] = [0 .8 .6 0 0 0 0 0 0] + zeros to L_max = 12; last o[8..11]
    # = [0 .5 .5 .5] + NaN; seq 2 = [NaN 1 1 1 1 1] + NaN. Φ(n + 1) = Σ mean(row[1..n]) / rows
    want = [1.0, 2.3 / 3, 4.4 / 6, 5.9 / 9, 5.4 / 8, 6.4 / 10] + [1.4 / n for n in range(6, 12)]
    np.testing.assert_allclose(curve, want, rtol=0, atol=1e-15)
    assert eao_score(curve, (2, 4)) == pytest.approx((2.3 / 3 + 4.4 / 6 + 5.9 / 9) / 3)
    assert eao(o, c, interval=(11, 20)) == pytest.approx((1.4 / 10 + 1.4 / 11) / 2)  # truncated
    # python toolkit: fragments o[0:3) (failed), o[8:] and seq 2 (successful); L_max = 6
    py = eao_curve(o, c, variant="votpy")
    np.testing.assert_allclose(py, [0.0, *want[1:6]], atol=1e-15)
    # its score is taken on 0-based indices: (1, 3) covers the same lengths as (2, 4)
    assert eao_score(py, (1, 3), variant="votpy") == pytest.approx(eao_score(curve, (2, 4)))
    assert math.isnan(eao_score(py, (7, 9), variant="votpy"))


def test_eao_sequence_with_two_failures_by_hand() -> None:
    # N = 16: init 0, fail 3, re-init 8, fail 10, re-init 15 -> P = [0, 8, 15]
    o, c = _run([I, R, R, F, U, U, U, U, I, R, F, U, U, U, U, I], {1: 0.8, 2: 0.6, 9: 0.4})
    curve = eao_curve([o], [c])
    # failed rows o[0..8] = [0 .8 .6 0 ...] and o[8..15] = [0 .4 0 ...], zero-padded to 16;
    # the last fragment o[15..15] = [0] is never usable beyond length 1
    want = [1.0, (0.8 + 0.4) / 2, (1.4 / 2 + 0.4 / 2) / 2] + [1.8 / (2 * n) for n in range(3, 16)]
    np.testing.assert_allclose(curve, want, rtol=0, atol=1e-15)
    assert eao_score(curve, (2, 3)) == pytest.approx((0.6 + 0.45) / 2)
    # python toolkit: o[0:3), o[8:10) failed, o[15:] successful; L_max = 3 (longest fragment)
    np.testing.assert_allclose(eao_curve([o], [c], variant="votpy"), [0.0, 0.6, 0.45])
    np.testing.assert_allclose(eao_curve([o], [c], variant="pysot"), want, rtol=1e-7)


def test_eao_point_rule_pysot_admits_f_plus_5_equal_n() -> None:
    s1 = _run([I, R, R, R, R, F, U, U, U, U], {}, 0.5)  # f + 5 = 10 = N
    s2 = _run([I] + [R] * 13, {}, 1.0)  # N = 14 = L_max
    o, c = [s1[0], s2[0]], [s1[1], s2[1]]
    legacy, pysot = eao_curve(o, c), eao_curve(o, c, variant="pysot")
    # legacy: seq 1 is one last fragment (10 frames, NaN after) -> only seq 2 from n = 10
    assert legacy[10:].tolist() == [1.0] * 4
    # pysot: seq 1 is a failed fragment zero-padded to 14, plus an empty last fragment; the
    # failed one covers P = 0..10 but the sequence only 0..9: weight 10 / 11 (its tag share)
    w = 10 / 11
    want = [(w * 0.5 * min(n, 4) / n + 1.0) / (w + 1) for n in range(1, 14)]
    np.testing.assert_allclose(pysot[1:], want, rtol=1e-7)  # float32 curve in pysot


def test_eao_run_weights() -> None:
    # seq A: two runs, overlaps 1.0 and 0.0, no failures (N = 4); seq B: one run at 0.5
    a = np.array([[np.nan, 1, 1, 1], [np.nan, 0, 0, 0]])
    ca = np.array([[I, R, R, R]] * 2)
    b, cb = _run([I, R, R, R], {}, 0.5)
    legacy = eao_curve([a, b], [ca, cb])
    assert legacy[1:].tolist() == [0.5] * 3  # (1/2 * 1 + 1/2 * 0 + 1 * 0.5) / 2
    votpy = eao_curve([a, b], [ca, cb], variant="votpy")
    assert votpy[1:].tolist() == [0.5] * 3  # (1 + 0 + 0.5) / 3
    b2, cb2 = _run([I, R, R, R], {}, 0.8)
    legacy2 = eao_curve([a, b2], [ca, cb2])[1:]
    np.testing.assert_allclose(legacy2, [(0.5 + 0.8) / 2] * 3)
    votpy2 = eao_curve([a, b2], [ca, cb2], variant="votpy")[1:]
    np.testing.assert_allclose(votpy2, [1.8 / 3] * 3)
    # pysot weighs every run by 1 / (runs of the last sequence): all equal here
    np.testing.assert_allclose(eao_curve([a, b2], [ca, cb2], variant="pysot")[1:], votpy2, 1e-7)


def test_deterministic_one_run_equals_fifteen_identical_runs() -> None:
    rng = np.random.default_rng(4)
    seqs = [simulate(rng, int(n), 0.04) for n in rng.integers(40, 200, 6)]
    one_o, one_c = [s[0][None] for s in seqs], [s[1][None] for s in seqs]
    many_o, many_c = [np.repeat(x, 15, 0) for x in one_o], [np.repeat(x, 15, 0) for x in one_c]
    for variant in ("legacy", "pysot", "votpy"):
        a = eao(one_o, one_c, interval=(20, 150), variant=variant)
        b = eao(many_o, many_c, interval=(20, 150), variant=variant)
        assert a == pytest.approx(b, abs=1e-12), variant
        ar1 = ar_summary(one_o, one_c, variant=variant)
        ar15 = ar_summary(many_o, many_c, variant=variant)
        assert ar1 == pytest.approx(ar15, abs=1e-12)


def _slow_curve(overlaps, codes, variant):
    """The toolkits' fragment matrix and per-length loop, written out plainly."""
    rows, weights, kinds = [], [], []
    runs = [(o, c, len(oo)) for oo, cc in zip(overlaps, codes) for o, c in zip(oo, cc)]
    for o, c, r in runs:
        n, fails = o.size, np.flatnonzero(c == F).tolist()
        o = np.where(c == R, o, np.nan)
        w = 1 / (r if variant == "legacy" else runs[-1][2])
        if variant == "votpy":
            inits = np.flatnonzero(c == I).tolist()
            for k, f in enumerate(fails):
                rows.append(np.nan_to_num(o[inits[k] : f]))
                kinds.append("failed")
            if len(inits) > len(fails):
                rows.append(np.nan_to_num(o[inits[-1] :]))
                kinds.append("ok")
            weights += [1.0] * (len(rows) - len(weights))
            continue
        if not fails:
            rows.append(o), kinds.append("ok"), weights.append(w)
            continue
        pts = [0] + [f + 5 for f in fails if f + 5 <= (n - 1 if variant == "legacy" else n)]
        for p, q in itertools.pairwise(pts):
            rows.append(np.nan_to_num(o[p : q + 1])), kinds.append("failed"), weights.append(w)
        rows.append(np.nan_to_num(o[pts[-1] :])), kinds.append("ok"), weights.append(w)
    lmax = max(len(x) for x in rows) if variant == "votpy" else max(x.shape[1] for x in overlaps)
    mat = np.full((len(rows), lmax), np.nan)
    for k, (row, kind) in enumerate(zip(rows, kinds)):
        if kind == "failed":
            mat[k] = 0
        mat[k, : len(row)] = row[:lmax]
    w = np.array(weights)
    curve = np.zeros(lmax)
    curve[0] = 1.0 if variant != "votpy" else np.sum(w * mat[:, 0]) / w.sum()
    for n in range(1, lmax):
        ok = ~np.isnan(mat[:, n])
        if ok.any():
            curve[n] = np.sum(mat[ok, 1 : n + 1].mean(axis=1) * w[ok]) / w[ok].sum()
    return curve


@pytest.mark.parametrize("variant", ["legacy", "pysot", "votpy"])
def test_eao_curve_matches_fragment_matrix(variant: str) -> None:
    rng = np.random.default_rng(5)
    o, c = [], []
    for n, runs in zip(rng.integers(15, 160, 9), [1, 3, 3, 2, 3, 3, 1, 3, 3]):
        sims = [simulate(rng, int(n), 0.05) for _ in range(runs)]
        o.append(np.stack([s[0] for s in sims])), c.append(np.stack([s[1] for s in sims]))
    got, want = eao_curve(o, c, variant=variant), _slow_curve(o, c, variant)
    np.testing.assert_allclose(got, want, rtol=1e-6 if variant == "pysot" else 1e-12, atol=0)
    assert (c[0] == F).sum() + sum((x == F).sum() for x in c) > 10  # failures were simulated


def test_legacy_and_votpy_curves_agree_but_scores_are_off_by_one() -> None:
    rng = np.random.default_rng(6)
    lengths = [300, 120, 250, 90]
    o, c = [], []
    for n in lengths:
        sims = [simulate(rng, n, 0.01, late_ok=False) for _ in range(3)]
        sims[0] = (np.r_[np.nan, np.full(n - 1, 0.5)], np.array([I] + [R] * (n - 1)))
        o.append(np.stack([s[0] for s in sims])), c.append(np.stack([s[1] for s in sims]))
    legacy, votpy = eao_curve(o, c), eao_curve(o, c, variant="votpy")
    np.testing.assert_allclose(legacy[1:], votpy[1:], rtol=1e-12)
    a = eao_score(legacy, (100, 200))
    b = eao_score(votpy, (100, 200), variant="votpy")
    assert a != b and abs(a - b) < 1e-2


def test_intervals_and_errors() -> None:
    assert eao_interval(2018) == eao_interval("vot2017") == (100, 356)
    assert eao_interval("VOT2016") == (108, 371) and eao_interval(2019) == (46, 291)
    with pytest.raises(ValueError, match="no EAO interval for VOT2012"):
        eao_interval(2012)
    with pytest.raises(ValueError, match="unknown VOT variant"):
        eao_curve([], [], variant="matlab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlaps"):
        eao_curve([np.zeros((2, 5))], [np.zeros((2, 4))])


# ------------------------------------------------------------------- trajectories


def test_trajectory_overlaps_and_bounds() -> None:
    gt = [np.array([0.0, 0, 10, 10])] * 4
    traj = [Special(1), np.array([5.0, 0, 10, 10]), Special(2), Special(0)]
    o, c = trajectory_overlaps(traj, gt, (10, 10), purpose="eao")
    assert c.tolist() == [I, R, F, U] and np.isnan(o[[0, 2, 3]]).all()
    assert o[1] == pytest.approx(50 / 100)  # clipped to x <= 9: 5 px vs 10 px wide
    o_ar, _ = trajectory_overlaps(traj, gt, (10, 10), purpose="ar")
    assert o_ar[1] == pytest.approx(50 / 110)  # MATLAB A/R bounds [w h]: clipped at x <= 10
    o_py, _ = trajectory_overlaps(traj, gt, (10, 10), purpose="eao", variant="pysot")
    assert o_py[1] == pytest.approx(55 / 110, abs=1e-7)  # pysot rect x..x+w, bounds (W-1, H-1)
    assert overlap_bounds((640, 480), purpose="ar", variant="votpy") == (640, 480)
    assert overlap_bounds((640, 480), purpose="ar", convention="pysot") == (640, 480)
    assert overlap_bounds((640, 480), purpose="eao", convention="pysot") == (639, 479)
    assert overlap_bounds((640, 480), purpose="ar") == (641, 481)


def test_read_runs_picks_runs_like_each_toolkit(tmp_path) -> None:
    gt = [np.array([10.0, 10, 20, 20])] * 6
    seq = tmp_path / "baseline" / "ball"
    good = [Special(1), *[np.array([11.0, 10, 20, 20])] * 5]
    other = [Special(1), np.array([30.0, 30, 5, 5]), Special(2), *[Special(0)] * 3]
    for k in range(1, 6):  # runs 1-3 identical (deterministic), 4 and 5 different
        write_regions(seq / f"ball_{k:03d}.txt", good if k <= 3 else other)
    o, c = read_runs(seq, gt, (64, 64))
    assert o.shape == c.shape == (3, 6)  # MATLAB stops after 3 identical runs
    assert read_runs(seq, gt, (64, 64), variant="votpy")[0].shape == (5, 6)
    assert read_runs(seq, gt, (64, 64), variant="pysot")[0].shape == (1, 6)  # not exactly 15
    o_py, c_py = read_runs(seq, gt, (64, 64), variant="votpy")
    assert c_py[3].tolist() == [I, R, F, U, U, U] and o_py[3, 1] == 0.0
    write_regions(seq / "ball_002.txt", other)
    assert read_runs(seq, gt, (64, 64))[0].shape == (5, 6)  # no longer deterministic
    write_regions(seq / "ball_006.txt", good[:4])
    with pytest.raises(DataError, match=r"ball_006\.txt: 4 lines but the sequence has 6"):
        read_runs(seq, gt, (64, 64))
    with pytest.raises(DataError, match=r"no empty_NNN\.txt"):
        read_runs(tmp_path / "empty", gt, (64, 64))


# ------------------------------------------------------------------------ metrics


def test_metrics_match_functions_and_dedup() -> None:
    rng = np.random.default_rng(7)
    seqs = [simulate(rng, n, 0.05) for n in (60, 130, 90)]
    o = [np.stack([s[0], s[0]]) for s in seqs]
    c = [np.stack([s[1], s[1]]) for s in seqs]
    m_eao, m_ar = VOTEAO(interval=(10, 100)), VOTAccuracyRobustness()
    for k in (2, 0, 1, 0):  # seq 0 twice: the duplicate is dropped
        m_eao.update(o[k], c[k], seq_id=k)
        m_ar.update(o[k], c[k], seq_id=k)
    out = m_eao.compute()
    assert out["eao"].item() == eao(o, c, interval=(10, 100))
    assert out["eao_curve"].tolist() == eao_curve(o, c).tolist()
    assert out["num_sequences"].item() == 3 and out["num_runs"].item() == 6
    summary = m_ar.compute()
    assert {k: v.item() for k, v in summary.items()} == ar_summary(o, c)
    with pytest.raises(ValueError, match="codes must be"):
        VOTEAO().update(np.zeros((1, 3)), np.array([[1, 5, -1]]))
    with pytest.raises(ValueError, match=r"want \(R, N\)"):
        VOTEAO().update(np.zeros((1, 3)), np.zeros((1, 4)))


# --------------------------------------------------------------------------- DDP


def _ddp_sequences() -> list[tuple[int, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(8)
    out = []
    for k, (n, runs) in enumerate([(70, 3), (40, 1), (120, 3), (55, 2)]):
        sims = [simulate(rng, n, 0.05) for _ in range(runs)]
        out.append((100 + k, np.stack([s[0] for s in sims]), np.stack([s[1] for s in sims])))
    return out


# (rank 0 sequences, rank 1 sequences); index 0 on both ranks in the last case: padding
_SPLITS = [([0, 1, 2], [3]), ([], [0, 1, 2, 3]), ([2, 0, 1], [3, 0])]


def _vot_metrics() -> list:
    return [VOTEAO(interval=(10, 80)), VOTAccuracyRobustness(), VOTEAO(2019, variant="votpy")]


def _ddp_worker(rank: int, store: str, out_dir: str) -> None:
    import os
    import warnings

    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # "compute before update" on the empty rank
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        seqs, outs = _ddp_sequences(), []
        for split in _SPLITS:
            metrics = _vot_metrics()
            for k in split[rank]:
                sid, o, c = seqs[k]
                for m in metrics:
                    m.update(torch.from_numpy(o), torch.from_numpy(c), seq_id=sid)
            outs.append([m.compute() for m in metrics])
            assert len(metrics[0].seq_ids) == len(split[rank])  # local state restored
        torch.save(outs, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_sync_equals_single_process(tmp_path) -> None:
    import torch
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    expected = _vot_metrics()
    for sid, o, c in _ddp_sequences():
        for m in expected:
            m.update(o, c, seq_id=sid)
    want = [m.compute() for m in expected]
    assert want[0]["num_runs"].item() == 9 and want[1]["average_failures"].item() > 1
    for rank in (0, 1):
        for case, outs in enumerate(torch.load(tmp_path / f"rank{rank}.pt")):
            for got, exp in zip(outs, want):
                for key, value in exp.items():
                    assert torch.equal(got[key], value), (rank, _SPLITS[case], key)


# ---------------------------------------------------------------- anchor protocol


def test_anchor_progress_and_ar() -> None:
    o = np.array([0.0, 0.6] + [0.05] * 9 + [0.5] + [0.0] * 10 + [0.7])
    assert anchor_progress(o) == 12  # 9 low frames are forgiven; 10 from frame 12 fail
    empty = np.zeros(o.size, dtype=bool)
    empty[15] = True  # an empty GT frame breaks the window
    assert anchor_progress(o, empty) == o.size
    assert anchor_progress(o[:5]) == 5
    # sequence of 30 frames, anchors at 0 (forward) and 20 (backward: 21 frames)
    fwd = np.concatenate([[0.0], np.full(29, 0.5)])
    bwd = np.concatenate([[0.0], np.full(4, 0.8), np.zeros(16)])  # fails at 5
    seq = AnchorSequence([fwd, bwd], 30)
    a, r = anchor_ar([seq])
    assert a == pytest.approx((29 * 0.5 + 4 * 0.8) / 35)
    assert r == pytest.approx(35 / 51)
    seq2 = AnchorSequence([np.concatenate([[0.0], np.full(9, 1.0)])], 10)
    a2, r2 = anchor_ar([seq, seq2])
    assert a2 == pytest.approx((29 * 0.5 + 4 * 0.8 + 9) / 45)  # weights: Σ progress
    assert r2 == pytest.approx((35 / 51 * 30 + 1.0 * 10) / 40)  # weights: sequence length
    assert find_anchors(np.array([1, 0, 0, -1, 2])) == ([0, 4], [3])


def test_anchor_eao_j_minus_one_quirk() -> None:
    ok = np.array([0.0, 1.0, 1.0, 1.0])  # successful run of 4 frames
    failed = np.array([0.0, 0.5, 0.5] + [0.0] * 10)  # progress 3: zeroed from there
    curve = anchor_eao_curve([AnchorSequence([ok, failed], 13)], high=20)
    # j = 1..3: both runs; mean(ok[1:j+1]) = 1, mean(failed[1:j+1]) = 0.5, 0.5, 1/3
    np.testing.assert_allclose(curve[1:4], [0.75, 0.75, (1 + 1 / 3) / 2])
    assert curve[0] == 0.0
    # 4 <= j < 13: only the failed run, mean(failed[1:j+1]) = 1 / j
    np.testing.assert_allclose(curve[4:13], [1 / j for j in range(4, 13)])
    # j >= 13, past its end: sum(failed[1:]) / (j - 1), not / j
    np.testing.assert_allclose(curve[13:], [1 / (j - 1) for j in range(13, 20)])
    # sequences weigh by their active runs: the same run alone in a second sequence
    two = anchor_eao_curve([AnchorSequence([ok], 4), AnchorSequence([failed], 13)], high=20)
    np.testing.assert_allclose(two, curve)
    assert anchor_eao([AnchorSequence([ok, failed], 13)], interval=(13, 19)) == pytest.approx(
        np.mean([1 / (j - 1) for j in range(13, 19)])  # curve has 19 entries: 13..18
    )
