"""foolwood/SiamMask parity: its ``Custom`` model and ``tools/test.py`` tracker against ours.

    python3 -m venv /tmp/fw && /tmp/fw/bin/pip install torch==2.13.0 numpy opencv-python-headless
    git --git-dir=<foolwood/SiamMask snapshot> archive HEAD | tar -x -C /tmp/SiamMask
    OMP_NUM_THREADS=1 python scripts/compare/foolwood_siammask_parity.py \
        --siammask /tmp/SiamMask --python /tmp/fw/bin/python [--frames 20] [--configs ...] \
        [--no-channels-last] [--crop-convention pysot]

(``--no-channels-last``: our net in foolwood's NCHW layout, so both nets agree bit for bit;
``--crop-convention``: ours with another convention than the ``siammask`` that `load_tracker`
sets for these configs, to see what the convention changes.)

foolwood's code is never imported here: ``--python`` (a throwaway venv; default this one) runs
this file again with ``--side foolwood``, which puts ``--siammask`` on ``sys.path`` and shims
what its 2019 code needs today (``np.float``; ``cv2.__version__`` read as 4.x for its
``findContours`` branch; stubs for its compiled ``utils.pyvotkit.region`` and for PIL, both
unused here). That side:

1. builds ``Custom(anchors=config_davis.json's)`` after ``torch.manual_seed(seed)`` and sets the
   BN statistics from one template / search pair (train-mode forward, cumulative average; a
   random init alone gives activations far from O(1));
2. saves it as its ``train_siammask_refine.py`` does (``{"epoch", "arch", "state_dict":
   model.module.state_dict(), "best_acc", "anchor_cfg"}``; the optimizer state left out) and
   loads the file back into a fresh ``Custom`` with its ``load_pretrain``;
3. per config json runs ``siamese_init`` / ``siamese_track(mask_enable, refine_enable)`` over the
   frames (BGR, as ``cv2.imread``), init box = ``cv2.boundingRect`` of the first mask with
   ``cx = x + w / 2`` (its ``track_vos``), recording the crops, cls / loc maps, the refine
   logits, the state, polygon and pasted mask. ``reset`` runs put the state on the ground-truth
   box of the previous frame before every step (no drift after one differing argmax).

This process then runs ``load_tracker(config, weights=<that file>, precision="fp32")`` on the
same frames (RGB) and prints one JSON document: per config and mode the max |diff| of crops,
cls, loc, softmax score maps, refine logits, boxes (px), scores, polygons, mask probabilities
(pixels outside the window included: -1 in both) and the count of binary-mask pixels that
differ. Frames: ``../shared/data/real/<sequence>`` (DAVIS layout with ``masks/``), else a
synthetic sequence.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import cv2
import numpy as np
import torch

CONFIGS = {"siammask_davis": "davis", "siammask_vot": "vot", "siammask_vot_ld": "vot18"}
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


# -- foolwood side (throwaway venv) ---------------------------------------------------------


def _import_foolwood(root: Path) -> tuple[types.ModuleType, type, object]:
    """foolwood's tools/test.py module, its ``Custom`` class and ``load_pretrain``."""
    sys.path[:0] = [str(root), str(root / "experiments" / "siammask_sharp")]
    if not hasattr(np, "float"):
        setattr(np, "float", float)  # noqa: B010 (its crop_back: .astype(np.float))
    region = types.ModuleType("utils.pyvotkit.region")  # compiled Cython; VOT overlap only
    region.vot_overlap = region.vot_float2str = None  # type: ignore[attr-defined]
    sys.modules["utils.pyvotkit.region"] = region
    try:
        import PIL.Image  # noqa: F401
    except ImportError:  # only its track_vos reads PNGs
        pil = types.ModuleType("PIL")
        pil.Image = types.ModuleType("PIL.Image")  # type: ignore[attr-defined]
        sys.modules.update({"PIL": pil, "PIL.Image": pil.Image})  # type: ignore[attr-defined]
    sys.argv = sys.argv[:1]
    import tools.test as fw_test
    from custom import Custom
    from utils.load_helper import load_pretrain

    proxy = types.ModuleType("cv2")  # it tests cv2.__version__[-5] == '4' for 2 return values
    proxy.__dict__.update({k: getattr(cv2, k) for k in dir(cv2) if not k.startswith("__")})
    proxy.__version__ = "4.0.0"  # type: ignore[attr-defined]
    fw_test.cv2 = proxy
    return fw_test, Custom, load_pretrain


