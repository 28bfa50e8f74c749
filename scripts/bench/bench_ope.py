"""Time to score OPE frames on one core (``update`` per sequence + ``compute``); prints JSON.

    python scripts/bench/bench_ope.py --sequences 1000 --length 1000 --threads 1

Random but seeded boxes (a tracker with ~5 px jitter, 2 % NaN predictions, 5 % absent frames);
generating them is not timed. Each protocol is timed ``--runs`` times; the median is reported.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch

from siamlightning.metrics.ope import PROTOCOLS, OPESummaryMetric


def _data(num: int, length: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    """``num`` sequences of ``length`` frames: (pred, gt, absent, visible) tensors."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num):
        xy = 40 + np.cumsum(rng.normal(0, 2, (length, 2)), axis=0)
        wh = rng.uniform(10, 60, (1, 2)) * np.exp(np.cumsum(rng.normal(0, 0.01, (length, 2)), 0))
        gt = np.concatenate([xy, wh], axis=1)
        pred = gt + rng.normal(0, 5, gt.shape)
        pred[rng.random(length) < 0.02] = np.nan
        absent = rng.random(length) < 0.05
        absent[0] = False
        gt[absent] = np.nan
        out.append(tuple(torch.from_numpy(a) for a in (pred, gt, absent, ~absent)))
    return out


def _time(protocol: str, data: list[tuple[torch.Tensor, ...]]) -> tuple[float, float]:
    """Seconds to update + compute, and the AUC/AO it got (a sanity value)."""
    t0 = time.perf_counter()
    m = OPESummaryMetric(protocol, sync_on_compute=False)
    for k, (pred, gt, absent, visible) in enumerate(data):
        m.update(pred, gt, seq_id=k, absent=absent, visible=visible, bound=(640.0, 480.0))
    out = m.compute()
    elapsed = time.perf_counter() - t0
    return elapsed, float(out["ao"] if "ao" in out else out["success_auc"])


def main() -> None:
    """Parse arguments, time each protocol, print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=1000)
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--protocols", nargs="+", default=sorted(PROTOCOLS))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = _data(args.sequences, args.length, args.seed)
    frames = args.sequences * args.length
    results = {}
    for name in args.protocols:
        _time(name, data[:10])  # warm-up
        runs = [_time(name, data) for _ in range(args.runs)]
        seconds = statistics.median(r[0] for r in runs)
        results[name] = {
            "seconds": round(seconds, 4),
            "frames_per_second": round(frames / seconds),
            "us_per_sequence": round(1e6 * seconds / args.sequences, 1),
            "score": round(runs[0][1], 6),
        }
    print(
        json.dumps(
            {
                "sequences": args.sequences,
                "length": args.length,
                "frames": frames,
                "threads": args.threads,
                "runs": args.runs,
                "torch": torch.__version__,
                "cpu": platform.processor() or platform.machine(),
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
