"""``siamlightning-track``: track one object through a video file or a folder of frames.

Writes ``<name>.txt`` (x,y,w,h per frame) and ``<name>.mp4`` (the boxes drawn). A tracker that
makes masks (SiamMask) also writes ``<name>_masks/<frame>.png`` (0/255, ``mask >
tracker.mask_threshold``), ``<name>_polygons.txt`` (x1,y1,...,x4,y4 per frame, VOT style) and
tints the mask and draws the polygon in the video. Frame 0 holds the given box (its mask is the
box filled, its polygon the box's corners).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import hydra
import numpy as np
from hydra.utils import get_original_cwd
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from siamlightning.cli.common import report_errors, setup_environment
from siamlightning.configs import config_dir
from siamlightning.data.core.io import read_image
from siamlightning.errors import DataError, FrameReadError
from siamlightning.evaluation.result_files import write_ope_result
from siamlightning.evaluation.vos_runner import box_mask
from siamlightning.tracking.base import Tracker
from siamlightning.tracking.load import load_tracker

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def open_frames(source: Path) -> tuple[Iterator[np.ndarray], int, float | None]:
    """(RGB frame iterator, frame count, fps or None) for a video file or a folder of images."""
    if not source.exists():
        raise FileNotFoundError(f"input {source} does not exist")
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(
                f"folder contains no image files ({', '.join(sorted(IMAGE_SUFFIXES))})", path=source
            )
        return _same_size_frames(files), len(files), None
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise DataError(
            "cannot open as a video (unsupported codec or not a video file)", path=source
        )
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = cap.get(cv2.CAP_PROP_FPS) or None

    def frames() -> Iterator[np.ndarray]:
        k = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            k += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        cap.release()
        if k == 0:
            raise FrameReadError("video has no decodable frame", path=source)

    return frames(), count, fps


def _same_size_frames(files: list[Path]) -> Iterator[np.ndarray]:
    """Read ``files`` in order; `DataError` naming the file whose size differs from the first's."""
    first: tuple[int, ...] | None = None
    for f in files:
        image = read_image(f)
        if first is None:
            first = image.shape
        elif image.shape != first:
            raise DataError(
                f"frame is {image.shape[1]}x{image.shape[0]} but {files[0].name} is "
                f"{first[1]}x{first[0]}; every frame of a sequence must have the same size",
                path=f,
            )
        yield image


def parse_box(value: Any) -> np.ndarray:
    """The ``box`` argument ([x,y,w,h], or a string "x,y,w,h" / "x y w h") as float64 (4,)."""
    raw = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    try:
        box = np.asarray(raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"box must be 4 numbers [x,y,w,h] in pixels, got {value!r}") from None
    if box.shape != (4,):
        raise DataError(f"box must be 4 numbers [x,y,w,h] in pixels, got {box.tolist()}")
    return box


MASK_TINT = np.array([0, 0, 255], dtype=np.float32)  # BGR red, blended at 40%


def box_polygon(box: np.ndarray) -> np.ndarray:
    """(x, y, w, h) -> the 8 corner coordinates x1, y1, ..., x4, y4 (clockwise from top-left)."""
    x, y, w, h = (float(v) for v in box)
    return np.array([x, y, x + w, y, x + w, y + h, x, y + h], dtype=np.float64)


def draw(
    image: np.ndarray,
    box: np.ndarray,
    score: float,
    mask: np.ndarray | None = None,
    polygon: np.ndarray | None = None,
) -> np.ndarray:
    """A BGR copy of ``image`` with ``box`` (x, y, w, h) and the score drawn on it; a bool
    ``mask`` (H, W) is tinted red and a ``polygon`` (8,) outlined in green."""
    out = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if mask is not None:
        out[mask] = (0.6 * out[mask] + 0.4 * MASK_TINT).astype(np.uint8)
    if polygon is not None:
        pts = np.round(np.asarray(polygon, dtype=np.float64).reshape(4, 2)).astype(np.int32)
        cv2.polylines(out, [pts], True, (0, 255, 0), 2, cv2.LINE_AA)
    x, y, w, h = (float(v) for v in box)
    cv2.rectangle(out, (round(x), round(y)), (round(x + w), round(y + h)), (0, 255, 255), 2)
    cv2.putText(
        out,
        f"{score:.2f}",
        (round(x), max(12, round(y) - 4)),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.45,
        (0, 255, 255),
        1,
        cv2.LINE_AA,
    )
    return out


