"""SiamRPN / SiamRPN++ tracking fps with random (seeded) weights; prints JSON.

    OMP_NUM_THREADS=2 taskset -c 0,1 python scripts/bench/bench_track_rpn.py --threads 2

Mirrors ``../shared/reference-bench/bench_track.py`` (pysot): the synthetic 100-frame 640x360
sequence ``common.make_sequence(100, 640, 360, seed=0)`` (imported from the reference bench when
it is there, else an identical copy), weights after ``torch.manual_seed(seed)``, an untimed
10-frame warm-up pass, then ``--runs`` passes where ``init`` is untimed and the 99 ``track()``
calls are timed; fps = 99 / their summed time; the median run is reported. Time is split into
``fwd`` (``tracker._forward``), ``crop`` (``tracker._crop``: crop, BGR flip, tensor) and
``post`` (the rest). The reference frames are BGR; they are flipped to RGB (untimed) so the
network sees the same bytes as pysot's. ``box_diff_px`` compares the bf16 and fp32 boxes of the
last timed run: mean (and max) over frames of the mean |box_bf16 - box_fp32| over x, y, w, h.
``--ckpt siamrpn_r50_l234_dwxcorr=last.ckpt`` uses trained weights for that config (random
weights give flat score maps, where bf16 rounding flips the chosen anchor). ``--device cuda``
runs the network on the GPU; the fwd / crop timers then synchronize it before reading the clock.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference-bench"
CONFIGS = ["siamrpn_alex_dwxcorr", "siamrpn_r50_l234_dwxcorr", "siamrpn_mobilev2_l234_dwxcorr"]


def _own_make_sequence(n_frames: int, width: int, height: int, seed: int, ow=64, oh=48):
    """Same draws as the reference bench's ``common.make_sequence`` (BGR frames, GT boxes)."""
    import cv2

    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:oh, 0:ow]
    checker = (((yy // 8) + (xx // 8)) % 2).astype(np.float32)
    base = rng.randint(40, 216, size=3).astype(np.float32)
    tex = np.stack([base[c] + 60 * (checker - 0.5) * (-1 if c == 1 else 1) for c in range(3)], -1)
    small = rng.randint(0, 256, (max(2, oh // 6), max(2, ow // 6), 3)).astype(np.uint8)
    blobs = cv2.resize(small, (ow, oh), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    tex = np.clip(0.6 * tex + 0.4 * blobs + rng.normal(0, 8, (oh, ow, 3)), 0, 255)
    tex = tex.astype(np.uint8)
    frames, boxes = [], []
    for t in range(n_frames):
        img = rng.randint(0, 256, (height, width, 3)).astype(np.uint8)
        ph = 2 * np.pi * t / n_frames
        x0 = round(width / 2 + 0.35 * width * np.sin(ph) - ow / 2)
        y0 = round(height / 2 + 0.30 * height * np.sin(2 * ph + 0.5) - oh / 2)
        img[y0 : y0 + oh, x0 : x0 + ow] = tex
        frames.append(img)
        boxes.append([float(x0), float(y0), float(ow), float(oh)])
    return frames, boxes


def make_sequence(n_frames: int, width: int, height: int, seed: int, reference: Path):
    """The reference bench's sequence: (BGR frames, boxes) and where it came from."""
    path = reference / "common.py"
    if path.is_file():
        spec = importlib.util.spec_from_file_location("reference_bench_common", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return (*mod.make_sequence(n_frames, width, height, seed), str(path))
    return (*_own_make_sequence(n_frames, width, height, seed), "own copy")


class Timer:
    """Accumulates the wall time of the wrapped callable (CUDA synchronized when ``sync``)."""

    def __init__(self, fn, sync: bool = False):
        self.fn, self.total, self.sync = fn, 0.0, sync

    def __call__(self, *a, **k):
        if self.sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        try:
            return self.fn(*a, **k)
        finally:
            if self.sync:
                torch.cuda.synchronize()
            self.total += time.perf_counter() - t0


def bench(name: str, precision: str, frames, boxes, args) -> dict:
    """Warm-up + ``args.runs`` timed passes of one config at one precision."""
    from siamlightning.tracking.load import (
        build_pysot_model,
        build_tracker,
        load_net,
        pysot_tracker_config,
    )

    torch.manual_seed(args.seed)
    ckpt = dict(c.split("=", 1) for c in args.ckpt).get(name)
    if ckpt:  # trained weights (a siamlightning-train checkpoint of this config)
        net, export = load_net(ckpt)
        tracker = build_tracker(net, export["tracker"], precision=precision, device=args.device)
    else:
        net = build_pysot_model(name)
        tracker = build_tracker(
            net, pysot_tracker_config(name), precision=precision, device=args.device
        )
    sync = tracker.device.type == "cuda"
    t_fwd, t_crop = Timer(tracker._forward, sync), Timer(tracker._crop, sync)
    tracker._forward, tracker._crop = t_fwd, t_crop

    def run(n: int) -> dict:
        tracker.init(frames[0], boxes[0])
        t_fwd.total = t_crop.total = 0.0
        total, out = 0.0, []
        for img in frames[1:n]:
            t0 = time.perf_counter()
            res = tracker.track(img)
            total += time.perf_counter() - t0
            out.append(res.box)
        k = len(out)
        post = total - t_fwd.total - t_crop.total
        return {
            "fps": k / total,
            "fwd_ms": 1000 * t_fwd.total / k,
            "crop_ms": 1000 * t_crop.total / k,
            "post_ms": 1000 * post / k,
            "boxes": np.stack(out),
        }

    run(args.warmup_frames)
    runs = [run(len(frames)) for _ in range(args.runs)]
    med = {
        k: statistics.median(r[k] for r in runs) for k in ("fps", "fwd_ms", "crop_ms", "post_ms")
    }
    return {
        "loadavg_1min": round(os.getloadavg()[0], 2),
        **{k: round(v, 3) for k, v in med.items()},
        "fwd_only_fps": round(1000 / med["fwd_ms"], 3),
        "runs_fps": [round(r["fps"], 3) for r in runs],
        "search_size": tracker.search_size,
        "last_box": [round(float(v), 2) for v in runs[-1]["boxes"][-1]],
        "_boxes": runs[-1]["boxes"],
    }


def main() -> None:
    """Parse arguments, benchmark every config and precision, print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=CONFIGS)
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="where the network runs: cpu, cuda, cuda:1")
    ap.add_argument("--warmup-frames", type=int, default=10)
    ap.add_argument("--reference-bench", type=Path, default=REFERENCE)
    ap.add_argument(
        "--ckpt",
        nargs="*",
        default=[],
        metavar="CONFIG=PATH",
        help="use a trained checkpoint's weights and tracker for CONFIG (else seeded random)",
    )
    args = ap.parse_args()

    import cv2

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    bgr, boxes, source = make_sequence(
        args.frames, args.width, args.height, args.seed, args.reference_bench
    )
    frames = [np.ascontiguousarray(f[..., ::-1]) for f in bgr]  # our trackers take RGB
    out = {
        "bench": "track_rpn",
        "sequence": {"frames": args.frames, "size": [args.width, args.height], "source": source},
        "threads": args.threads,
        "device": args.device,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "loadavg_start": [round(v, 2) for v in os.getloadavg()],
        "results": {},
    }
    for name in args.configs:
        res = {p: bench(name, p, frames, boxes, args) for p in args.precision}
        if "fp32" in res and "bf16" in res:
            diff = np.abs(res["bf16"]["_boxes"] - res["fp32"]["_boxes"]).mean(axis=1)
            res["box_diff_px"] = {
                "mean": round(float(diff.mean()), 3),
                "max": round(float(diff.max()), 3),
            }
        for p in args.precision:
            res[p].pop("_boxes")
        out["results"][name] = res
    out["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
