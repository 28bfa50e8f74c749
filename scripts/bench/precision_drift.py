"""Per-step bf16 (or fp16) vs fp32 box disagreement of a checkpoint's tracker; prints JSON.

    python scripts/bench/precision_drift.py --ckpt last.ckpt --sequence ../shared/data/real/bag

Two trackers (fp32 and the other precision) start on frame 0; at every frame both start from the
fp32 tracker's state (centre and size), so the reported difference is the one step's numerical
effect, not two trajectories drifting apart after a failure. Reports mean / max over frames of
the mean |box - box_fp32| over x, y, w, h, and the fraction of frames above 1 px.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    """Parse arguments, run both trackers in lock-step, print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--sequence", required=True, help="an OTB-layout sequence folder")
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from siamlightning import load_tracker
    from siamlightning.data import open_dataset

    seq_dir = Path(args.sequence)
    seq = open_dataset("otb", seq_dir.parent, sequences=[seq_dir.name])[0]
    ref, low = (
        load_tracker(args.ckpt, precision="fp32"),
        load_tracker(args.ckpt, precision=args.precision),
    )
    frame = seq.read_frame(0)
    ref.init(frame, seq.boxes[0])
    low.init(frame, seq.boxes[0])
    diffs = []
    for i in range(1, len(seq)):
        low.center, low.size = ref.center.copy(), ref.size.copy()
        frame = seq.read_frame(i)
        a, b = ref.track(frame).box, low.track(frame).box
        diffs.append(float(np.abs(np.asarray(b) - np.asarray(a)).mean()))
    d = np.asarray(diffs)
    out = {"sequence": seq.name, "frames": len(d), "precision": args.precision,
           "box_diff_px": {"mean": round(float(d.mean()), 3), "max": round(float(d.max()), 3),
                           "frames_over_1px": round(float((d > 1).mean()), 3)}}  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
