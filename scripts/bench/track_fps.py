"""Tracking speed of a checkpoint on one OTB-layout sequence, first frame excluded; prints JSON.

    python scripts/bench/track_fps.py --ckpt outputs/.../last.ckpt \
        --sequence ../shared/data/real/Crossing --threads 2 --precision fp32 bf16 --runs 3

Like ``../shared/reference-bench/bench_track.py``: an untimed warm-up pass, then ``--runs`` timed
passes; fps = tracked frames / summed ``track()`` time (frame decoding excluded); median reported.
``box_diff_px`` (with fp32 and another precision): mean / max over frames of the mean
|box - box_fp32| over x, y, w, h, from the last timed pass.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    """Parse arguments, run the passes, print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--sequence", required=True, help="an OTB-layout sequence folder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    from siamlightning import load_tracker
    from siamlightning.data import open_dataset

    seq_dir = Path(args.sequence)
    seq = open_dataset("otb", seq_dir.parent, sequences=[seq_dir.name])[0]
    frames = [seq.read_frame(i) for i in range(len(seq))]
    out = {
        "sequence": seq.name,
        "frames": len(frames),
        "size": list(frames[0].shape[1::-1]),
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor(),
        "results": {},
    }
    last: dict[str, np.ndarray] = {}
    for prec in args.precision:
        tracker = load_tracker(args.ckpt, precision=prec)
        fps_runs = []
        for run in range(args.runs + 1):
            tracker.init(frames[0], seq.boxes[0])
            total, boxes = 0.0, []
            for f in frames[1:]:
                t = time.perf_counter()
                res = tracker.track(f)
                total += time.perf_counter() - t
                boxes.append(np.asarray(res.box, dtype=np.float64))
            if run > 0:  # run 0 is the warm-up
                fps_runs.append((len(frames) - 1) / total)
        out["results"][prec] = {"fps": statistics.median(fps_runs), "runs": fps_runs}
        last[prec] = np.stack(boxes)
    for prec in args.precision:
        if prec != "fp32" and "fp32" in last:
            d = np.abs(last[prec] - last["fp32"]).mean(axis=1)
            out["results"][prec]["box_diff_px"] = {
                "mean": round(float(d.mean()), 3),
                "max": round(float(d.max()), 3),
            }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
