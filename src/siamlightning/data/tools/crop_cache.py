"""Optional 511-px crop cache (pysot's ``crop511``), read back region by region.

`build_crop_cache` writes one crop per visible (sequence, frame) to
``<out>/<sequence name>/<frame:06d>.x.jpg`` (frame = 0-based index in the sequence) with
pysot's geometry: the target centred at exemplar scale, ``s_x = s_z * size / exemplar_size`` with
``s_z = context_size(w, h, context_amount)``, pixels outside the frame filled with the
frame's mean colour. Each crop records its geometry and padding colour in a JPEG comment, each
finished sequence in ``<seq>/crops.npz``, and the whole cache in ``crop_index.npz`` (names,
per-sequence offsets, frame numbers, centre/side, padding colour) plus ``crop_cache.json``
(the parameters). Building is parallel, shows a tqdm bar, writes through a temporary file and
``os.replace``, and skips what exists, so an interrupted build resumes where it stopped.

The crops are JPEGs with a restart marker after every MCU. `CropCache.read` cuts the MCUs a crop
needs out of the bitstream (renumbering the markers) and decodes only them: a 127-px template
touches ~10% of a 511 crop and a 255-px search ~30%, so decoding costs about a third of a full
decode. Files without that structure are decoded whole. `PairDataset` uses the cache only for
pixels: pairs, boxes and jitter are drawn exactly as on the fly, so both paths give the same
samples up to JPEG and double-resampling error.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm.auto import tqdm

from siamlightning.data.core.crops import (
    context_size,
    crop_affine,
    image_mean,
    warp_crop,
)
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.tools.jpeg import decode_region
from siamlightning.errors import DataError

__all__ = ["CropCache", "build_crop_cache", "cache_geometry", "crop_path"]

INDEX_FILE, META_FILE, PART_FILE = "crop_index.npz", "crop_cache.json", "crops.npz"
VERSION = 1


def crop_path(out_dir: str | Path, name: str, frame: int) -> Path:
    """``<out>/<name>/<frame:06d>.x.jpg``; rejects names that would leave ``out_dir``."""
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise ValueError(f"sequence name {name!r} cannot be used as a cache folder")
    return Path(out_dir, name, f"{frame:06d}.x.jpg")


def cache_geometry(
    boxes: np.ndarray, *, size: int, exemplar_size: int, context_amount: float
) -> np.ndarray:
    """(N, 3) crop centre x, y and side (frame pixels) of the cache crops of (N, 4) boxes."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    side = np.array([context_size(w, h, context_amount) for w, h in b[:, 2:]])
    side = side * size / exemplar_size
    return np.stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2, side], axis=1)


def _encode(crop: np.ndarray, geom: np.ndarray, pad: np.ndarray, quality: int) -> bytes:
    bgr = cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_RST_INTERVAL, 1]
    ok, buf = cv2.imencode(".jpg", bgr, params)
    if not ok:
        raise OSError("JPEG encoding failed")
    note = (f"SLCC{VERSION} " + " ".join(repr(float(v)) for v in (*geom, *pad))).encode()
    com = b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note
    return buf[:2].tobytes() + com + buf[2:].tobytes()


