"""``siamlightning-track``: track one object through a video file or a folder of frames."""

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
from siamlightning.tracking.load import build_tracker, load_net

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


def draw(image: np.ndarray, box: np.ndarray, score: float) -> np.ndarray:
    """A BGR copy of ``image`` with ``box`` (x, y, w, h) and the score drawn on it."""
    out = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
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


def run(cfg: DictConfig) -> Path:
    """Track; write ``<name>.txt`` (x,y,w,h per frame) and ``<name>.mp4``; return the box file."""
    base = Path(get_original_cwd())
    src = Path(str(cfg.input)).expanduser()
    src = src if src.is_absolute() else base / src
    ckpt = Path(str(cfg.ckpt)).expanduser()
    ckpt = ckpt if ckpt.is_absolute() else base / ckpt
    box = parse_box(cfg.box)
    net, export = load_net(ckpt)
    tracker = build_tracker(
        net, export["tracker"], **OmegaConf.to_container(cfg.tracker_overrides, resolve=True)
    )
    frames, count, fps = open_frames(src)
    name = cfg.name or src.stem
    out_dir = Path(str(cfg.output_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = None
    boxes, times = [], []
    bar = tqdm(total=count or None, desc=f"tracking {name}", unit="frame", disable=not cfg.progress)
    for k, frame in enumerate(frames):
        if k == 0:
            tracker.init(frame, box)
            cur, score = box, 1.0
        else:
            t = time.perf_counter()
            res = tracker.track(frame)
            times.append(time.perf_counter() - t)
            cur, score = res.box, res.score
        boxes.append(np.asarray(cur, dtype=np.float64))
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
            writer.write(draw(frame, cur, score))
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
    fps_txt = f"{len(times) / sum(times):.1f} fps" if times else "n/a"
    print(f"tracked {len(boxes)} frames ({fps_txt}); boxes: {box_file}", flush=True)
    return box_file


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="track")
@report_errors
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    setup_environment()
    run(cfg)


if __name__ == "__main__":
    main()
