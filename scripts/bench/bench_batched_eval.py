"""Aggregate frames/s of OPE evaluation, sequential vs ``evaluate.batch_sequences=K``; JSON lines.

    python scripts/bench/bench_batched_eval.py --model siamfc siamrpn_alex_dwxcorr \
        --k 1 4 16 --sequences 16 --length 40 --threads 2
    python scripts/bench/bench_batched_eval.py --model siamrpn_r50_l234_dwxcorr --device cuda \
        --k 1 16 64 --sequences 64 --length 100

Runs `siamlightning.evaluation.ope.run_ope` (what ``siamlightning-eval`` runs) on the synthetic
benchmark's renderer (``synthetic_heldout``'s 320x240 frames at seeds 900000..., ``--sequences``
of ``--length`` frames; the frames are rendered once and kept in memory by the frame cache
before any timing, so decoding is not measured) with seeded random weights: ``siamfc`` is
``model=siamfc``'s network (full width, 255 search) with ``tracker=siamfc``; pysot config names
are their pysot layouts with their published tracker (pysot crops). One line per (model, K):
``fps`` = tracked frames (frame 0 of each sequence excluded) / wall seconds of the whole run
(inits, crops, post-processing included), ``tracker_fps`` from the runner's per-frame times,
``speedup`` over K = 1 of the same model, and ``max_box_diff_px`` / ``max_score_diff`` against
K = 1 (the batched = sequential check, on data the tests never saw). The runs of each model are
interleaved over ``--rounds`` and the median taken.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from bench_train_step import cpu_model  # scripts/bench is on sys.path


def make_factory(model: str, device: str, precision: str) -> Any:
    """A tracker factory around one seeded random network of ``model``."""
    from hydra.utils import instantiate

    from siamlightning.configs import compose
    from siamlightning.tracking.load import build_pysot_model, build_tracker, pysot_tracker_config

    torch.manual_seed(0)
    if model == "siamfc":
        cfg = compose("train", ["model=siamfc", "tracker=siamfc"])
        net = instantiate(cfg.model.net).eval()
        tracker_cfg: dict = dict(cfg.tracker)
    else:
        net = build_pysot_model(model).eval()
        tracker_cfg = pysot_tracker_config(model)
    tracker_cfg = {**tracker_cfg, "device": device, "precision": precision}
    return lambda: build_tracker(net, tracker_cfg)


def make_index(sequences: int, length: int) -> Any:
    """The synthetic benchmark's renderer, ``sequences`` x ``length`` frames, pre-rendered."""
    from siamlightning.data import open_dataset
    from siamlightning.data.core.frame_cache import enable_frame_cache

    enable_frame_cache(4 << 30)
    index = open_dataset(
        "synthetic",
        None,
        seed=900000,
        num_sequences=sequences,
        length=length,
        width=320,
        height=240,
    )
    for seq in index:
        for i in range(len(seq)):
            seq.read_frame(i)
    return index


def one_run(factory: Any, index: Any, k: int) -> tuple[float, dict[str, Any]]:
    """(wall seconds, results) of one OPE pass at ``batch_sequences=k``."""
    from siamlightning.evaluation.ope import run_ope

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    results = run_ope(factory, index, None, progress=False, batch_sequences=k)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0, results


def measure(
    model: str,
    ks: Sequence[int],
    *,
    sequences: int,
    length: int,
    rounds: int = 1,
    device: str = "cpu",
    precision: str = "fp32",
) -> list[dict[str, Any]]:
    """One row per K for ``model``: fps, tracker fps, speed-up and differences against K=1."""
    factory = make_factory(model, device, precision)
    index = make_index(sequences, length)
    frames = sum(len(s) - 1 for s in index)
    one_run(factory, index.shard(0, max(1, len(index) // 2)), max(ks))  # warm-up (2 sequences)
    walls: dict[int, list[float]] = {k: [] for k in ks}
    last: dict[int, dict] = {}
    for _ in range(rounds):
        for k in ks:
            wall, last[k] = one_run(factory, index, k)
            walls[k].append(wall)
    ref = last[min(ks)]
    rows = []
    for k in ks:
        wall = statistics.median(walls[k])
        times = np.concatenate([r.times[1:] for r in last[k].values()])
        box = max(float(np.abs(last[k][n].boxes - ref[n].boxes).max()) for n in ref)
        rows.append(
            {
                "model": model,
                "k": k,
                "fps": frames / wall,
                "tracker_fps": frames / float(times.sum()),
                "wall_s": wall,
                "speedup": statistics.median(walls[min(ks)]) / wall,
                "max_box_diff_px": box,
                "frames": frames,
                "sequences": sequences,
                "rounds": rounds,
                "device": device if device == "cpu" else torch.cuda.get_device_name(),
                "precision": precision,
                "threads": torch.get_num_threads(),
                "cpu": cpu_model() or platform.processor(),
                "torch": torch.__version__,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Parse the arguments, measure every model, print one JSON line per (model, K)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="+", default=["siamfc", "siamrpn_alex_dwxcorr"])
    ap.add_argument("--k", nargs="+", type=int, default=[1, 4, 16])
    ap.add_argument("--sequences", type=int, default=16)
    ap.add_argument("--length", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    rows = []
    for model in args.model:
        for row in measure(
            model,
            args.k,
            sequences=args.sequences,
            length=args.length,
            rounds=args.rounds,
            device=args.device,
            precision=args.precision,
        ):
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


if __name__ == "__main__":
    main()