def open_tracker(cfg: DictConfig, base: Path) -> Tracker:
    """The tracker of ``ckpt`` (a checkpoint, or with ``weights`` a pysot/SiamMask config)."""
    overrides = OmegaConf.to_container(cfg.tracker_overrides, resolve=True)
    weights = cfg.get("weights")
    if weights is not None:
        w = Path(str(weights)).expanduser()
        return load_tracker(str(cfg.ckpt), weights=w if w.is_absolute() else base / w, **overrides)
    ckpt = Path(str(cfg.ckpt)).expanduser()
    return load_tracker(ckpt if ckpt.is_absolute() else base / ckpt, **overrides)


def wants_masks(setting: Any, tracker: Tracker) -> bool:
    """``write_masks``: true, false or auto (whether the tracker makes masks)."""
    makes = hasattr(tracker, "mask_threshold")
    if str(setting).lower() == "auto":
        return makes
    if setting and not makes:
        raise DataError(
            f"write_masks=true but {type(tracker).__name__} makes no masks (a SiamMask "
            "checkpoint or weights does); use write_masks=auto"
        )
    return bool(setting)


def run(cfg: DictConfig) -> Path:
    """Track; write the box file, the video and (SiamMask) masks + polygons; return the box file."""
    base = Path(get_original_cwd())
    src = Path(str(cfg.input)).expanduser()
    src = src if src.is_absolute() else base / src
    box = parse_box(cfg.box)
    tracker = open_tracker(cfg, base)
    masks = wants_masks(cfg.get("write_masks", "auto"), tracker)
    frames, count, fps = open_frames(src)
    name = cfg.name or src.stem
    out_dir = Path(str(cfg.output_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    mask_dir = out_dir / f"{name}_masks"
    if masks:
        mask_dir.mkdir(exist_ok=True)
    writer = None
    boxes, polygons, times = [], [], []
    bar = tqdm(total=count or None, desc=f"tracking {name}", unit="frame", disable=not cfg.progress)
    for k, frame in enumerate(frames):
        if k == 0:
            tracker.init(frame, box)
            cur, score = box, 1.0
            polygon, mask = box_polygon(box), box_mask(box, frame.shape[:2]) > 0
        else:
            t = time.perf_counter()
            res = tracker.track(frame)
            times.append(time.perf_counter() - t)
            cur, score = res.box, res.score
            polygon = res.polygon if res.polygon is not None else box_polygon(cur)
            mask = None if res.mask is None else res.mask > tracker.mask_threshold
        boxes.append(np.asarray(cur, dtype=np.float64))
        if masks:
            polygons.append(np.asarray(polygon, dtype=np.float64))
            binary = np.zeros(frame.shape[:2], bool) if mask is None else mask
            cv2.imwrite(str(mask_dir / f"{k:05d}.png"), binary.astype(np.uint8) * 255)
        if cfg.write_video:
            if writer is None:
                h, w = frame.shape[:2]
                video = out_dir / f"{name}.mp4"
                writer = cv2.VideoWriter(
                    str(video),
                    cv2.VideoWriter_fourcc(*"mp4v"),
                    float(cfg.fps or fps or 30.0),
                    (w, h),
                )
            shown = (mask, polygon) if masks else (None, None)
            writer.write(draw(frame, cur, score, *shown))
        bar.update(1)
        if times:
            bar.set_postfix(fps=f"{len(times) / sum(times):.1f}")
    bar.close()
    if writer is not None:
        writer.release()
    if not boxes:
        raise FrameReadError("no frame could be read", path=src)
    box_file = out_dir / f"{name}.txt"
    write_ope_result(box_file, np.stack(boxes))
    if masks:
        np.savetxt(out_dir / f"{name}_polygons.txt", np.stack(polygons), fmt="%.4f", delimiter=",")
    fps_txt = f"{len(times) / sum(times):.1f} fps" if times else "n/a"
    extra = f"; masks: {mask_dir}" if masks else ""
    print(f"tracked {len(boxes)} frames ({fps_txt}); boxes: {box_file}{extra}", flush=True)
    return box_file


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="track")
@report_errors
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    setup_environment()
    run(cfg)


if __name__ == "__main__":
    main()
