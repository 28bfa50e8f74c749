"""VOT ``variant="pysot"`` parity: our EAO / accuracy / robustness against pysot's own toolkit.

    PYSOT_DIR=/work/pysot_build PYSOT_PYTHON=/work/pysot_venv/bin/python \
        python scripts/compare/vot_pysot_toolkit.py [--seeds 0 1 2] [--sequences 12]

``PYSOT_DIR`` holds pysot's ``toolkit/`` with its Cython ``region`` extension built in place
(``python setup.py build_ext --inplace`` in a copy of the pysot tree); ``PYSOT_PYTHON`` is a
throwaway interpreter that has numpy, opencv-python-headless, pillow, tqdm and colorama. pysot
is never imported here: it runs in a subprocess (`PYSOT_RUNNER`) and answers in JSON.

Per seed, a random VOT2018-like case (`make_case`): sequences of 20-420 frames and random image
sizes, ground truth as float polygons (rotated boxes, partly outside the image) or float
rectangles, 15 runs or 1 run per sequence (pysot reads all 15 only when exactly 15 exist), each
run a tracker-like trajectory (``1``, float rectangles or polygons near the target, ``2`` then
four ``0`` and ``1`` five frames later; failures forced near the sequence end, where pysot's EAO
admits a re-init point ``f + 5 == N``). The case is written as the official VOT layout (ours) and
as pysot's ``VOT2018.json`` (its ``VOTDataset``); ``--nan-rate`` writes that share of the
tracking regions as ``nan,nan,nan,nan`` (both score them as overlap 0);
``score_vot_folder(..., variant="pysot")`` and pysot's ``EAOBenchmark`` /
``AccuracyRobustnessBenchmark`` score the same result folder, the
latter's numbers taken as its ``show_result`` prints them (accuracy = nanmean of the per-frame
run means, robustness = 100 * mean over runs of failures / frames, lost number = mean over
runs of the failures). Prints per seed both results and the max |difference|, as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

PYSOT_RUNNER = r"""
import json, sys, warnings
import numpy as np
sys.path.insert(0, sys.argv[1])
from toolkit.datasets import VOTDataset
from toolkit.evaluation import AccuracyRobustnessBenchmark, EAOBenchmark
warnings.simplefilter("ignore")
dataset = VOTDataset("VOT2018", sys.argv[2])
dataset.set_tracker(sys.argv[3], [sys.argv[4]])
name = sys.argv[4]
ar = AccuracyRobustnessBenchmark(dataset).eval(name)[name]
eao = EAOBenchmark(dataset).eval(name)[name]["all"]
overlaps = [o for v in ar["overlaps"].values() for o in v]
length = sum(len(v) for v in ar["overlaps"].values())
failures = list(ar["failures"].values())
out = {"eao": float(eao), "accuracy": float(np.nanmean(overlaps))}
if len({len(f) for f in failures}) == 1:  # show_result needs equal run counts
    out["robustness"] = float(np.mean(np.sum(np.array(failures), axis=0) / length) * 100)
    out["failures"] = float(np.mean(np.sum(failures, axis=0)))
