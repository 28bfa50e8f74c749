"""DAVIS J&F parity: `siamlightning.metrics.vos` against davis2017-evaluation itself.

    D17_DIR=/tmp/d17 D17_PYTHON=/tmp/d17venv/bin/python \
        python scripts/compare/davis_eval_parity.py [--seed 0] [--real /work/shared/data/real]

``D17_DIR`` is a copy of davisvideochallenge/davis2017-evaluation (``git archive`` of the fetched
snapshot); ``D17_PYTHON`` a throwaway interpreter with numpy, opencv-python-headless,
scikit-image, pillow and scipy. The reference (GPL) is never imported here: it runs in a
subprocess (`REFERENCE_RUNNER`) on ``.npz`` files this script writes, and answers in ``.npz`` /
JSON. Three checks, each reporting the max |difference| (NaN against NaN counts as 0):

1. Per frame J (``db_eval_iou``) and F (``db_eval_boundary``), on (N, H, W) stacks and on one
   (H, W) frame, of random masks (blobs, shifted / eroded / dilated copies, empty, full, thin
   lines, single pixels, last row / column, checkerboards), with and without void regions, at
   854x480, 910x480, 1280x720, 100x37, 37x100 and tiny sizes, with bound_th 0.008 and a few
   others (1, 2.5, 3, 0.02, 0); plus the real DAVIS masks found under ``--real`` (each
   ``davis_<seq>/masks``) against the reference's own OSVOS results for that sequence (in
   ``D17_DIR/results``) and against shifted / eroded copies of themselves.
2. Statistics (``db_statistics``) of random vectors of 1-300 frames with NaNs and values at 0.5:
   ``statistics(v)`` for n <= 255, ``statistics(v, official_uint8=True)`` for every n.
3. End to end: a DAVIS-layout root (``ImageSets/2017/val.txt``, ``Annotations/480p``) with the
   real sequences and random multi-object sequences (void = 255, fewer result objects than GT),
   scored by the reference's ``DAVISEvaluation(task="semi-supervised")`` and by `VOSMetric`
   fed the same PNGs the same way (first and last frame dropped, void unused): the seven global
   numbers and every object's J and F mean.
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
from PIL import Image

from siamlightning.metrics.vos import boundary_measure, region_similarity, statistics
from siamlightning.metrics.vos_torchmetrics import DAVIS_COLUMNS, VOSMetric

REFERENCE_RUNNER = r"""
import json, sys, types, warnings
import numpy as np
sys.path.insert(0, sys.argv[1])
warnings.simplefilter("ignore")
try:
    import tqdm  # noqa: F401  (evaluation.py imports it; not needed otherwise)
except ImportError:
    sys.modules["tqdm"] = types.SimpleNamespace(tqdm=lambda x, **k: x)
from davis2017.metrics import db_eval_boundary, db_eval_iou
from davis2017.utils import db_statistics
mode, src, dst = sys.argv[2], sys.argv[3], sys.argv[4]
if mode == "frames":
    data, out = np.load(src), {}
    for i in range(int(data["n_cases"])):
        pred, gt, th = data[f"{i}_pred"], data[f"{i}_gt"], float(data[f"{i}_th"])
        void = data[f"{i}_void"] if f"{i}_void" in data.files else None
        out[f"{i}_j"] = np.asarray(db_eval_iou(gt, pred, void), dtype=np.float64)
        out[f"{i}_f"] = np.asarray(db_eval_boundary(gt, pred, void, bound_th=th), np.float64)
        v0 = None if void is None else void[0]
        out[f"{i}_j2"] = np.float64(db_eval_iou(gt[0], pred[0], v0))
        out[f"{i}_f2"] = np.float64(db_eval_boundary(gt[0], pred[0], v0, bound_th=th))
    for i in range(int(data["n_stats"])):
        out[f"stat_{i}"] = np.array(db_statistics(data[f"stat_{i}"]), dtype=np.float64)
    np.savez(dst, **out)
else:
    from davis2017.evaluation import DAVISEvaluation
    ev = DAVISEvaluation(davis_root=src, task="semi-supervised", gt_set="val", codalab=True)
    res = ev.evaluate(sys.argv[5])
    J, F = res["J"], res["F"]
    out = {"global": [(np.mean(J["M"]) + np.mean(F["M"])) / 2.0] + [
        float(np.mean(m[k])) for m in (J, F) for k in ("M", "R", "D")],
        "J": {k: float(v) for k, v in J["M_per_object"].items()},
        "F": {k: float(v) for k, v in F["M_per_object"].items()}}
    json.dump(out, open(dst, "w"))
