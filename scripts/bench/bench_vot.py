"""Time VOT reset-protocol measures on a VOT2018-sized simulated result set; prints JSON.

    python scripts/bench/bench_vot.py [--sequences 60] [--runs 15] [--repeats 5]

60 sequences with VOT2018-like lengths (41..1500 frames, median ~300) x 15 runs of the reset
protocol (failure probability per frame drawn per sequence, re-init at f + 5). Timed on one core
(``torch.set_num_threads(1)``): EAO curve + score, accuracy/robustness, the `VOTEAO` metric's
update + compute, and rasterised overlaps of one 1000-frame polygon sequence. Median of
``--repeats`` after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from siamlightning.metrics.raster import raster_overlaps
from siamlightning.metrics.regions import FAILURE, INIT, REGION, UNKNOWN
from siamlightning.metrics.vot_eao import eao_curve, eao_interval, eao_score
from siamlightning.metrics.vot_reset import ar_summary
from siamlightning.metrics.vot_torchmetrics import VOTEAO


def simulate(rng: np.random.Generator, n: int, p_fail: float) -> tuple[np.ndarray, np.ndarray]:
    """One reset-protocol run of n frames -> overlaps (n,) (NaN at special frames), codes (n,)."""
    codes, o, f = np.full(n, UNKNOWN, dtype=np.int8), np.full(n, np.nan), 0
    while f < n:
        codes[f] = INIT
        gap = int(rng.geometric(p_fail))  # frames until the next failure
        stop = min(f + gap, n)
        codes[f + 1 : stop], o[f + 1 : stop] = REGION, rng.uniform(0.2, 0.8, max(stop - f - 1, 0))
        if stop < n:
            codes[stop] = FAILURE
        f = stop + 5
    return o, codes


def dataset(seed: int, sequences: int, runs: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """VOT2018-like lengths and failure rates -> overlaps and codes (runs, N) per sequence."""
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(np.log(300), 0.7, sequences), 41, 1500).astype(int)
    overlaps, codes = [], []
    for n in lengths:
        p_fail = rng.uniform(0.0005, 0.02)
        sims = [simulate(rng, int(n), p_fail) for _ in range(runs)]
        overlaps.append(np.stack([s[0] for s in sims]))
        codes.append(np.stack([s[1] for s in sims]))
    return overlaps, codes


def polygons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n rotated GT boxes (n, 8) in a 1280 x 720 image and noisy x, y, w, h predictions (n, 4)."""
    centre = rng.uniform(150, 600, (n, 1, 2))
    half = rng.uniform(15, 80, (n, 1, 2)) * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    t = rng.uniform(-0.5, 0.5, (n, 1))
    x = np.cos(t) * half[..., 0] - np.sin(t) * half[..., 1]
    y = np.sin(t) * half[..., 0] + np.cos(t) * half[..., 1]
    gt = (centre + np.stack([x, y], -1)).reshape(n, 8)
    lo, hi = gt.reshape(n, 4, 2).min(1), gt.reshape(n, 4, 2).max(1)
    pred = np.concatenate([lo, hi - lo], 1) + rng.normal(0, 6, (n, 4))
    return gt, pred


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` in milliseconds over ``repeats`` calls, after a warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return round(statistics.median(times), 2)


def main() -> None:
    """Build the data set, time each measure, print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=60)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    o, c = dataset(args.seed, args.sequences, args.runs)
    interval = eao_interval(2018)

    def run_metric() -> dict[str, torch.Tensor]:
        m = VOTEAO(2018)
        for k, (oo, cc) in enumerate(zip(o, c)):
            m.update(oo, cc, seq_id=k)
        return m.compute()

    gt, pred = polygons(np.random.default_rng(args.seed), 1000)
    out = {
        "sequences": args.sequences,
        "runs": args.runs,
        "frames": int(sum(x.shape[1] for x in o)),
        "run_frames": int(sum(x.size for x in o)),
        "failures": int(sum((x == FAILURE).sum() for x in c)),
        "eao": round(eao_score(eao_curve(o, c), interval), 6),
        "ms": {
            "eao_legacy": timed(lambda: eao_score(eao_curve(o, c), interval), args.repeats),
            "eao_votpy": timed(lambda: eao_curve(o, c, variant="votpy"), args.repeats),
            "accuracy_robustness": timed(lambda: ar_summary(o, c), args.repeats),
            "VOTEAO_update_compute": timed(run_metric, args.repeats),
            "raster_1000_rect_vs_poly": timed(
                lambda: raster_overlaps(pred, gt, (1280, 720)), args.repeats
            ),
        },
        "threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
