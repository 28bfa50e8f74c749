"""Shared by the export tests: Crossing frames, tracking a sequence, export + load parity."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import siamlightning
from siamlightning.data.core.io import read_image
from siamlightning.export import check_export, export_tracker
from siamlightning.tracking.load import build_tracker


def crossing(real: Path, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    """The first ``n`` frames of the real Crossing sequence and its first box."""
    seq = real / "Crossing"
    frames = [read_image(p) for p in sorted((seq / "img").glob("*.jpg"))[:n]]
    box = np.loadtxt(seq / "groundtruth_rect.txt", delimiter=",")[0]
    return frames, box


def track(tracker: Any, frames: list[np.ndarray], box: np.ndarray) -> dict[str, Any]:
    """Boxes (N-1, 4), scores, and SiamMask's masks / polygons, of frames 1.. after init."""
    tracker.init(frames[0], box)
    out: dict[str, list] = {"boxes": [], "scores": [], "masks": [], "polygons": []}
    for frame in frames[1:]:
        res = tracker.track(frame)
        out["boxes"].append(res.box)
        out["scores"].append(res.score)
        if res.mask is not None:
            out["masks"].append(res.mask)
            out["polygons"].append(res.polygon)
    return {k: np.asarray(v) for k, v in out.items()}


def export_parity(
    net: torch.nn.Module,
    tracker_cfg: dict[str, Any],
    out: Path,
    frames: list[np.ndarray],
    box: np.ndarray,
    *,
    fmt: str = "onnx",
    check: bool = True,
) -> dict[str, Any]:
    """Export ``net``, check the graphs at batch 3 (tracking runs them at batch 1; SiamFC's
    track graph at 3), track ``frames`` with the eager and the exported tracker (fp32); return
    both results and the timings."""
    torch.manual_seed(0)
    t0 = time.perf_counter()
    export_tracker(net, tracker_cfg, out, fmt=fmt)
    t1 = time.perf_counter()
    checked = check_export(out, net, batches=((3, 3),)) if check else None
    eager_tracker = build_tracker(net, {**tracker_cfg, "precision": "fp32"})
    exported_tracker = siamlightning.load_tracker(out)
    eager = track(eager_tracker, frames, box)
    exported = track(exported_tracker, frames, box)
    return {
        "eager": eager,
        "exported": exported,
        "check": checked,
        "tracker": exported_tracker,
        "export_s": t1 - t0,
    }


def assert_same_tracks(res: dict[str, Any], *, box_px: float = 0.01, score: float = 1e-5) -> None:
    """Boxes within ``box_px``, scores within ``score``; mask probabilities within 1e-3 but at
    < 0.01% of the pixels; polygon corners within 0.5 px."""
    eager, exported = res["eager"], res["exported"]
    assert np.isfinite(eager["boxes"]).all()
    np.testing.assert_allclose(exported["boxes"], eager["boxes"], rtol=0, atol=box_px)
    np.testing.assert_allclose(exported["scores"], eager["scores"], rtol=0, atol=score)
    if len(eager["masks"]):
        # random-weight logits reach 1e7: a pixel near the 0 crossing may flip, hardly any do
        assert np.mean(np.abs(exported["masks"] - eager["masks"]) > 1e-3) < 1e-4
        np.testing.assert_allclose(exported["polygons"], eager["polygons"], rtol=0, atol=0.5)