def _comment(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(geometry (3,), pad (3,)) from a finished crop's comment, or None if absent/incomplete."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
            f.seek(-2, os.SEEK_END)
            tail = f.read(2)
    except OSError:
        return None
    if head[:4] != b"\xff\xd8\xff\xfe" or tail != b"\xff\xd9":
        return None
    n = int.from_bytes(head[4:6], "big")
    fields = head[6 : 4 + n].decode(errors="replace").split()
    if len(fields) != 7 or fields[0] != f"SLCC{VERSION}":
        return None
    values = np.array([float(v) for v in fields[1:]])
    return values[:3], values[3:]


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _crop_sequence(job: tuple[Sequence, str, dict[str, Any]]) -> dict[str, Any]:
    """Crop the visible frames of one sequence (a pool task); resumes from existing files."""
    seq, out, p = job
    folder = crop_path(out, seq.name, 0).parent
    part = folder / PART_FILE
    if part.is_file():  # a finished sequence: done unless a crop file went missing since
        with np.load(part) as z:
            done = z["frame"].tolist()
        if all(crop_path(out, seq.name, f).is_file() for f in done):
            return {"name": seq.name, "existing": len(done), "written": 0, "failures": []}
        part.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    frames = np.flatnonzero(seq.visible)
    g = p["geometry"]
    geoms = cache_geometry(
        seq.boxes[frames], size=g["size"], exemplar_size=g["exemplar"], context_amount=g["context"]
    )
    keep, pads, failures, written = [], [], [], 0
    for f, g in zip(frames.tolist(), geoms):
        path = crop_path(out, seq.name, f)
        found = _comment(path)
        if found is not None and np.allclose(found[0], g, rtol=0, atol=1e-6):
            keep.append(f)
            pads.append(found[1])
            continue
        try:
            image = seq.read_frame(f)
        except DataError as exc:
            failures.append(str(exc))
            continue
        pad = np.array(image_mean(image))
        size = p["geometry"]["size"]
        crop = warp_crop(image, crop_affine((g[0], g[1]), g[2], size), size, tuple(pad))
        _write(path, _encode(crop, g, pad, p["quality"]))
        keep.append(f)
        pads.append(pad)
        written += 1
    idx = np.searchsorted(frames, keep)
    arrays = dict(frame=np.asarray(keep, np.int64), geom=geoms[idx].reshape(-1, 3))
    arrays["pad"] = np.asarray(pads, np.float32).reshape(-1, 3)
    if not failures:  # a sequence with failures is retried on the next build
        tmp = folder / (PART_FILE + ".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, part)
    return {"name": seq.name, "existing": len(keep) - written, "written": written,
            "failures": failures, **arrays}  # fmt: skip


def _results(jobs: list, workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        yield from map(_crop_sequence, jobs)
        return
    methods = mp.get_all_start_methods()  # fork: no __main__ guard needed, nothing re-imported
    with mp.get_context("fork" if "fork" in methods else "spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(_crop_sequence, jobs, chunksize=1)


def build_crop_cache(
    index: SequenceIndex,
    out_dir: str | Path,
    *,
    size: int = 511,
    exemplar_size: int = 127,
    context_amount: float = 0.5,
    workers: int = 2,
    quality: int = 90,
    progress: bool = True,
) -> dict[str, Any]:
    """Write (or complete) the crop cache of ``index`` in ``out_dir``; returns a summary dict
    (``crops``, ``written``, ``existing``, ``failed``, ``failures`` (first 20), ``seconds``)."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # the keys of crop_cache.json (its format: caches built before keep resuming)
    geometry = dict(size=int(size), exemplar=int(exemplar_size), context=float(context_amount))
    meta = {"version": VERSION, "dataset": index.name, **geometry}
    meta_path = out / META_FILE
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        if {k: old.get(k) for k in geometry} != geometry:
            raise ValueError(f"{meta_path}: cache built with {old}, asked for {geometry}")
    _write(meta_path, json.dumps(meta, indent=1).encode())
    jobs = [(s, str(out), {"geometry": geometry, "quality": int(quality)}) for s in index]
    counts = {s.name: int(s.visible.sum()) for s in index}
    bar = tqdm(total=sum(counts.values()), desc="crop cache", unit="crop", disable=not progress)
    done: dict[str, dict[str, Any]] = {}
    for r in _results(jobs, workers):
        done[r["name"]] = r
        bar.update(counts[r["name"]])
    bar.close()
    parts = []
    for s in index:
        r = done[s.name]
        if "frame" not in r:
            with np.load(crop_path(out, s.name, 0).parent / PART_FILE) as z:
                r.update({k: z[k] for k in ("frame", "geom", "pad")})
        parts.append(r)
    lens = [len(r["frame"]) for r in parts]
    empty = {"frame": np.zeros(0, np.int64), "geom": np.zeros((0, 3)), "pad": np.zeros((0, 3))}
    cat = {k: np.concatenate([r[k] for r in parts] or [v]) for k, v in empty.items()}
    tmp = out / (INDEX_FILE + ".tmp.npz")
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    np.savez(tmp, names=np.array(index.names, dtype=str), offsets=offsets, **cat)
    os.replace(tmp, out / INDEX_FILE)
    failures = [f for r in parts for f in r["failures"]]
    return {
        "out_dir": str(out), "sequences": len(parts), "crops": int(sum(lens)),
        "written": sum(r["written"] for r in parts), "existing": sum(r["existing"] for r in parts),
        "failed": len(failures), "failures": failures[:20], "seconds": time.perf_counter() - t0,
    }  # fmt: skip


class CropCache:
    """A built crop cache: look up a (sequence name, frame) and read the pixels a crop needs."""

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)
        meta_path, index_path = self.root / META_FILE, self.root / INDEX_FILE
        if not index_path.is_file():
            raise DataError("not a finished crop cache (run build_crop_cache)", path=index_path)
        self.meta = json.loads(meta_path.read_text())
        self.size = int(self.meta["size"])
        with np.load(index_path) as z:
            names, self.offsets = z["names"].tolist(), z["offsets"]
            self.frame, self.geom, self.pad = z["frame"], z["geom"], z["pad"]
        self._seq = {n: k for k, n in enumerate(names)}
        self._base = str(self.root)
        self._names = names

    def __len__(self) -> int:
        return len(self.frame)

    def lookup(self, name: str, frame: int) -> int:
        """Cache row of frame ``frame`` of sequence ``name``, or -1 when it was not cropped."""
        k = self._seq.get(name)
        if k is None:
            return -1
        a, b = int(self.offsets[k]), int(self.offsets[k + 1])
        i = a + int(np.searchsorted(self.frame[a:b], frame))
        return i if i < b and self.frame[i] == frame else -1

    def bind(self, names: list[str], offsets: np.ndarray) -> np.ndarray:
        """Cache row (or -1) of every frame row of an index, (F,) int64, given its sequence
        ``names`` (S,) and frame-table ``offsets`` (S + 1,)."""
        rows = np.full(int(offsets[-1]), -1, dtype=np.int64)
        for j, name in enumerate(names):
            k = self._seq.get(name)
            if k is None:
                continue
            a, b = int(self.offsets[k]), int(self.offsets[k + 1])
            frames = self.frame[a:b]
            ok = frames < offsets[j + 1] - offsets[j]
            rows[offsets[j] + frames[ok]] = np.arange(a, b)[ok]
        return rows

    def crop(self, row: int, matrix: np.ndarray, out_size: int) -> np.ndarray:
        """The (out, out, 3) crop that `warp_crop` (frame, ``matrix``, out) makes, from the cache.

        ``matrix`` maps output to frame pixels; composed with the cache crop's own map it becomes
        output -> cache pixels; only the region it samples (+ 2 px) is decoded.
        """
        c = self.matrix(row)
        ax, ay = matrix[0, 0] / c[0, 0], matrix[1, 1] / c[1, 1]
        tx, ty = (matrix[0, 2] - c[0, 2]) / c[0, 0], (matrix[1, 2] - c[1, 2]) / c[1, 1]
        xs, ys = sorted((tx, tx + ax * (out_size - 1))), sorted((ty, ty + ay * (out_size - 1)))
        box = (
            math.floor(xs[0]) - 2,
            math.floor(ys[0]) - 2,
            math.ceil(xs[1]) + 3,
            math.ceil(ys[1]) + 3,
        )
        image, ox, oy = self.read(row, box)
        m = np.array([[ax, 0.0, tx - ox], [0.0, ay, ty - oy]])
        pad = (*(float(v) for v in self.pad[row]), 0.0)
        # OpenCV warps 4 channels about 1.7x faster than 3; the region is small to convert
        rgba = cv2.cvtColor(image, cv2.COLOR_RGB2RGBA)
        return cv2.cvtColor(warp_crop(rgba, m, out_size, pad), cv2.COLOR_RGBA2RGB)

    def matrix(self, row: int) -> np.ndarray:
        """2x3 map from cache-crop pixels to frame pixels (`crop_affine` convention)."""
        cx, cy, side = self.geom[row]
        return crop_affine((cx, cy), side, self.size)

    def read(self, row: int, box: tuple[int, int, int, int]) -> tuple[np.ndarray, int, int]:
        """RGB pixels covering ``box`` = (x0, y0, x1, y1) of the crop, with their origin (x, y)."""
        k = int(np.searchsorted(self.offsets, row, side="right")) - 1
        return decode_region(f"{self._base}/{self._names[k]}/{self.frame[row]:06d}.x.jpg", box)
