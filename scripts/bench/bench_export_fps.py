"""Tracking fps on the real Crossing sequence: exported graphs (onnxruntime) vs PyTorch; JSON.

    python scripts/bench/bench_export_fps.py --model siamfc siamrpn_alex_dwxcorr \
        siamrpn_r50_l234_dwxcorr --threads 1 2 --frames 60

Seeded random weights: ``siamfc`` is the quick-start network (``experiment=quickstart``: half
width, 255 search, 3 scales) with its tracker; pysot config names are their pysot layouts with
the published tracker (pysot crops). Each model is exported once to ONNX (a temporary
directory); then for each thread count both trackers (PyTorch fp32, ``torch.set_num_threads``;
onnxruntime, ``intra_op_num_threads``, same count) track frames 1..``--frames`` after init on
frame 0, interleaved over ``--rounds``, median taken. One JSON line per (model, threads):
``torch_fps``, ``onnx_fps`` (tracked frames / wall seconds of ``track`` calls, crops and
post-processing included; frame decoding excluded), ``speedup`` and ``max_box_diff_px``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_train_step import cpu_model  # scripts/bench is on sys.path

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"


def make_net(model: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A seeded random network of ``model`` and its tracker config."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from siamlightning.configs import compose
    from siamlightning.tracking.load import build_pysot_model, pysot_tracker_config

    torch.manual_seed(0)
    if model == "siamfc":
        cfg = compose("train", ["experiment=quickstart"])
        return instantiate(cfg.model.net).eval(), OmegaConf.to_container(cfg.tracker, resolve=True)
    return build_pysot_model(model).eval(), pysot_tracker_config(model)


def run_track(tracker: Any, frames: list[np.ndarray], box: np.ndarray) -> tuple[float, np.ndarray]:
    """(fps of the track calls, boxes) of one pass over ``frames``."""
    tracker.init(frames[0], box)
    boxes = []
    start = time.perf_counter()
    for frame in frames[1:]:
        boxes.append(tracker.track(frame).box)
    return (len(frames) - 1) / (time.perf_counter() - start), np.asarray(boxes)


def bench(model: str, threads: list[int], frames: list[np.ndarray], box: np.ndarray, rounds: int):
    """Yield one result dict per thread count."""
    import siamlightning
    from siamlightning.export import export_tracker
    from siamlightning.tracking.load import build_tracker

    net, cfg = make_net(model)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        export_tracker(net, cfg, Path(tmp) / model)
        export_s = time.perf_counter() - start
        for n in threads:
            torch.set_num_threads(n)
            eager = build_tracker(net, {**cfg, "precision": "fp32"})
            onnx = siamlightning.load_tracker(Path(tmp) / model, threads=n)
            t_fps, o_fps, diff = [], [], 0.0
            for _ in range(rounds):
                fps, want = run_track(eager, frames, box)
                t_fps.append(fps)
                fps, got = run_track(onnx, frames, box)
                o_fps.append(fps)
                diff = max(diff, float(np.abs(got - want).max()))
            tf, of = statistics.median(t_fps), statistics.median(o_fps)
            yield {
                "model": model,
                "threads": n,
                "frames": len(frames) - 1,
                "torch_fps": round(tf, 2),
                "onnx_fps": round(of, 2),
                "speedup": round(of / tf, 3),
                "max_box_diff_px": diff,
                "export_s": round(export_s, 1),
                "cpu": cpu_model() or platform.processor(),
                "torch": torch.__version__,
            }


def main() -> None:
    """Parse arguments, print one JSON line per (model, threads)."""
    from siamlightning.data.core.io import read_image

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", nargs="+", default=["siamfc", "siamrpn_alex_dwxcorr"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--real", type=Path, default=REAL)
    args = p.parse_args()
    seq = args.real / "Crossing"
    frames = [read_image(f) for f in sorted((seq / "img").glob("*.jpg"))[: args.frames]]
    box = np.loadtxt(seq / "groundtruth_rect.txt", delimiter=",")[0]
    for model in args.model:
        for row in bench(model, args.threads, frames, box, args.rounds):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
