"""Write a `SequenceIndex` in the OTB, GOT-10k, VOT and LaSOT layouts (e.g. synthetic data).

Writing is resumable: a frame file that already exists complete (and, when the sequence's
``meta`` gives ``width``/``height``, at that size; for copied JPEGs, with the source's byte size)
is kept. Frames go through a ``.part`` file renamed into place, so an interrupted run never leaves
a truncated image behind. JPEG sources are copied byte for byte; other frames are encoded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError

__all__ = ["write_got10k", "write_lasot", "write_otb", "write_vot"]

Progress = bool | Callable[[int, int], None]


class _Ticker:
    """Counts written frames: a tqdm bar (``progress=True``) or a ``(done, total)`` callback."""

    def __init__(self, total: int, progress: Progress, desc: str) -> None:
        self.done, self.total = 0, total
        self.bar = tqdm(total=total, desc=desc, unit="frame") if progress is True else None
        self.callback = progress if callable(progress) else None

    def __call__(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _jpeg_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a complete JPEG file's header, or None if not one."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        f.seek(max(f.seek(0, os.SEEK_END) - 2, 0))
        tail = f.read(2)
    if head[:2] != b"\xff\xd8" or tail != b"\xff\xd9":
        return None
    i = 2
    while i + 9 <= len(head) and head[i] == 0xFF:
        marker = head[i + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:
            i += 1 if marker == 0xFF else 2
            continue
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(head[i + 7 : i + 9], "big"), int.from_bytes(
                head[i + 5 : i + 7], "big"
            )
        i += 2 + int.from_bytes(head[i + 2 : i + 4], "big")
    return None


def _folder_name(seq: Sequence) -> str:
    name = seq.name
    if not name or name in {".", ".."} or any(c in name for c in "/\\\0"):
        raise DataError(f"sequence name {name!r} cannot be used as a folder name")
    return name


def _write_frames(seq: Sequence, folder: Path, pattern: str, quality: int, tick: _Ticker) -> None:
    """Write every frame of ``seq`` to ``folder/pattern.format(i + 1)``, skipping done ones."""
    folder.mkdir(parents=True, exist_ok=True)
    size = (seq.meta.get("width"), seq.meta.get("height"))
    for i in range(len(seq)):
        dst = folder / pattern.format(i + 1)
        src = None if seq.renderer is not None else Path(seq.frames[i])
        copy = src is not None and src.suffix.lower() in {".jpg", ".jpeg"}
        if dst.is_file() and dst.stat().st_size > 0:
            if copy:
                done = dst.stat().st_size == src.stat().st_size
            else:
                got = _jpeg_size(dst)
                done = got is not None and (None in size or got == tuple(size))
            if done:
                tick()
                continue
        part = dst.with_name(dst.name + ".part")
        if copy:
            shutil.copyfile(src, part)
        else:
            image = seq.read_frame(i)
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
            if not ok:
                raise OSError(f"{dst}: could not encode frame {i} of {seq.name!r}")
            part.write_bytes(buf.tobytes())
        os.replace(part, dst)
        tick()


def _fmt(v: float, trim: bool) -> str:
    if not np.isfinite(v):
        return "NaN"
    s = f"{v:.4f}"
    return s.rstrip("0").rstrip(".") if trim else s


def _lines(path: Path, rows: list[str]) -> None:
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")


def write_otb(
    index: SequenceIndex, out_dir: str | Path, *, jpeg_quality: int = 95, progress: Progress = False
) -> Path:
    """Write ``<out>/<name>/img/0001.jpg...`` and ``groundtruth_rect.txt`` (N lines); return out.

    Boxes are written comma separated with up to 4 decimals; absent (NaN) rows as
    ``NaN,NaN,NaN,NaN``, which `siamlightning.data.sources.otb` reads back as NaN.
    """
    out = Path(out_dir)
    tick = _Ticker(index.num_frames, progress, "write OTB")
    try:
        for seq in index:
            d = out / _folder_name(seq)
            _write_frames(seq, d / "img", "{:04d}.jpg", jpeg_quality, tick)
            rows = [",".join(_fmt(v, True) for v in b) for b in seq.boxes]
            _lines(d / "groundtruth_rect.txt", rows)
    finally:
        tick.close()
    return out


def _filled(seq: Sequence) -> np.ndarray:
    """(N, 4) boxes with NaN rows replaced by the previous annotated box (else the next; else 0)."""
    b = seq.boxes.copy()
    ok = np.isfinite(b).all(axis=1)
    if not ok.any():
        return np.zeros_like(b)
    last = np.maximum.accumulate(np.where(ok, np.arange(len(b)), -1))
    last[last < 0] = int(np.argmax(ok))
    return b[last]


def _cover(seq: Sequence, absent: np.ndarray) -> np.ndarray:
    """GOT-10k cover levels 0-8 (N,): round(8 * visible ratio), at least 1 when visible."""
    ratio = seq.meta.get("visible_ratio")
    if ratio is None:
        cover = np.full(len(seq), 8)
    else:
        cover = np.clip(np.round(8 * np.asarray(ratio, np.float64)), 1, 8).astype(int)
    cover[absent] = 0
    return cover


def _meta_info(seq: Sequence) -> str:
    """GOT-10k ``meta_info.ini`` text for ``seq`` (classes from ``meta`` or ``unknown``)."""
    w, h = seq.image_size()
    url = seq.meta.get("url", str(seq.frames[0]).rsplit("/", 1)[0])
    keys = ("object_class", "motion_class", "major_class", "root_class", "motion_adverb")
    rows = ["[METAINFO]", f"url: {url}", "begin_frame: 0", f"end_frame: {len(seq) - 1}"]
    rows += ["anno_fps: 10Hz", *(f"{k}: {seq.meta.get(k, 'unknown')}" for k in keys)]
    return "\n".join([*rows, f"resolution: ({int(w)}, {int(h)})"]) + "\n"


def write_got10k(
    index: SequenceIndex,
    out_dir: str | Path,
    *,
    split: str = "train",
    jpeg_quality: int = 95,
    progress: Progress = False,
) -> Path:
    """Write the GOT-10k layout under ``<out>/<split>/``; return ``out`` (the dataset root).

    Per sequence: ``00000001.jpg...``, ``groundtruth.txt`` (N lines ``x,y,w,h``, 4 decimals; an
    absent frame repeats the last annotated box, as GOT-10k keeps a box on every line),
    ``absence.label`` (0/1), ``cover.label`` (0-8 from ``meta["visible_ratio"]``),
    ``cut_by_image.label`` (0/1, out of view) and ``meta_info.ini``; plus ``list.txt``.
    """
    if not split or any(c in split for c in "/\\"):
        raise ValueError(f"write_got10k: bad split name {split!r}")
    out = Path(out_dir)
    base = out / split
    base.mkdir(parents=True, exist_ok=True)
    tick = _Ticker(index.num_frames, progress, f"write GOT-10k {split}")
    try:
        for seq in index:
            d = base / _folder_name(seq)
            _write_frames(seq, d, "{:08d}.jpg", jpeg_quality, tick)
            absent = ~seq.visible
            _lines(
                d / "groundtruth.txt", [",".join(_fmt(v, False) for v in b) for b in _filled(seq)]
            )
            _lines(d / "absence.label", [str(int(a)) for a in absent])
            _lines(d / "cover.label", [str(c) for c in _cover(seq, absent)])
            _lines(d / "cut_by_image.label", [str(int(c)) for c in seq.out_of_view])
            (d / "meta_info.ini").write_text(_meta_info(seq), encoding="utf-8")
    finally:
        tick.close()
    _lines(base / "list.txt", [seq.name for seq in index])
    return out


def _polygons(seq: Sequence) -> np.ndarray:
    """(N, 8) VOT polygons: the sequence's own, else each box's corners ``x .. x+w-1``."""
    if seq.polygons is not None:
        return seq.polygons
    x, y, w, h = seq.boxes.T
    return np.stack([x, y, x + w - 1, y, x + w - 1, y + h - 1, x, y + h - 1], axis=1)


def write_vot(
    index: SequenceIndex, out_dir: str | Path, *, jpeg_quality: int = 95, progress: Progress = False
) -> Path:
    """Write the VOT2016-2019 layout: ``list.txt``, ``<seq>/sequence``, ``color/00000001.jpg``,
    ``groundtruth.txt`` (8-value polygons; NaN lines where absent) and ``<tag>.tag`` files from
    ``meta["tags"]``; return ``out``."""
    out = Path(out_dir)
    tick = _Ticker(index.num_frames, progress, "write VOT")
    try:
        for seq in index:
            d = out / _folder_name(seq)
            _write_frames(seq, d / "color", "{:08d}.jpg", jpeg_quality, tick)
            rows = [",".join(_fmt(v, True) for v in p) for p in _polygons(seq)]
            _lines(d / "groundtruth.txt", rows)
            _lines(d / "sequence", ["channels.color=color/%08d.jpg", "format=default"])
            for tag, flags in (seq.meta.get("tags") or {}).items():
                _lines(d / f"{tag}.tag", [str(int(f)) for f in np.asarray(flags, bool)])
    finally:
        tick.close()
    _lines(out / "list.txt", [seq.name for seq in index])
    return out


def write_lasot(
    index: SequenceIndex, out_dir: str | Path, *, jpeg_quality: int = 95, progress: Progress = False
) -> Path:
    """Write the LaSOT layout ``<out>/<class>/<seq>/``: ``img/00000001.jpg``, ``groundtruth.txt``
    (``0,0,0,0`` where absent, as LaSOT), ``full_occlusion.txt`` / ``out_of_view.txt`` (one
    comma-separated 0/1 line) and ``nlp.txt`` when ``meta["nlp"]``; class = ``meta["class"]``,
    else the name before its last ``-``; return ``out``."""
    out = Path(out_dir)
    tick = _Ticker(index.num_frames, progress, "write LaSOT")
    try:
        for seq in index:
            cls = str(seq.meta.get("class") or _folder_name(seq).rsplit("-", 1)[0])
            d = out / cls / _folder_name(seq)
            _write_frames(seq, d / "img", "{:08d}.jpg", jpeg_quality, tick)
            absent = ~seq.visible
            boxes = np.where(absent[:, None], 0.0, seq.boxes)
            _lines(d / "groundtruth.txt", [",".join(_fmt(v, True) for v in b) for b in boxes])
            oov = seq.out_of_view & absent
            _lines(d / "full_occlusion.txt", [",".join(str(int(a)) for a in absent & ~oov)])
            _lines(d / "out_of_view.txt", [",".join(str(int(a)) for a in oov)])
            if seq.meta.get("nlp"):
                (d / "nlp.txt").write_text(str(seq.meta["nlp"]) + "\n", encoding="utf-8")
    finally:
        tick.close()
    return out