"""

SIZES = [(480, 854), (480, 910), (720, 1280), (37, 100), (100, 37), (5, 3), (1, 7), (2, 2)]
BOUNDS = [0.008, 0.008, 0.008, 1.0, 2.5, 3.0, 0.02, 0.0]


def blob(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random irregular mask (H, W) bool: ellipses, or thresholded smoothed noise."""
    if rng.random() < 0.5:
        m = np.zeros((h, w), np.uint8)
        for _ in range(rng.integers(1, 4)):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(1, max(2, w // 3))), int(rng.integers(1, max(2, h // 3))))
            cv2.ellipse(m, c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        return m > 0
    noise = rng.random((h, w)).astype(np.float32)
    k = 2 * int(rng.integers(1, max(2, min(h, w) // 8))) + 1
    return cv2.GaussianBlur(noise, (k, k), 0) > rng.uniform(0.45, 0.55)


def special(rng: np.random.Generator, h: int, w: int, kind: int) -> np.ndarray:
    """Edge cases: empty, full, thin lines, single pixels, last row/column, checkerboard."""
    m = np.zeros((h, w), np.uint8)
    if kind == 1:
        m[:] = 1
    elif kind == 2:
        for _ in range(3):
            p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(m, p0, p1, 1, 1)
    elif kind == 3:
        m[rng.integers(0, h, 5), rng.integers(0, w, 5)] = 1
    elif kind == 4:
        m[-1, :] = 1
        m[:, -1] = rng.random(h) < 0.5
    elif kind == 5:
        m[:] = (np.indices((h, w)).sum(axis=0) % 2) == 0
    return m > 0


def perturbed(rng: np.random.Generator, gt: np.ndarray) -> np.ndarray:
    """A prediction near ``gt``: shifted, eroded, dilated, or with an extra blob."""
    k = int(rng.integers(0, 4))
    if k == 0:
        dy, dx = (int(x) for x in rng.integers(-3, 4, 2))
        h, w = gt.shape
        return np.pad(gt, 3)[3 - dy : 3 - dy + h, 3 - dx : 3 - dx + w]  # zero-filled shift
    if k in (1, 2):
        op = cv2.erode if k == 1 else cv2.dilate
        kern = np.ones((int(rng.integers(2, 6)),) * 2, np.uint8)
        return op(gt.astype(np.uint8), kern) > 0
    return gt | blob(rng, *gt.shape)


def frame_pair(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """One (pred, gt) frame: mostly related blobs, sometimes edge cases on either side."""
    r = rng.random()
    gt = blob(rng, h, w) if r < 0.7 else special(rng, h, w, int(rng.integers(0, 6)))
    r = rng.random()
    if r < 0.6:
        return perturbed(rng, gt), gt
    if r < 0.8:
        return blob(rng, h, w), gt
    return special(rng, h, w, int(rng.integers(0, 6))), gt


def random_cases(rng: np.random.Generator) -> list[dict[str, np.ndarray | float]]:
    """Stacks of frames per size and bound_th, half of them with void rectangles."""
    cases = []
    for (h, w), th in zip(SIZES, BOUNDS):
        for with_void in (False, True):
            n = 6 if h * w > 500_000 else 16
            pairs = [frame_pair(rng, h, w) for _ in range(n)]
            case = {
                "pred": np.stack([p for p, _ in pairs]),
                "gt": np.stack([g for _, g in pairs]),
                "th": th,
            }
            if with_void:
                void = np.zeros((n, h, w), bool)
                for i in range(n):
                    y, x = rng.integers(0, h), rng.integers(0, w)
                    void[i, y : y + rng.integers(1, h + 1), x : x + rng.integers(1, w + 1)] = True
                void[1] = True  # one all-void frame
                case["void"] = void
            cases.append(case)
    return cases


def real_sequences(real: Path, d17: Path) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """name -> (GT labels (T, H, W) uint8 with the object as 1, OSVOS labels or None)."""
    out = {}
    for seq_dir in sorted(real.glob("davis_*")):
        files = sorted((seq_dir / "masks").glob("*.png"))
        if not files:
            continue
        name = seq_dir.name.removeprefix("davis_")
        gt = np.stack([(np.array(Image.open(f)) > 0).astype(np.uint8) for f in files])
        osvos_dir = d17 / "results" / "semi-supervised" / "osvos" / name
        res = sorted(osvos_dir.glob("*.png"))
        osvos = np.stack([np.array(Image.open(f)) for f in res]) if len(res) == len(gt) else None
        out[name] = (gt, osvos)
    return out


def real_cases(
    rng: np.random.Generator, seqs: dict[str, tuple[np.ndarray, np.ndarray | None]]
) -> list[dict[str, np.ndarray | float]]:
    """Real GT against OSVOS (object 1) and against perturbed copies of itself."""
    cases = []
    for gt, osvos in seqs.values():
        g = gt > 0
        if osvos is not None:
            cases.append({"pred": osvos == 1, "gt": g, "th": 0.008})
        cases.append({"pred": np.stack([perturbed(rng, x) for x in g]), "gt": g, "th": 0.008})
    return cases


def stat_vectors(rng: np.random.Generator, real_j: list[np.ndarray]) -> list[np.ndarray]:
    """Per-frame vectors of 1-300 frames: random, with NaNs, with values exactly 0.5."""
    vecs = list(real_j)
    for n in [1, 2, 3, 4, 5, 8, 10, 48, 100, 255, 256, 257, 300, *rng.integers(1, 301, 40)]:
        v = rng.random(int(n))
        v[rng.random(int(n)) < 0.1] = 0.5
        if rng.random() < 0.5:
            v[rng.random(int(n)) < 0.2] = np.nan
        vecs.append(v)
    vecs.append(np.full(7, np.nan))
    return vecs


def run_reference(args: argparse.Namespace, *argv: str) -> None:
    cmd = [args.d17_python, "-c", REFERENCE_RUNNER, str(args.d17_dir), *argv]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"reference run failed ({cmd[0]}):\n{done.stderr[-4000:]}")


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| with NaN == NaN (0) and NaN != number (inf)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        return float("inf")
    both = np.isnan(a) & np.isnan(b)
    d = np.where(both, 0.0, np.abs(a - b))
    return float(np.max(np.where(np.isnan(d), np.inf, d), initial=0.0))


def check_frames(args, tmp, cases, vecs) -> dict[str, float | int]:
    data: dict[str, np.ndarray] = {"n_cases": np.array(len(cases)), "n_stats": np.array(len(vecs))}
    for i, c in enumerate(cases):
        for k, v in c.items():
            data[f"{i}_{k}"] = np.asarray(v)
    for i, v in enumerate(vecs):
        data[f"stat_{i}"] = v
    np.savez(tmp / "frames.npz", **data)
    run_reference(args, "frames", str(tmp / "frames.npz"), str(tmp / "frames_ref.npz"))
    ref = np.load(tmp / "frames_ref.npz")
    dj = df = dj2 = df2 = 0.0
    for i, c in enumerate(cases):
        void = c.get("void")
        dj = max(dj, max_diff(region_similarity(c["pred"], c["gt"], void), ref[f"{i}_j"]))
        f = boundary_measure(c["pred"], c["gt"], void, bound_th=c["th"])
        df = max(df, max_diff(f, ref[f"{i}_f"]))
        v0 = None if void is None else void[0]
        dj2 = max(dj2, max_diff(region_similarity(c["pred"][0], c["gt"][0], v0), ref[f"{i}_j2"]))
        f2 = boundary_measure(c["pred"][0], c["gt"][0], v0, bound_th=c["th"])
        df2 = max(df2, max_diff(f2, ref[f"{i}_f2"]))
    ds_int = ds_u8 = 0.0
    for i, v in enumerate(vecs):
        want = ref[f"stat_{i}"]
        if v.size <= 255:
            ds_int = max(ds_int, max_diff(statistics(v), want))
        ds_u8 = max(ds_u8, max_diff(statistics(v, official_uint8=True), want))
    return {
        "cases": len(cases),
        "frames": int(sum(len(c["gt"]) for c in cases)),
        "max_abs_dJ_frame": dj,
        "max_abs_dF_frame": df,
        "max_abs_dJ_2d": dj2,
        "max_abs_dF_2d": df2,
        "stat_vectors": len(vecs),
        "max_abs_dstat_int_n<=255": ds_int,
        "max_abs_dstat_uint8_all_n": ds_u8,
    }


def write_png(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels.astype(np.uint8)).save(path)


def davis_root(rng, tmp, seqs) -> tuple[Path, Path, list[str]]:
    """A DAVIS-layout root and result folder: real sequences plus random multi-object ones."""
    root, res = tmp / "davis", tmp / "results"
    names = []
    for name, (gt, osvos) in seqs.items():
        pred = osvos if osvos is not None else np.stack([perturbed(rng, g > 0) for g in gt])
        for t in range(len(gt)):
            write_png(root / "Annotations" / "480p" / name / f"{t:05d}.png", gt[t])
            write_png(res / name / f"{t:05d}.png", pred[t])
        names.append(name)
    for s, (h, w) in enumerate([(480, 854), (480, 910), (37, 100), (64, 48)]):
        n_obj, n = int(rng.integers(1, 4)), int(rng.integers(4, 12))
        name = f"random{s}"
        for t in range(n):
            gt, pred = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
            for k in range(1, n_obj + 1):
                p, g = frame_pair(rng, h, w)
                gt[g & (gt == 0)] = k
                if k < n_obj or s % 2 == 0:  # odd sequences: one object fewer in results
                    pred[p & (pred == 0)] = k
            gt[blob(rng, h, w) & (rng.random() < 0.3)] = 255  # void
            gt[0, 0] = 255
            if t == 0:  # every object in the first frame (it sets the object count)
                gt[h // 2, w // 2 + np.arange(1, n_obj + 1)] = np.arange(1, n_obj + 1)
            write_png(root / "Annotations" / "480p" / name / f"{t:05d}.png", gt)
            write_png(res / name / f"{t:05d}.png", pred)
        names.append(name)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(names) + "\n")
    return root, res, names


def ours_on_root(root: Path, res: Path, names: list[str]) -> tuple[VOSMetric, dict, dict]:
    """`VOSMetric` on the DAVIS root the way the semi-supervised protocol reads it."""
    metric, j_means, f_means = VOSMetric(), {}, {}
    for name in names:
        files = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
        gt = np.stack([np.array(Image.open(f)) for f in files])
        gt[gt == 255] = 0  # void is dropped, and not used by the semi-supervised task
        n_obj = int(gt[0].max())
        scored = files[1:-1]
        pred = np.stack([np.array(Image.open(res / name / f.name)) for f in scored])
        for k in range(1, n_obj + 1):
            j, f = metric.update_masks(pred == k, gt[1:-1] == k, seq=name, obj=k)
            j_means[f"{name}_{k}"] = statistics(j).mean
            f_means[f"{name}_{k}"] = statistics(f).mean
    return metric, j_means, f_means


def check_end_to_end(args, tmp, rng, seqs) -> dict[str, float | int]:
    root, res, names = davis_root(rng, tmp, seqs)
    run_reference(args, "davis", str(root), str(tmp / "davis_ref.json"), str(res))
    ref = json.loads((tmp / "davis_ref.json").read_text())
    metric, j_means, f_means = ours_on_root(root, res, names)
    out = metric.compute()
    ours = [out[k].item() for k in DAVIS_COLUMNS]
    keys = sorted(ref["J"])
    assert keys == sorted(j_means), (keys, sorted(j_means))
    return {
        "sequences": len(names),
        "objects": int(out["num_objects"]),
        "ours_global": dict(zip(DAVIS_COLUMNS.values(), ours)),
        "max_abs_dglobal": max_diff(ours, ref["global"]),
        "max_abs_dJ_object_mean": max_diff([j_means[k] for k in keys], [ref["J"][k] for k in keys]),
        "max_abs_dF_object_mean": max_diff([f_means[k] for k in keys], [ref["F"][k] for k in keys]),
    }


def main() -> None:
    """Run the three checks and print their max |difference| as JSON; exit 1 above --tol."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d17-dir", default=os.environ.get("D17_DIR", "/tmp/d17"))
    ap.add_argument("--d17-python", default=os.environ.get("D17_PYTHON", sys.executable))
    ap.add_argument("--real", default="/work/shared/data/real", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tol", type=float, default=1e-9)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    seqs = real_sequences(args.real, Path(args.d17_dir)) if args.real.is_dir() else {}
    if not seqs:
        print(f"no real DAVIS masks under {args.real} (davis_<seq>/masks/*.png): skipped them")
    report: dict[str, object] = {
        "real_sequences": {
            k: {"frames": len(g), "osvos": o is not None} for k, (g, o) in seqs.items()
        }
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cases = random_cases(rng) + real_cases(rng, seqs)
        real_j = [region_similarity(c["pred"], c["gt"]) for c in real_cases(rng, seqs)]
        report["frames"] = check_frames(args, tmp, cases, stat_vectors(rng, real_j))
        report["end_to_end"] = check_end_to_end(args, tmp, rng, seqs)
    print(json.dumps(report, indent=2))
    worst = max(
        v
        for part in ("frames", "end_to_end")
        for k, v in report[part].items()  # type: ignore[union-attr]
        if k.startswith("max_abs")
    )
    print(f"worst max |difference|: {worst:.3g} (tolerance {args.tol:g})")
    sys.exit(0 if worst <= args.tol else 1)


if __name__ == "__main__":
    main()