def _calibrate(model: torch.nn.Module, z: torch.Tensor, x: torch.Tensor) -> None:
    """BN running statistics of one template / search pair (cumulative average)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.momentum = None
        m.reset_running_stats()
        m.training = True  # MultiStageFeature.train() would leave the frozen backbone in eval
    with torch.no_grad():
        model.template(z)
        model.track_mask(x)
    model.eval()


def foolwood_side(args: argparse.Namespace) -> None:
    """Build, save and run foolwood's model; write ``fw_<config>_<mode>.npz`` into --work."""
    fw, custom, load_pretrain = _import_foolwood(Path(args.siammask))
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    data = np.load(work / "frames.npz")
    frames, boxes, init = list(data["bgr"]), data["boxes"], data["init"]
    cfg_dir = Path(args.siammask) / "experiments" / "siammask_sharp"
    anchors = json.loads((cfg_dir / "config_davis.json").read_text())["anchors"]
    torch.manual_seed(args.seed)
    model = custom(anchors=anchors).eval()
    x, y, w, h = init
    pos, sz = np.array([x + w / 2, y + h / 2]), np.array([w, h], dtype=np.float64)
    s_z = round(np.sqrt((w + (w + h) / 2) * (h + (w + h) / 2)))
    avg = np.mean(frames[0], axis=(0, 1))
    z = fw.get_subwindow_tracking(frames[0], pos, 127, s_z, avg).unsqueeze(0)
    xc = fw.get_subwindow_tracking(frames[1], pos, 255, round(s_z * 255 / 127), avg).unsqueeze(0)
    _calibrate(model, z, xc)
    state = model.state_dict()
    ckpt = {"epoch": 20, "arch": "Custom", "state_dict": state, "best_acc": 0}
    ckpt["anchor_cfg"] = anchors
    torch.save(ckpt, work / "SiamMask_random.pth")
    model = load_pretrain(custom(anchors=anchors), str(work / "SiamMask_random.pth")).eval()
    rec: dict[str, list] = {}

    def track_mask(x_crop, _orig=model.track_mask):
        out = _orig(x_crop)
        rec["crop"].append(x_crop[0].numpy().copy())
        rec["cls"].append(out[0][0].numpy().copy())
        rec["loc"].append(out[1][0].numpy().copy())
        return out

    def track_refine(pos, _orig=model.track_refine):
        out = _orig(pos)
        rec["refine"].append(out.reshape(127, 127).numpy().copy())
        rec["cell"].append(np.array(pos))
        return out

    model.track_mask, model.track_refine = track_mask, track_refine
    for name in args.configs:
        short = CONFIGS[name]
        hp = json.loads((cfg_dir / f"config_{short}.json").read_text())["hp"]
        for mode in ("free", "reset"):
            rec.clear()
            rec.update({k: [] for k in ("crop", "cls", "loc", "refine", "cell")})
            rec.update({k: [] for k in ("box", "score", "polygon", "mask")})
            with torch.no_grad():
                st = fw.siamese_init(frames[0], pos.copy(), sz.copy(), model, hp, device="cpu")
                for i in range(1, len(frames)):
                    if mode == "reset":
                        bx, by, bw, bh = boxes[i - 1]
                        st["target_pos"] = np.array([bx + bw / 2, by + bh / 2])
                        st["target_sz"] = np.array([bw, bh], dtype=np.float64)
                    st = fw.siamese_track(st, frames[i], True, True, device="cpu")
                    rec["box"].append(fw.cxy_wh_2_rect(st["target_pos"], st["target_sz"]))
                    rec["score"].append(st["score"])
                    rec["polygon"].append(np.asarray(st["ploygon"]).reshape(-1))
                    rec["mask"].append(st["mask"].astype(np.float32))
            np.savez(work / f"fw_{name}_{mode}.npz", **{k: np.stack(v) for k, v in rec.items()})


# -- our side (project venv) ----------------------------------------------------------------


def _frames(sequence: str, n: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, str]:
    """BGR frames, (x, y, w, h) boxes and the init box (boundingRect of mask 1, else box 1)."""
    folder = REAL / sequence
    if (folder / "img").is_dir():
        paths = sorted((folder / "img").glob("*.jpg"))[:n]
        gt = np.loadtxt(folder / "groundtruth_rect.txt", delimiter=",")[: len(paths)]
        frames = [cv2.imread(str(p)) for p in paths]
        init = gt[0]
        first = sorted((folder / "masks").glob("*.png"))
        if first:
            init = np.array(cv2.boundingRect((cv2.imread(str(first[0]), 0) > 0).astype(np.uint8)))
        return frames, gt, init.astype(np.float64), str(folder)
    from siamlightning.data import open_dataset

    seq = open_dataset("synthetic", None, seed=0, num_sequences=1, length=n)[0]
    frames = [np.ascontiguousarray(seq.read_frame(i)[..., ::-1]) for i in range(n)]
    boxes = np.asarray(seq.boxes, dtype=np.float64)
    return frames, boxes, boxes[0], "synthetic seed 0"


