"""pysot parity: our nets and trackers against pysot's, same weights and frames; prints JSON.

    PYSOT_DIR=/tmp/pysot OMP_NUM_THREADS=2 python scripts/bench/compare_pysot.py \
        --no-channels-last [--configs siamrpn_alex_dwxcorr ...] [--frames 30 --r50-frames 10]

(``--no-channels-last``: our net in pysot's NCHW layout, so both nets agree bit for bit.)

``PYSOT_DIR`` is a pysot source tree (``git --git-dir=<snapshot> archive HEAD | tar -x``); only
its pure-Python model and tracker code are imported. ``yacs`` is stubbed when it is not
installed; ``np.float`` and the OpenCV-version test of pysot's SiamMaskTracker are shimmed.

Per config (each in its own process: pysot's ``cfg`` is a global):

1. pysot's ``ModelBuilder`` from ``experiments/<config>/config.yaml`` after
   ``torch.manual_seed(seed)``. pysot's init alone gives logits around 1e6 (no normalisation
   anywhere), so unless ``--no-calibrate`` the BN statistics are set from one template/search
   pair of the sequence (train-mode forward, cumulative average): outputs become O(1) and a
   1e-5 comparison means something. The state dict is saved to a file.
2. ``siamlightning.load_tracker(config, weights=file)`` loads it into our net.
3. ``net``: pysot's template/track/mask_refine and ours on the same crop tensors: max |diff| of
   the template features, cls, loc, the mask head and the refined mask at three positions.
4. ``tracker``: both trackers unmodified on the same frames, ours as `load_tracker` builds it
   (``crop_convention="pysot"``: pysot's integer crop window, pixel-index centre, clipping
   range and mask paste-back); the boxes must agree to float error (pysot decodes the anchors
   in float32, we in float64). ``tracker_reset`` puts both states on the previous frame's
   ground truth before every step (no accumulation). ``--crop-convention exact`` shows how far
   our own convention drifts from pysot's instead.

SiamMask also reports mask IoU (threshold 0.15), the max |difference| of the mask
probabilities and of the polygon bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import cv2
import numpy as np
import torch

CONFIGS = [
    "siamrpn_alex_dwxcorr",
    "siamrpn_r50_l234_dwxcorr",
    "siamrpn_mobilev2_l234_dwxcorr",
    "siammask_r50_l3",
]
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


def _stub_yacs() -> None:
    """A minimal ``yacs.config.CfgNode``: attribute dict with a recursive ``merge_from_file``."""
    import yaml

    class CfgNode(dict):
        def __init__(self, init: dict | None = None, new_allowed: bool = False) -> None:
            super().__init__()
            for k, v in (init or {}).items():
                self[k] = CfgNode(v) if isinstance(v, dict) else v

        __getattr__ = dict.__getitem__

        def __setattr__(self, key, value) -> None:
            self[key] = value

        def merge_from_file(self, path: str) -> None:
            with open(path) as f:
                self._merge(yaml.safe_load(f))

        def _merge(self, other: dict) -> None:
            for k, v in other.items():
                if isinstance(v, dict) and isinstance(self.get(k), CfgNode):
                    self[k]._merge(v)
                else:
                    self[k] = CfgNode(v) if isinstance(v, dict) else v

    mod, sub = types.ModuleType("yacs"), types.ModuleType("yacs.config")
    sub.CfgNode = CfgNode
    mod.config = sub
    sys.modules.update({"yacs": mod, "yacs.config": sub})


def _import_pysot(config: str):
    root = os.environ.get("PYSOT_DIR")
    if not root or not (Path(root) / "pysot" / "core" / "config.py").is_file():
        sys.exit(
            "set PYSOT_DIR to a pysot source tree (the folder holding pysot/ and experiments/)"
        )
    sys.path.insert(0, root)
    try:
        import yacs.config  # noqa: F401
    except ImportError:
        _stub_yacs()
    if not hasattr(np, "float"):
        setattr(np, "float", float)  # noqa: B010 (pysot's SiamMaskTracker._crop_back)
    from pysot.core.config import cfg

    cfg.merge_from_file(str(Path(root) / "experiments" / config / "config.yaml"))
    cfg.CUDA = False
    import pysot.tracker.siammask_tracker as smt

    if cv2.__version__.split(".")[0] != "4":  # pysot tests __version__[-5] == '4' for 2 returns
        proxy = types.ModuleType("cv2")
        proxy.__dict__.update({k: getattr(cv2, k) for k in dir(cv2) if not k.startswith("__")})
        proxy.__version__ = "4.0.0"
        smt.cv2 = proxy
    from pysot.models.model_builder import ModelBuilder
    from pysot.tracker.tracker_builder import build_tracker

    return cfg, ModelBuilder, build_tracker


def _sequence(name: str, frames: int) -> tuple[list[np.ndarray], np.ndarray, str]:
    """BGR frames and x, y, w, h boxes of a real sequence, else a synthetic one."""
    folder = REAL / name
    if folder.is_dir():
        paths = sorted((folder / "img").glob("*.jpg"))[:frames]
        gt = np.loadtxt(folder / "groundtruth_rect.txt", delimiter=",")[: len(paths)]
        return [cv2.imread(str(p)) for p in paths], gt, str(folder)
    from siamlightning.data import open_dataset

    seq = open_dataset("synthetic", None, seed=0, num_sequences=1, length=frames)[0]
    imgs = [seq.read_frame(i)[..., ::-1].copy() for i in range(frames)]
    return imgs, np.asarray(seq.boxes), "synthetic seed 0"


def _diff(a: torch.Tensor, b: torch.Tensor) -> dict:
    a, b = a.detach().float().reshape(-1), b.detach().float().reshape(-1)
    return {"max_abs": float((a - b).abs().max()), "ref_max_abs": float(a.abs().max())}


def _calibrate(model, tracker, frames, gt) -> None:
    """BN statistics of one template / search pair (train-mode forward, cumulative average)."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    z, x = _pysot_crops(tracker, frames, gt)
    model.train()
    with torch.no_grad():
        model.template(z)
        model.track(x)
    model.eval()


