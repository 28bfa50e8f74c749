"""How exact and how fast `crops_torch` is against the cv2 crops; prints JSON.

    python scripts/bench/bench_device_crop.py [--real ../shared/data/real] [--crops 60] \
        [--device cpu] [--out crop.json]

Differences are in 0-255 units against cv2's uint8 crops (``crop_square`` = ``cv2.warpAffine``,
``pysot_subwindow`` = ``cv2.resize``), on frames of Crossing, Girl and bag, for four kinds of
crop: ``normal`` (sides 0.5-2x the output, inside or across the border), ``outside`` (centre up
to a side away from the frame), ``tiny`` (side 2-16 px: upsampling), ``huge`` (side 4-12x the
output: downsampling). For each: ``crops_torch`` before rounding (float frames: the exact
bilinear value) and after (uint8 frames, what trackers use), and a plain float32
``F.grid_sample`` (align_corners=False) before and after rounding, for comparison. Timing: ms per
crop of 255 px from 480x360 frames, cv2 one by one vs torch batches of B = 1 and 16 (1 thread).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from siamlightning.data.core.crops import crop_square, pysot_subwindow
from siamlightning.data.core.crops_torch import crop_square_torch, pysot_subwindow_torch

KINDS = {
    "normal": (0.5, 2.0, 0.5),
    "outside": (0.5, 2.0, 1.5),
    "tiny": (0, 0, 0.5),
    "huge": (4, 12, 0.5),
}


def _frames(root: Path) -> list[np.ndarray]:
    out = []
    for seq in ("Crossing", "Girl", "bag"):
        for f in sorted((root / seq / "img").glob("*.jpg"))[::25]:
            out.append(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB))
    return out


def _draw(rng: np.random.Generator, kind: str, h: int, w: int, out: int) -> tuple:
    lo, hi, reach = KINDS[kind]
    size = float(rng.uniform(2, 16) if kind == "tiny" else rng.uniform(lo, hi) * out)
    m = reach * size
    return (rng.uniform(-m, w + m), rng.uniform(-m, h + m)), size, tuple(rng.uniform(0, 255, 3))


def _grid_warp(img: np.ndarray, c: tuple, size: float, out: int, pad: tuple) -> np.ndarray:
    """crop_square as a float32 F.grid_sample (zeros padding around image - pad, + pad)."""
    h, w = img.shape[:2]
    p = torch.tensor(np.round(pad), dtype=torch.float32)[:, None, None]
    x = torch.from_numpy(img).permute(2, 0, 1).float() - p
    u = (torch.arange(out, dtype=torch.float32) + 0.5) / out - 0.5  # crop fraction about the centre
    gx = (2 * (c[0] + u * size) / w - 1).float()
    gy = (2 * (c[1] + u * size) / h - 1).float()
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
    v = F.grid_sample(x[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (v[0] + p).permute(1, 2, 0).numpy()


def _grid_pysot(img: np.ndarray, c: tuple, size: int, out: int, pad: tuple) -> np.ndarray:
    """pysot_subwindow as a float32 F.grid_sample of the window (border = cv2.resize's clamp)."""
    patch = pysot_subwindow(img, c, size, size, pad)  # the window, padded, not resized
    x = torch.from_numpy(patch).permute(2, 0, 1).float()[None]
    if size == out:
        return x[0].permute(1, 2, 0).numpy()
    g = (torch.arange(out, dtype=torch.float32) + 0.5) / out * 2 - 1
    grid = torch.stack(torch.meshgrid(g, g, indexing="ij")[::-1], -1)[None]
    v = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return v[0].permute(1, 2, 0).numpy()


def _stats(diffs: list[np.ndarray]) -> dict[str, float]:
    d = np.concatenate([x.ravel() for x in diffs]).astype(np.float64)
    return {"max": float(d.max()), "mean": float(d.mean()), "frac_nonzero": float((d > 0).mean())}


def exactness(frames: list[np.ndarray], crops: int, seed: int = 0) -> dict:
    """Differences to cv2 per kind of crop, for both crops and both methods."""
    rng = np.random.default_rng(seed)
    result: dict = {}
    for kind in KINDS:
        acc: dict[str, list[np.ndarray]] = {}
        for i in range(crops):
            img = frames[i % len(frames)]
            out = int(rng.choice([127, 255]))
            c, size, pad = _draw(rng, kind, *img.shape[:2], out)
            t = torch.from_numpy(img)
            ref = crop_square(img, c, size, out, pad).astype(np.float32)
            pr = tuple(np.round(pad))
            raw = crop_square_torch([t.float()], [c], [size], out, [pr])[0].permute(1, 2, 0).numpy()
            rnd = crop_square_torch([t], [c], [size], out, [pad])[0].permute(1, 2, 0).numpy()
            grid = _grid_warp(img, c, size, out, pad)
            for key, v in (("warp_torch_raw", raw), ("warp_torch_uint8", rnd)):
                acc.setdefault(key, []).append(np.abs(v - ref))
            acc.setdefault("warp_grid_sample_raw", []).append(np.abs(grid - ref))
            acc.setdefault("warp_grid_sample_uint8", []).append(np.abs(np.round(grid) - ref))
            s, pc = max(round(size), 1), (c[0] - 0.5, c[1] - 0.5)
            pref = pysot_subwindow(img, pc, s, out, pad).astype(np.float32)
            pt = pysot_subwindow_torch([t], [pc], [s], out, [pad])[0].permute(1, 2, 0).numpy()
            pg = _grid_pysot(img, pc, s, out, pad)
            acc.setdefault("pysot_torch_uint8", []).append(np.abs(pt - pref))
            acc.setdefault("pysot_grid_sample_raw", []).append(np.abs(pg - pref))
            acc.setdefault("pysot_grid_sample_uint8", []).append(np.abs(np.round(pg) - pref))
        result[kind] = {k: _stats(v) for k, v in acc.items()}
    return result


def _ms(fn, repeat: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1e3


def timing(frames: list[np.ndarray], device: str, repeat: int = 5) -> dict:
    """ms per 255-px crop of 480x360 frames: cv2 one by one, torch in batches of 1 and 16."""
    imgs = [f for f in frames if f.shape[:2] == (360, 480)][:16]
    imgs = (imgs * 16)[:16]
    rng = np.random.default_rng(1)
    cs = [(float(rng.uniform(100, 380)), float(rng.uniform(80, 280))) for _ in imgs]
    ss, pads = [float(rng.uniform(150, 400)) for _ in imgs], [(120.0, 110.0, 100.0)] * 16
    tens = [torch.from_numpy(i).to(device) for i in imgs]
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    res: dict = {}
    for b in (1, 16):
        res[f"cv2_warp_B{b}"] = (
            _ms(
                lambda b=b: [crop_square(imgs[k], cs[k], ss[k], 255, pads[k]) for k in range(b)],
                repeat,
            )
            / b
        )
        res[f"torch_warp_B{b}"] = (
            _ms(
                lambda b=b: (crop_square_torch(tens[:b], cs[:b], ss[:b], 255, pads[:b]), sync()),
                repeat,
            )
            / b
        )
        si = [round(s) for s in ss]
        res[f"cv2_pysot_B{b}"] = (
            _ms(
                lambda b=b, si=si: [
                    pysot_subwindow(imgs[k], cs[k], si[k], 255, pads[k]) for k in range(b)
                ],
                repeat,
            )
            / b
        )
        res[f"torch_pysot_B{b}"] = (
            _ms(
                lambda b=b, si=si: (
                    pysot_subwindow_torch(tens[:b], cs[:b], si[:b], 255, pads[:b]),
                    sync(),
                ),
                repeat,
            )
            / b
        )
    return {k: round(v, 3) for k, v in res.items()}


def main() -> None:
    """Parse the arguments, measure, print (and optionally write) the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--real", type=Path, default=Path(__file__).resolve().parents[3] / "shared/data/real"
    )
    ap.add_argument("--crops", type=int, default=60, help="crops per kind")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    frames = _frames(args.real)
    report = {
        "opencv": cv2.__version__,
        "opencv_ipp": bool(cv2.ipp.useIPP()),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "device": args.device,
        "units": "0-255 absolute difference to the cv2 uint8 crop",
        "exactness": exactness(frames, args.crops),
        "ms_per_crop": timing(frames, args.device),
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
