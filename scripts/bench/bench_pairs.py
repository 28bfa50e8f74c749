"""Training-pair throughput of ONE process (no DataLoader workers, 1 thread); prints JSON.

    OMP_NUM_THREADS=1 taskset -c 0 python scripts/bench/bench_pairs.py --samples 2000 --runs 3 \
        [--pysot-data $DATA] [--work /tmp/bench_pairs] [--out pairs.json]

Paths measured with pysot's training settings (spec trackers.md §3: template 127, shift 4 /
scale 0.05; search 255, shift 64 / scale 0.18; PCA colour, probability 1; NEG 0.2; GRAY 0;
FRAME_RANGE 100), each with search blur 0 (pysot's r50 default, its 221 pairs/s) and 0.2 (its
training configs, 160 pairs/s; ``../shared/reference-bench/RESULTS.md``):

* ``full_frames``: on the fly from a generated GOT-10k-layout set of 640x360 JPEGs (quality 95).
* ``crop_cache``: the same pairs from its `build_crop_cache` 511-px crops (quality 95).
* with ``--pysot-data`` (``make_fake_dataset.py``'s ``crop511/`` + ``train.json``, pysot's exact
  input): ``pysot_files`` reads those 511-px JPEGs as frames (``pysot_crops`` source), and
  ``pysot_files_cache`` re-encodes the same crops as our cache (quality 95) and reads that.

Each run reads keys ``(0, 0, 0..samples-1)``, so runs do identical work; the median run is
reported. Time per pair is split into ``decode`` (reading and decoding images: full frames, or
the cache's region decode), ``sample`` (drawing the pair) and ``crop_augment`` (the rest: warps,
colour, blur, gray, tensors). ``targets`` is the SiamRPN anchor-target assignment
(`rpn_targets`, 25x25x5 anchors) that our LightningModule runs batched on the device, timed here
on the CPU for batches of 32 of the sampled boxes, per pair; ``*_with_targets`` adds it, for
comparison with pysot's loader, which assigns targets per pair inside ``__getitem__``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np
import torch

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import Sequence
from siamlightning.data.pairs import augment
from siamlightning.data.pairs.dataset import CropJitter, PairDataset
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.tools.crop_cache import CropCache, build_crop_cache
from siamlightning.data.tools.writers import write_got10k
from siamlightning.models.anchors import training_anchors
from siamlightning.models.rpn_targets import rpn_targets

PYSOT = {"pairs_per_s_blur0": 221.4, "pairs_per_s_blur0.2": 160.4, "source": "RESULTS.md §2"}


class _Timer:
    """Wraps a function and sums the seconds spent in it."""

    def __init__(self, fn: Callable) -> None:
        self.fn, self.total = fn, 0.0

    def __get__(self, obj: Any, owner: Any = None) -> Any:  # as a class attribute: a method
        return self if obj is None else types.MethodType(self, obj)

    def __call__(self, *args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return self.fn(*args, **kw)
        finally:
            self.total += time.perf_counter() - t


def _pairs(index: Any, cache: CropCache | None, blur: float) -> PairDataset:
    return PairDataset(
        sources=[index],
        sampler=PairSampler(frame_range=100, neg_prob=0.2),
        exemplar_size=127,
        search_size=255,
        template_jitter=CropJitter(4.0, 0.05),
        search_jitter=CropJitter(64.0, 0.18),
        gray_prob=0.0,
        augment_z=augment.Photometric(color="pca", color_prob=1.0),
        augment_x=augment.Photometric(color="pca", color_prob=1.0, blur_prob=blur),
        caches=[cache],
    )


def bench_path(ds: PairDataset, samples: int, runs: int) -> dict[str, Any]:
    """Median-run pairs/s and ms/pair split of ``ds[(0, 0, i)]``, i < samples."""
    read = _Timer(Sequence.read_frame)
    cread = _Timer(CropCache.read)
    Sequence.read_frame, CropCache.read = read, cread  # type: ignore[method-assign]
    draw = _Timer(ds.pairs.sample)
    ds.pairs.sample = draw  # type: ignore[method-assign]
    try:
        for i in range(min(50, samples)):  # warm-up: file cache, lazy imports
            ds[(0, 0, i)]
        out = []
        for _ in range(runs):
            read.total = cread.total = draw.total = 0.0
            t0 = time.perf_counter()
            for i in range(samples):
                ds[(0, 0, i)]
            total = time.perf_counter() - t0
            dec = read.total + cread.total
            out.append({"total": total, "decode": dec, "sample": draw.total})
    finally:
        Sequence.read_frame, CropCache.read = read.fn, cread.fn  # type: ignore[method-assign]
    run = sorted(out, key=lambda r: r["total"])[len(out) // 2]
    ms = {k: 1000 * v / samples for k, v in run.items()}
    return {
        "pairs_per_s": samples / run["total"],
        "runs_pairs_per_s": [round(samples / r["total"], 1) for r in out],
        "ms_per_pair": ms["total"],
        "decode_ms": ms["decode"],
        "sample_ms": ms["sample"],
        "crop_augment_ms": ms["total"] - ms["decode"] - ms["sample"],
    }


def bench_targets(ds: PairDataset, batch: int = 32, batches: int = 20) -> float:
    """ms per pair of `rpn_targets` on CPU for batches of ``batch`` sampled search boxes."""
    items = [ds[(0, 0, i)] for i in range(batch)]
    boxes = torch.stack([s["search_box"] for s in items])
    neg = torch.stack([s["negative"] for s in items])
    anchors = training_anchors(search_size=255, score_size=25, stride=8, image_center=127.5)
    gen = torch.Generator().manual_seed(0)
    rpn_targets(boxes, neg, anchors, generator=gen)
    t0 = time.perf_counter()
    for _ in range(batches):
        rpn_targets(boxes, neg, anchors, generator=gen)
    return 1000 * (time.perf_counter() - t0) / (batches * batch)


def _mean_kb(files: list[Path]) -> float:
    return float(np.mean([f.stat().st_size for f in files[:500]]) / 1024) if files else 0.0


def write_sets(work: Path, *, sequences: int = 20, length: int = 60) -> tuple[Path, Path]:
    """``work/GOT-10k``: generated 640x360 JPEGs (quality 95; kept if there); ``work/crop511``:
    its `build_crop_cache` (quality 95). Returns (GOT-10k root, crop cache folder)."""
    root = work / "GOT-10k"
    if not (root / "train" / "list.txt").is_file():
        synth = open_dataset(
            "synthetic", None, seed=0, num_sequences=sequences, length=length, width=640, height=360
        )
        write_got10k(synth, root, split="train", jpeg_quality=95)
    got = open_dataset("got10k", root, "train", cache=False)
    build_crop_cache(got, work / "crop511", quality=95, workers=2, progress=False)
    return root, work / "crop511"


def prepare(work: Path, pysot_data: str | None) -> dict[str, tuple[Any, Any, float]]:
    """Datasets of each path: name -> (index, crop cache or None, mean JPEG KB read)."""
    root, _ = write_sets(work)
    got = open_dataset("got10k", root, "train", cache=False)
    paths = {
        "full_frames": (got, None, _mean_kb(sorted((root / "train").rglob("*.jpg")))),
        "crop_cache": (
            got,
            CropCache(work / "crop511"),
            _mean_kb(sorted((work / "crop511").rglob("*.x.jpg"))),
        ),
    }
    if pysot_data:
        index = open_dataset("pysot_crops", pysot_data, cache=False)
        files = sorted(Path(pysot_data, "crop511").rglob("*.x.jpg"))
        paths["pysot_files"] = (index, None, _mean_kb(files))
        build_crop_cache(index, work / "pysot_cache", quality=95, workers=2, progress=False)
        kb = _mean_kb(sorted((work / "pysot_cache").rglob("*.x.jpg")))
        paths["pysot_files_cache"] = (index, CropCache(work / "pysot_cache"), kb)
    return paths


def main() -> None:
    """Parse arguments, build the inputs, time every path, print one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pysot-data", help="folder with crop511/ and train.json (pysot's input)")
    ap.add_argument("--work", help="folder for the generated data (default: a temporary one)")
    ap.add_argument("--blur", type=float, nargs="+", default=[0.0, 0.2])
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        paths = prepare(work, args.pysot_data)
        targets = bench_targets(_pairs(paths["full_frames"][0], None, 0.2))
        results: dict[str, Any] = {}
        for blur in args.blur:
            for name, (index, cache, kb) in paths.items():
                r = bench_path(_pairs(index, cache, blur), args.samples, args.runs)
                r["mean_jpeg_kb"] = round(kb, 1)
                r["pairs_per_s_with_targets"] = 1000 / (r["ms_per_pair"] + targets)
                results[f"{name}_blur{blur:g}"] = {k: _round(v) for k, v in r.items()}
    report = {
        "bench": "pairs",
        "settings": "pysot: z 127 shift 4 scale 0.05; x 255 shift 64 scale 0.18; PCA colour 1.0; "
        "NEG 0.2; GRAY 0; FRAME_RANGE 100; 1 process, 1 thread",
        "samples": args.samples,
        "runs": args.runs,
        "targets_ms_per_pair_batch32_cpu": round(targets, 4),
        "results": results,
        "pysot_reference": PYSOT,
        "env": {"python": platform.python_version(), "torch": torch.__version__,
                "opencv": cv2.__version__, "numpy": np.__version__, "cpu": platform.processor()},
    }  # fmt: skip
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


def _round(v: Any) -> Any:
    return round(v, 3) if isinstance(v, float) else v


if __name__ == "__main__":
    main()