def _ours(name: str, mode: str, weights: Path, frames, boxes, init, over: dict) -> dict:
    from siamlightning import load_tracker

    t = load_tracker(name, weights=weights, precision="fp32", **over)
    rec: dict[str, list] = {k: [] for k in ("crop", "cls", "loc", "refine", "cell")}
    rec.update({k: [] for k in ("box", "score", "polygon", "mask")})
    forward, mask = t._forward, t.net.mask

    def _forward(x):
        rec["crop"].append(x[0].float().contiguous().numpy().copy())
        out = forward(x)  # a SiamMaskOutput
        rec["cls"].append(out.cls[0].float().numpy().copy())
        rec["loc"].append(out.loc[0].float().numpy().copy())
        return out

    def _mask(outputs, pos):
        out = mask(outputs, pos)
        rec["refine"].append(out.float().reshape(127, 127).numpy().copy())
        rec["cell"].append(np.array(pos))
        return out

    t._forward, t.net.mask = _forward, _mask
    t.init(np.ascontiguousarray(frames[0][..., ::-1]), init)
    for i in range(1, len(frames)):
        if mode == "reset":
            t.center, t.size = t.box_center(boxes[i - 1]), np.array(boxes[i - 1][2:], float)
        res = t.track(np.ascontiguousarray(frames[i][..., ::-1]))
        for k, v in (("box", res.box), ("score", res.score), ("polygon", res.polygon)):
            rec[k].append(v)
        rec["mask"].append(res.mask)
    return {k: np.stack(v) for k, v in rec.items()} | {"threshold": t.mask_threshold}


def _softmax_fg(cls: np.ndarray) -> np.ndarray:
    logits = cls.reshape(len(cls), 2, -1).astype(np.float64)
    return 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))


def _compare(fw: dict, ours: dict) -> dict:
    def mx(a, b):
        return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())

    thr = ours["threshold"]
    binary = [int(((a > thr) != (b > thr)).sum()) for a, b in zip(fw["mask"], ours["mask"])]
    return {
        "frames": len(fw["box"]),
        "crop_max_abs": mx(fw["crop"], ours["crop"]),
        "cls_max_abs": mx(fw["cls"], ours["cls"]),
        "loc_max_abs": mx(fw["loc"], ours["loc"]),
        "score_map_max_abs": mx(_softmax_fg(fw["cls"]), _softmax_fg(ours["cls"])),
        "cls_abs_max": float(np.abs(fw["cls"]).max()),
        "same_cells": int((fw["cell"] == ours["cell"]).all(1).sum()),
        "refine_logit_max_abs": mx(fw["refine"], ours["refine"]),
        "box_max_abs_px": mx(fw["box"], ours["box"]),
        "score_max_abs": mx(fw["score"], ours["score"]),
        "polygon_max_abs_px": mx(fw["polygon"], ours["polygon"]),
        "mask_prob_max_abs": mx(fw["mask"], ours["mask"]),
        "mask_pixels_differing_per_frame": binary,
        "mask_pixels_per_frame": [int((m > thr).sum()) for m in fw["mask"]],
        "mask_outside_value": [float(fw["mask"].min()), float(ours["mask"].min())],
    }


def main() -> None:
    """Run foolwood's side in ``--python``, ours here; print one JSON document."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--siammask", required=True, help="foolwood/SiamMask source tree")
    ap.add_argument("--python", default=sys.executable, help="throwaway venv's python")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--sequence", default="davis_blackswan", help="folder of shared/data/real")
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-channels-last", action="store_true", help="our net in NCHW too")
    ap.add_argument(
        "--crop-convention", choices=["siammask", "pysot", "exact"], help="override ours"
    )
    ap.add_argument("--side", choices=["foolwood"], help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side == "foolwood":
        foolwood_side(args)
        return
    torch.set_num_threads(args.threads)
    frames, boxes, init, source = _frames(args.sequence, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        np.savez(work / "frames.npz", bgr=np.stack(frames), boxes=boxes, init=init)
        cmd = [args.python, __file__, "--side", "foolwood", "--work", tmp]
        cmd += ["--siammask", args.siammask, "--seed", str(args.seed)]
        cmd += ["--threads", str(args.threads), "--configs", *args.configs]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"foolwood side failed:\n{done.stderr[-3000:]}")
        out = {"sequence": source, "frames": len(frames), "init_box": init.tolist()}
        over = {"channels_last": not args.no_channels_last}
        over |= {"crop_convention": args.crop_convention} if args.crop_convention else {}
        out |= {"seed": args.seed, "ours": over, "results": {}}
        for name in args.configs:
            for mode in ("free", "reset"):
                fw = dict(np.load(work / f"fw_{name}_{mode}.npz"))
                weights = work / "SiamMask_random.pth"
                ours = _ours(name, mode, weights, frames, boxes, init, over)
                out["results"][f"{name} {mode}"] = _compare(fw, ours)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