def _pysot_crops(tracker, frames, gt, size=255):
    """pysot's exemplar crop of frame 0 and search crop of frame 1 around the frame-0 box."""
    x, y, w, h = gt[0]
    pos = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
    s_z = np.sqrt((w + (w + h) / 2) * (h + (w + h) / 2))
    avg = np.mean(frames[0], axis=(0, 1))
    z = tracker.get_subwindow(frames[0], pos, 127, round(s_z), avg)
    return z, tracker.get_subwindow(frames[1], pos, size, round(s_z * size / 127), avg)


def _compare_nets(cfg, model, ours, tracker, frames, gt, fmt) -> dict:
    z, x = _pysot_crops(tracker, frames, gt, cfg.TRACK.INSTANCE_SIZE)
    with torch.no_grad():
        model.template(z)
        theirs = model.track(x)
        z2, x2 = z.contiguous(memory_format=fmt), x.contiguous(memory_format=fmt)
        mask_net = hasattr(ours, "refine_head")
        z_f = ours.features(z2)[1] if mask_net else ours.features(z2)
        out = ours(ours.template(z2), x2)
        zfs = z_f if isinstance(z_f, list) else [z_f]
        pz = model.zf if isinstance(model.zf, list) else [model.zf]
        res = {
            "template": _diff(
                torch.cat([t.flatten() for t in pz]), torch.cat([t.flatten() for t in zfs])
            )
        }
        res["cls"], res["loc"] = _diff(theirs["cls"], out[0]), _diff(theirs["loc"], out[1])
        if mask_net:
            res["mask"] = _diff(theirs["mask"], out.mask)
            worst = {"max_abs": 0.0, "ref_max_abs": 0.0}
            for pos in [(0, 0), (12, 12), (3, 20)]:
                d = _diff(model.mask_refine(pos), ours.mask(out, pos))
                worst = {k: max(worst[k], d[k]) for k in worst}
            res["refine"] = worst
    return res


def _run_trackers(cfg, pysot_tracker, ours, frames, gt, reset: bool = False) -> list[dict]:
    """Both trackers over the frames; ``reset`` puts both states on the previous GT box first."""
    pysot_tracker.init(frames[0], [float(v) for v in gt[0]])
    ours.init(np.ascontiguousarray(frames[0][..., ::-1]), gt[0])
    rows = []
    with torch.no_grad():
        for i, img in enumerate(frames[1:]):
            if reset:
                x, y, w, h = gt[i]
                pysot_tracker.center_pos = np.array([x + (w - 1) / 2, y + (h - 1) / 2])
                ours.center = ours.box_center(gt[i])
                pysot_tracker.size = ours.size = np.array([w, h], dtype=np.float64)
            p = pysot_tracker.track(img)
            o = ours.track(np.ascontiguousarray(img[..., ::-1]))
            row = {"pysot": [float(v) for v in p["bbox"]], "ours": o.box.tolist()}
            if "polygon" in p:
                thr = cfg.TRACK.MASK_THERSHOLD
                a, b = p["mask"] > thr, o.mask > thr
                row["mask_iou"] = float((a & b).sum() / max((a | b).sum(), 1))
                row["mask_max_abs"] = float(np.abs(p["mask"] - o.mask).max())
                pp, op = np.reshape(p["polygon"], (4, 2)), o.polygon.reshape(4, 2)
                bounds = [np.r_[q.min(0), q.max(0)] for q in (pp, op)]
                row["polygon_bounds_diff"] = float(np.abs(bounds[0] - bounds[1]).max())
            rows.append(row)
    return rows


