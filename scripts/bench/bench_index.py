"""Index cache on a GOT-10k-sized dataset: build, then load/bind time and memory; prints JSON.

    python scripts/bench/bench_index.py --sequences 10000 --frames 1500000

Generates a GOT-10k train-like `SequenceIndex` in memory (no image files): frames
``<root>/GOT-10k_Train_%06d/%08d.jpg``, integer boxes, cover/absence/cut labels and the meta the
GOT-10k reader produces (``cover`` and ``visible_ratio`` per frame, ini keys, width/height).
Times `CompactIndex.from_index` + `save` (the cache build). Then, each in a fresh subprocess:

- ``cached``: `CompactIndex.open` (load), ``frame_table()``, ``PairSampler().bind([index])``,
  building 1000 random `Sequence`s, the pickle size, and the resident memory added (VmRSS after
  minus after imports; RssFile are shared page-cache pages of the memory maps) and the peak.
- ``uncached``: the same starting from the generated `SequenceIndex` (what parsing gives,
  without the file reading), for comparison.

``--disk N`` also writes N sequences in the GOT-10k layout (annotation files only, plus empty
first/last frames) and times the real reader, a cache build through ``open_dataset`` and a hit.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex

_INI = "object_class motion_class major_class root_class motion_adverb".split()


def generate(
    num: int, frames: int, seed: int = 0, root: str = "/data/GOT-10k/train"
) -> SequenceIndex:
    """A GOT-10k-train-like index of ``num`` sequences and ``frames`` frames in all."""
    rng = np.random.default_rng(seed)
    lens = rng.integers(51, 250, num)
    while lens.sum() != frames:  # spread the difference over random sequences
        d = frames - int(lens.sum())
        np.add.at(lens, rng.integers(0, num, abs(d)), int(np.sign(d)))
        lens = np.maximum(lens, 1)
    seqs = []
    for k, n in enumerate(lens.tolist()):
        name = f"GOT-10k_Train_{k + 1:06d}"
        folder = f"{root}/{name}"
        xy = rng.integers(0, 1000, 2) + np.cumsum(rng.integers(-3, 4, (n, 2)), axis=0)
        boxes = np.concatenate([xy, np.repeat(rng.integers(10, 300, (1, 2)), n, 0)], 1)
        cover = rng.choice(9, n, p=[0.03, *[0.02] * 7, 0.83]).astype(np.uint8)
        absent = cover == 0
        boxes = np.where(absent[:, None], np.nan, boxes.astype(np.float64))
        meta = {"annotation_file": f"{folder}/groundtruth.txt", "folder": folder}
        meta.update({key: "unknown" for key in _INI}, anno_fps="10Hz", width=1280, height=720)
        meta.update(cover=cover, visible_ratio=cover / 8.0)
        seqs.append(
            Sequence(
                name,
                [f"{folder}/{i:08d}.jpg" for i in range(1, n + 1)],
                boxes,
                absent=absent,
                occluded=(cover >= 1) & (cover <= 7),
                out_of_view=rng.random(n) < 0.05,
                meta=meta,
            )
        )
    return SequenceIndex(seqs, name="got10k", root=root)


def _status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of this process in bytes."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) * 1024
    return out


def measure(mode: str, folder: str, num: int, frames: int) -> dict[str, float]:
    """Load (mode ``cached``: open the folder; ``uncached``: generate), table, bind, memory."""
    from siamlightning.data.index.compact import CompactIndex
    from siamlightning.data.pairs.sampling import PairSampler

    before = _status()
    t0 = time.perf_counter()
    index = CompactIndex.open(folder) if mode == "cached" else generate(num, frames)
    t1 = time.perf_counter()
    table = index.frame_table()
    t2 = time.perf_counter()
    PairSampler().bind([index])
    t3 = time.perf_counter()
    picks = np.random.default_rng(0).integers(0, len(index), 1000)
    n = sum(len(index[int(k)]) for k in picks)
    t4 = time.perf_counter()
    after = _status()
    return {
        "load_s": t1 - t0,
        "frame_table_s": t2 - t1,
        "bind_s": t3 - t2,
        "sequence_us": (t4 - t3) / len(picks) * 1e6,
        "frames": int(table.offsets[-1]),
        "frames_of_built_sequences": n,
        "pickle_bytes": len(pickle.dumps(index)),
        "rss_added_mb": (after["VmRSS"] - before["VmRSS"]) / 2**20,
        "rss_anon_added_mb": (after["RssAnon"] - before["RssAnon"]) / 2**20,
        "rss_file_added_mb": (after["RssFile"] - before["RssFile"]) / 2**20,
        "peak_added_mb": (after["VmHWM"] - before["VmRSS"]) / 2**20,
    }


def _child(mode: str, folder: str, num: int, frames: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--measure", mode, "--folder", folder]
    cmd += ["--sequences", str(num), "--frames", str(frames)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def disk(num: int, work: Path) -> dict[str, float]:
    """Write ``num`` GOT-10k sequences (annotations only), time the reader and the cache."""
    from siamlightning.data import open_dataset

    index = generate(num, num * 150, root=str(work / "GOT-10k" / "train"))
    base = work / "GOT-10k" / "train"
    for s in index:
        d = base / s.name
        d.mkdir(parents=True)
        (d / s.frames[0]).touch()
        (d / s.frames[-1]).touch()
        np.savetxt(d / "groundtruth.txt", np.nan_to_num(s.boxes), fmt="%.4f", delimiter=",")
        for key, v in (
            ("absence", s.absent),
            ("cover", s.meta["cover"]),
            ("cut_by_image", s.out_of_view),
        ):
            np.savetxt(d / f"{key}.label", np.asarray(v, int), fmt="%d")
        (d / "meta_info.ini").write_text(
            "[METAINFO]\nobject_class: unknown\nresolution: (1280, 720)\n"
        )
    (base / "list.txt").write_text("\n".join(index.names) + "\n")
    out = {"sequences": num}
    for key, cache in (
        ("reader_s", False),
        ("build_s", str(work / "c")),
        ("hit_s", str(work / "c")),
    ):
        t0 = time.perf_counter()
        open_dataset("got10k", work / "GOT-10k", "train", cache=cache)
        out[key] = time.perf_counter() - t0
    return out


def main() -> None:
    """Parse arguments; build the cache, measure both modes in fresh processes, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=1_500_000)
    ap.add_argument("--disk", type=int, default=0, help="also time the reader on N sequences")
    ap.add_argument("--measure", choices=["cached", "uncached"], help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.folder, args.sequences, args.frames)))
        return
    from siamlightning.data.index.compact import CompactIndex

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        index = generate(args.sequences, args.frames)
        t1 = time.perf_counter()
        folder = CompactIndex.from_index(index).save(Path(tmp) / "index")
        t2 = time.perf_counter()
        del index
        size = sum(p.stat().st_size for p in folder.iterdir())
        report = {
            "sequences": args.sequences,
            "frames": args.frames,
            "generate_s": t1 - t0,
            "build_s": t2 - t1,
            "disk_mb": size / 2**20,
            "cached": _child("cached", str(folder), args.sequences, args.frames),
            "uncached": _child("uncached", str(folder), args.sequences, args.frames),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
        if args.disk:
            report["disk"] = disk(args.disk, Path(tmp))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
