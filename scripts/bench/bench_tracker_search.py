"""Trials per minute of a tracker search, with and without the in-process caches.

    python scripts/bench/bench_tracker_search.py --ckpt outputs/quickstart/checkpoints/last.ckpt \
        --trials 6 --rounds 2

Runs ``siamlightning-eval -m hydra/sweeper=tracker_search`` on the synthetic benchmark (12
sequences x 120 frames) in a fresh sweep folder per run, alternating ``cached`` (the default:
the checkpoint's network kept between trials, decoded frames kept up to cache_frames_mb) and
``uncached`` (cache_net=false, cache_frames_mb=0). One JSON line per run: the sweep's wall time,
trials per minute over the sweep and the mean trial time from trials.csv (the trial's job, without
the process start); then one line with the medians and the cached/uncached ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {
    "cached": [],
    "uncached": ["cache_net=false", "hydra.sweeper.cache_frames_mb=0"],
}


def run(ckpt: Path, trials: int, mode: str, extra: list[str]) -> dict:
    """One sweep of ``trials`` trials in a fresh folder -> its timings."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable, "-m", "siamlightning.cli.eval", "-m",
            "hydra/sweeper=tracker_search", f"ckpt={ckpt}", f"hydra.sweeper.n_trials={trials}",
            "hydra.sweeper.seed=0", f"hydra.sweeper.sweep_dir={tmp}/sweep", *MODES[mode], *extra,
        ]  # fmt: skip
        env = {**os.environ, "WANDB_MODE": "disabled", "NO_ALBUMENTATIONS_UPDATE": "1"}
        t0 = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if out.returncode != 0:
            raise SystemExit(f"{mode} sweep failed:\n{out.stderr[-3000:]}")
        with open(Path(tmp) / "sweep" / "trials.csv") as f:
            seconds = [float(r["seconds"]) for r in csv.DictReader(f)]
    return {
        "mode": mode,
        "trials": trials,
        "wall_s": round(wall, 2),
        "trials_per_min": round(60 * trials / wall, 2),
        "mean_trial_s": round(statistics.mean(seconds), 3),
        "slowest_trial_s": round(max(seconds), 3),
    }


def main() -> None:
    """Interleave cached and uncached sweeps; print JSON lines."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", type=Path, required=True)
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("extra", nargs="*", help="more overrides (benchmark=..., benchmark.root=...)")
    args = ap.parse_args()
    rows = []
    for _ in range(args.rounds):
        for mode in MODES:
            rows.append(run(args.ckpt.resolve(), args.trials, mode, args.extra))
            print(json.dumps(rows[-1]), flush=True)
    med = {m: statistics.median(r["mean_trial_s"] for r in rows if r["mode"] == m) for m in MODES}
    tpm = {m: statistics.median(r["trials_per_min"] for r in rows if r["mode"] == m) for m in MODES}
    print(json.dumps({
        "median_trial_s": med, "median_trials_per_min": tpm,
        "trial_time_ratio_uncached_over_cached": round(med["uncached"] / med["cached"], 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