def _summary(rows: list[dict]) -> dict:
    d = np.array([np.abs(np.subtract(r["ours"], r["pysot"])) for r in rows])
    out = {
        "box_max_abs_px": float(d.max()),
        "box_mean_abs_px": float(d.mean()),
        "box_median_abs_px": float(np.median(d)),
        "per_frame_max_px": [round(float(v), 6) for v in d.max(1)],
    }
    if "mask_iou" in rows[0]:
        out["mask_iou_min"] = min(r["mask_iou"] for r in rows)
        out["mask_iou_mean"] = float(np.mean([r["mask_iou"] for r in rows]))
        out["mask_prob_max_abs"] = max(r["mask_max_abs"] for r in rows)
        out["polygon_bounds_max_px"] = max(r["polygon_bounds_diff"] for r in rows)
    return out


def compare(
    config: str,
    frames_n: int,
    sequence: str,
    seed: int,
    *,
    calibrate: bool = True,
    channels_last: bool = True,
    net_only: bool = False,
    crop_convention: str = "pysot",
) -> dict:
    """One config: net outputs and tracker boxes, ours against pysot's."""
    cfg, ModelBuilder, build_tracker = _import_pysot(config)
    from siamlightning import load_tracker

    frames, gt, source = _sequence(sequence, frames_n)
    torch.manual_seed(seed)
    model = ModelBuilder().eval()
    pysot_tracker = build_tracker(model)
    if calibrate:
        _calibrate(model, pysot_tracker, frames, gt)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pth"
        torch.save(model.state_dict(), path)
        overrides = {"channels_last": channels_last, "precision": "fp32"}  # pysot runs fp32
        if crop_convention != "pysot":  # load_tracker's own choice for pysot weights is "pysot"
            overrides["crop_convention"] = crop_convention
        ours = load_tracker(config, weights=path, **overrides)
    result = {
        "config": config,
        "frames": len(frames),
        "sequence": source,
        "seed": seed,
        "bn_calibrated": calibrate,
        "keys": len(model.state_dict()),
        "channels_last": channels_last,
        "crop_convention": ours.crop_convention,
        "net": _compare_nets(cfg, model, ours.net, pysot_tracker, frames, gt, ours.memory_format),
    }
    if net_only:
        return result
    for reset in (False, True):
        rows = _run_trackers(cfg, pysot_tracker, ours, frames, gt, reset)
        result["tracker" + ("_reset" if reset else "")] = _summary(rows)
    return result


def main() -> None:
    """Run every config in its own process and print one JSON document."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configs", nargs="+", default=CONFIGS)
    ap.add_argument("--sequence", default="bag", help="folder of ../shared/data/real")
    ap.add_argument("--frames", type=int, default=30, help="frames for alex / mobilenet")
    ap.add_argument("--r50-frames", type=int, default=10, help="frames for ResNet-50 configs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-calibrate", action="store_true")
    ap.add_argument("--no-channels-last", action="store_true", help="our net in NCHW as pysot's")
    ap.add_argument("--net-only", action="store_true", help="skip the tracker comparisons")
    ap.add_argument("--crop-convention", default="pysot", choices=["pysot", "exact"])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        n = args.r50_frames if "r50" in args.one else args.frames
        res = compare(
            args.one,
            n,
            args.sequence,
            args.seed,
            calibrate=not args.no_calibrate,
            channels_last=not args.no_channels_last,
            net_only=args.net_only,
            crop_convention=args.crop_convention,
        )
        print(json.dumps(res))
        return
    results = []
    for config in args.configs:
        cmd = [sys.executable, __file__, "--one", config, "--sequence", args.sequence]
        cmd += ["--frames", str(args.frames), "--r50-frames", str(args.r50_frames)]
        cmd += ["--seed", str(args.seed), "--crop-convention", args.crop_convention]
        for flag in ("no_calibrate", "no_channels_last", "net_only"):
            cmd += ["--" + flag.replace("_", "-")] if getattr(args, flag) else []
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            results.append({"config": config, "error": done.stderr.strip().splitlines()[-5:]})
        else:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
