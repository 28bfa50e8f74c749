"""Pairs/s of the training DataLoader that `siamlightning-train` builds; one JSON line per run.

    taskset -c 0,1 python scripts/bench/bench_loader.py --workers 0 1 2 --batch 32 \
        --batches 20 --warmup-batches 2 --runs 3 --source full_frames crop_cache \
        --work /tmp/bench_loader

The loader is the real one: ``conf/train.yaml`` composed with ``experiment=<--experiment>``
(default ``siamrpn_r50_l234_dwxcorr``: ``data/pysot.yaml`` with pysot's augmentation
``data/augment/pysot.yaml``, the pysot crop geometry) and ``data.batch_size``,
``data.num_workers``, no validation set, and one training source in place of pysot's mix:
bench_pairs.py's generated GOT-10k-layout set of 640x360 JPEGs (quality 95; written once into
``--work``), read as full frames (``full_frames``) or through its `build_crop_cache` 511-px crops
(``crop_cache``, the fast path: ``siamlightning-prep crop``). ``instantiate(cfg.data)`` builds the
`TrackingDataModule` as the CLI does; its ``train_dataloader()`` is iterated (keys of epoch 0).

Each run starts a fresh loader (fresh worker processes): ``startup_s`` is the time to its first
batch (worker start-up + the first batch), then ``--warmup-batches`` batches in all (the first one
included; 0 counts as 1) are not timed - at least the worker count, since the workers' first
batches arrive together - then ``--batches`` timed batches give ``pairs_per_s``; the median run
is reported (every run reads the same keys, so runs do identical work). ``workers`` and
``batch`` are read back from the DataLoader itself. ``wait_s_per_batch`` is the mean time the
main process waited for the next batch: the time a training step would stall.

The main process competes with the workers for the same cores, as it does in real training, where
it runs the Lightning loop and drives the GPU (launching kernels; a CUDA synchronisation
spin-waits by default while fewer CUDA contexts than cores are active, so a rank's main process
can hold a whole core for the duration of each step). By default it only receives batches (with
``--workers 0`` it also makes them). ``--main-busy-s S`` makes it spin S seconds of CPU after each
batch, the host side of a step of S seconds: pairs/s then reads ``batch / S`` when the loader
keeps up and less when it starves the step (``wait_s_per_batch`` > 0). Run under ``taskset`` with
the cores a rank has on the target node (2 of 16 for 8 GPUs). The generated set is small enough
to stay in the OS file cache: reads from disk are not measured.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch

SOURCES = ("full_frames", "crop_cache")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling bench scripts import as modules


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=20, help="timed batches per run")
    ap.add_argument("--warmup-batches", type=int, default=2, help="untimed first batches")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--source", choices=SOURCES, nargs="+", default=list(SOURCES))
    ap.add_argument("--experiment", default="siamrpn_r50_l234_dwxcorr", help="a conf/experiment")
    ap.add_argument("--work", help="folder for the generated data (default: a temporary one)")
    ap.add_argument("--sequences", type=int, default=20, help="generated sequences")
    ap.add_argument("--length", type=int, default=60, help="frames per generated sequence")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the main process")
    ap.add_argument("--main-busy-s", type=float, default=0.0, help="main-process CPU per batch")
    args = ap.parse_args(argv)
    for key in ("batch", "batches", "warmup_batches", "runs", "sequences", "length", "threads"):
        least = 0 if key == "warmup_batches" else 1
        if getattr(args, key) < least:
            ap.error(f"--{key.replace('_', '-')} must be >= {least}, got {getattr(args, key)}")
    if min(args.workers) < 0:
        ap.error(f"--workers must be >= 0, got {args.workers}")
    if args.main_busy_s < 0:
        ap.error(f"--main-busy-s must be >= 0, got {args.main_busy_s}")
    return args


def compose_data_config(*, experiment: str, batch: int, batches: int) -> Any:
    """The ``train`` config of ``experiment``: ``batches`` batches of ``batch`` pairs per epoch,
    no validation set; `use_source` then sets the training source and worker count."""
    from siamlightning.configs import compose

    overrides = [
        f"experiment={experiment}",
        f"data.batch_size={batch}",
        f"data.samples_per_epoch={batch * batches}",
        "data.val_sources=[]",
    ]
    return compose("train", overrides)


def use_source(cfg: Any, *, source: dict[str, Any], workers: int) -> Any:
    """``cfg`` with ``source`` as its only training source and ``workers`` loader workers."""
    cfg.data.train_sources = [source]
    cfg.data.num_workers = workers
    return cfg


def busy(seconds: float) -> None:
    """Spin ``seconds`` of CPU in this process (a training step's host-side work)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def shapes(batch: dict[str, Any]) -> dict[str, list[int]]:
    """Shape of each entry of a collated batch (a list's length for lists of strings)."""
    return {k: list(v.shape) if torch.is_tensor(v) else [len(v)] for k, v in batch.items()}


def time_run(datamodule: Any, *, warmup: int, batches: int, main_busy_s: float) -> dict[str, Any]:
    """One pass of a fresh ``train_dataloader()``: start-up, then ``batches`` timed batches."""
    loader = datamodule.train_dataloader()
    t0 = time.perf_counter()
    it = iter(loader)
    batch = next(it)
    startup = time.perf_counter() - t0
    for _ in range(max(warmup, 1) - 1):
        busy(main_busy_s)
        batch = next(it)
    wait = 0.0
    t0 = time.perf_counter()
    for _ in range(batches):
        busy(main_busy_s)
        t = time.perf_counter()
        batch = next(it)
        wait += time.perf_counter() - t
    timed = time.perf_counter() - t0
    out = {"startup_s": startup, "timed_s": timed, "wait_s": wait, "shapes": shapes(batch),
           "workers": loader.num_workers, "batch": loader.batch_size}  # fmt: skip
    del it, loader, batch  # persistent workers: shut them down before the next run
    gc.collect()
    return out


def measure(cfg: Any, *, runs: int, warmup: int, batches: int, main_busy_s: float) -> dict:
    """Median-run figures of the DataModule ``instantiate(cfg.data)`` builds."""
    from hydra.utils import instantiate

    t0 = time.perf_counter()
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    setup = time.perf_counter() - t0
    have, need = len(datamodule.train_dataloader()), batches + max(warmup, 1)
    if have != need:
        raise RuntimeError(f"the loader has {have} batches, {need} expected")
    res = [
        time_run(datamodule, warmup=warmup, batches=batches, main_busy_s=main_busy_s)
        for _ in range(runs)
    ]
    run = sorted(res, key=lambda r: r["timed_s"])[len(res) // 2]
    pairs = batches * run["batch"]
    return {
        "workers": run["workers"],  # the loader's own
        "batch": run["batch"],
        "pairs_per_s": pairs / run["timed_s"],
        "runs_pairs_per_s": [round(pairs / r["timed_s"], 1) for r in res],
        "batch_s": run["timed_s"] / batches,
        "wait_s_per_batch": run["wait_s"] / batches,
        "startup_s": statistics.median(r["startup_s"] for r in res),
        "setup_s": setup,
        "batch_shapes": run["shapes"],
    }


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run every (source, workers) measurement; print one JSON line each and return them."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    import bench_pairs
    import bench_train_step as train_step

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        root, cache = bench_pairs.write_sets(work, sequences=args.sequences, length=args.length)
        cfg = compose_data_config(
            experiment=args.experiment,
            batch=args.batch,
            batches=args.batches + max(args.warmup_batches, 1),
        )
        for source in args.source:
            spec = {"name": "got10k", "root": str(root), "split": "train",
                    "options": {"cache": str(work / "index_cache")}}  # fmt: skip
            if source == "crop_cache":
                spec["crop_cache"] = str(cache)
            for workers in args.workers:
                r = measure(
                    use_source(cfg, source=spec, workers=workers),
                    runs=args.runs,
                    warmup=args.warmup_batches,
                    batches=args.batches,
                    main_busy_s=args.main_busy_s,
                )
                out = {
                    "bench": "loader",
                    "experiment": args.experiment,
                    "source": source,
                    "batches": args.batches,
                    "warmup_batches": args.warmup_batches,
                    "runs": args.runs,
                    "main_busy_s": args.main_busy_s,
                    "threads": args.threads,
                    "cores": len(os.sched_getaffinity(0)),
                    **{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()},
                    "cpu": train_step.cpu_model(),
                    "torch": torch.__version__,
                }
                print(json.dumps(out), flush=True)
                results.append(out)
    return results


if __name__ == "__main__":
    main()