print(json.dumps(out))
"""


def _polygon(rng: np.random.Generator, cx: float, cy: float, w: float, h: float) -> np.ndarray:
    """A rotated w x h box around (cx, cy) -> (8,) corners."""
    a = rng.uniform(-0.6, 0.6)
    c, s = np.cos(a), np.sin(a)
    corners = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) / 2
    return (corners @ np.array([[c, s], [-s, c]]) + [cx, cy]).ravel()


def _fmt(values: np.ndarray, rng: np.random.Generator) -> str:
    """Region values as trackers write them: ``%.4f`` (pysot), ``%.2f`` or full precision."""
    style = rng.integers(3)
    if style == 0:
        return ",".join(f"{v:.4f}" for v in values)
    if style == 1:
        return ",".join(f"{v:.2f}" for v in values)
    return ",".join(repr(float(v)) for v in values)


def _run_lines(rng: np.random.Generator, gt: np.ndarray, n: int, nan_rate: float) -> list[str]:
    """One reset-based run (n lines): init, noisy regions (a ``nan_rate`` share of them NaN),
    failures with the 5-frame skip."""
    lines, f = ["1"], 1
    forced = {int(rng.integers(max(n - 7, 1), n))} if rng.random() < 0.5 else set()
    p_fail = rng.uniform(0.0, 0.05)
    while f < n:
        if f in forced or rng.random() < p_fail:
            lines.append("2")
            skip = min(4, n - f - 1)
            lines += ["0"] * skip
            f += 1 + skip
            if f < n:
                lines.append("1")
                f += 1
            continue
        xs, ys = gt[f, 0::2], gt[f, 1::2]
        cx = xs.mean() + rng.normal(0, 3)
        cy = ys.mean() + rng.normal(0, 3)
        w = (xs.max() - xs.min()) * rng.uniform(0.7, 1.3)
        h = (ys.max() - ys.min()) * rng.uniform(0.7, 1.3)
        if rng.random() < 0.7:
            region = np.array([cx - w / 2, cy - h / 2, w, h])
        else:
            region = _polygon(rng, cx, cy, w, h)
        nan = nan_rate > 0 and rng.random() < nan_rate  # no draw at 0: the pinned cases stay
        lines.append("nan,nan,nan,nan" if nan else _fmt(region, rng))
        f += 1
    return lines


def make_case(
    seed: int, root: Path, num_sequences: int, nan_rate: float = 0.0
) -> tuple[Path, Path]:
    """Write a random case under ``root`` -> (dataset root, result folder of tracker ``t``)."""
    rng = np.random.default_rng(seed)
    data, results = root / "VOT2018", root / "results" / "t"
    data.mkdir(parents=True)
    names = [f"seq{k:02d}" for k in range(num_sequences)]
    meta = {}
    mixed, same_runs = seed % 2 == 1, 15 if seed % 4 == 0 else 1  # odd seeds: 15 and 1 mixed
    for name in names:
        n = int(rng.integers(20, 420))
        width, height = int(rng.integers(120, 1300)), int(rng.integers(90, 760))
        rect_gt = rng.random() < 0.3
        cx = width / 2 + np.cumsum(rng.normal(0, 4, n)) + rng.uniform(-0.45, 0.45) * width
        cy = height / 2 + np.cumsum(rng.normal(0, 4, n)) + rng.uniform(-0.45, 0.45) * height
        w = np.clip(rng.uniform(15, 0.4 * width) + np.cumsum(rng.normal(0, 1, n)), 6, None)
        h = np.clip(rng.uniform(15, 0.4 * height) + np.cumsum(rng.normal(0, 1, n)), 6, None)
        if rect_gt:
            gt = np.stack([cx - w / 2, cy - h / 2, w, h], 1).round(2)
            x, y, x2, y2 = gt[:, 0], gt[:, 1], gt[:, 0] + gt[:, 2], gt[:, 1] + gt[:, 3]
            poly = np.stack([x, y, x2, y, x2, y2, x, y2], 1)
        else:
            gt = np.stack([_polygon(rng, *v) for v in zip(cx, cy, w, h)]).round(2)
            poly = gt
        seq_dir = data / name
        (seq_dir / "color").mkdir(parents=True)
        first = seq_dir / "color" / "00000001.jpg"
        cv2.imwrite(str(first), np.zeros((height, width, 3), np.uint8))
        for i in range(2, n + 1):
            (seq_dir / "color" / f"{i:08d}.jpg").symlink_to(first.name)
        np.savetxt(seq_dir / "groundtruth.txt", gt, fmt="%.2f", delimiter=",")
        runs = 15 if rng.random() < 0.6 else 1
        runs = runs if mixed else same_runs
        out = results / "baseline" / name
        out.mkdir(parents=True)
        for r in range(1, runs + 1):
            lines = _run_lines(rng, poly, n, nan_rate)
            (out / f"{name}_{r:03d}.txt").write_text("\n".join(lines) + "\n")
        img_names = [str((seq_dir / "color" / f"{i:08d}.jpg").resolve()) for i in range(1, n + 1)]
        zeros = [0] * n
        meta[name] = {
            "video_dir": name,
            "init_rect": [float(v) for v in gt[0][:4]],
            "img_names": img_names,
            "gt_rect": gt.tolist(),
            **{k: zeros for k in ("camera_motion", "illum_change", "motion_change")},
            **{k: zeros for k in ("size_change", "occlusion")},
        }
    (data / "list.txt").write_text("\n".join(names) + "\n")
    (data / "VOT2018.json").write_text(json.dumps(meta))
    return data, results


def run_pysot(pysot_dir: str, python: str, data: Path, results: Path) -> dict[str, float]:
    """pysot's toolkit on the case, in a subprocess -> eao, accuracy, robustness, failures."""
    cmd = [python, "-c", PYSOT_RUNNER, pysot_dir, str(data), str(results.parent), results.name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"pysot's toolkit failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ours(data: Path, results: Path) -> dict[str, float]:
    """``score_vot_folder(variant="pysot")`` on the case -> eao, accuracy, robustness, failures."""
    from siamlightning.data import open_dataset
    from siamlightning.evaluation.vot_reset_scoring import score_vot_folder

    index = open_dataset("vot", data)
    o = score_vot_folder(results, index, year=2018, variant="pysot").overall.values
    return {k: float(o[k]) for k in ("eao", "accuracy", "robustness", "failures")}


def main() -> None:
    """Parse the arguments, score every seed's case with both toolkits, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--sequences", type=int, default=12)
    ap.add_argument("--nan-rate", type=float, default=0.0, help="share of NaN tracking regions")
    ap.add_argument("--pysot-dir", default=os.environ.get("PYSOT_DIR"))
    ap.add_argument("--pysot-python", default=os.environ.get("PYSOT_PYTHON", sys.executable))
    args = ap.parse_args()
    if not args.pysot_dir:
        ap.error("set PYSOT_DIR (or --pysot-dir) to a pysot tree with toolkit/ built")
    report, worst = {}, dict.fromkeys(("eao", "accuracy", "robustness", "failures"), 0.0)
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            data, results = make_case(seed, Path(tmp), args.sequences, args.nan_rate)
            theirs = run_pysot(args.pysot_dir, args.pysot_python, data, results)
            ours = run_ours(data, results)
        diff = {k: abs(ours[k] - theirs[k]) if k in theirs else 0.0 for k in worst}
        worst = {k: max(worst[k], diff[k]) for k in worst}
        report[str(seed)] = {"pysot": theirs, "ours": ours, "abs_diff": diff}
    print(json.dumps({"cases": report, "max_abs_diff": worst}, indent=1))


if __name__ == "__main__":
    main()
