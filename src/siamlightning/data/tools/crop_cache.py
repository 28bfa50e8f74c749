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
pixels (and masks): pairs, boxes and jitter are drawn exactly as on the fly, so both paths give
the same samples up to JPEG and double-resampling error. The reader, `CropCache`, and the file
layout live in `crop_reader`.

Masks (``masks=True``, the default, for sequences with ``has_masks``): the same 511 warp of the
float {0, 1} frame mask (bilinear, padding 0), binarised ``> mask_threshold`` and stored as a
0/255 grey PNG ``<frame:06d>.m.png`` next to the crop (lossless). The threshold is per source,
as SiamMask's ``par_crop.py`` (spec siammask-and-vos.md §0.1, §1.1): ``youtube_vos`` 0.2,
``coco`` 0.5; sources SiamMask does not crop (``davis``, ``synthetic``, any other) use 0.5, the
training label's own threshold. `CropCache.mask` warps a cached mask by a sample's matrix the
way `CropCache.crop` does pixels, then ``> 0.5`` (spec §1.2 step 7). A frame whose mask cannot
be read is a failure of the build (its image crop is kept; the sequence is retried next time).
"""

from __future__ import annotations

import json
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
    warp_mask,
)
from siamlightning.data.core.sequences import Sequence, SequenceIndex, frame_mask
from siamlightning.data.tools.crop_reader import (
    INDEX_FILE,
    META_FILE,
    PART_FILE,
    CropCache,
    crop_path,
    mask_path,
)
from siamlightning.errors import DataError

__all__ = [
    "MASK_THRESHOLDS",
    "CropCache",
    "build_crop_cache",
    "cache_geometry",
    "crop_path",
    "mask_path",
]

VERSION = 1
#: binarisation of the 511 mask crops per source (SiamMask par_crop.py); others: `DEFAULT_MASK_THR`
MASK_THRESHOLDS = {"youtube_vos": 0.2, "coco": 0.5}
DEFAULT_MASK_THR = 0.5


def _threshold(source: str) -> float:
    """The threshold a mask crop of dataset ``source`` is binarised at (`MASK_THRESHOLDS`)."""
    return MASK_THRESHOLDS.get(source, DEFAULT_MASK_THR)


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


def _finished(seq: Sequence, out: str, want_masks: bool) -> dict[str, Any] | None:
    """The record of a finished sequence (its ``crops.npz``) if every file it lists is there."""
    part = crop_path(out, seq.name, 0).parent / PART_FILE
    if not part.is_file():
        return None
    with np.load(part) as z:
        done = z["frame"].tolist()
        masked = z["mask"].tolist() if "mask" in z.files else [False] * len(done)
    ok = all(crop_path(out, seq.name, f).is_file() for f in done)
    ok &= all(mask_path(out, seq.name, f).is_file() for f, m in zip(done, masked) if m)
    if ok and (not want_masks or all(masked)):
        return {"name": seq.name, "existing": len(done), "written": 0, "failures": []}
    part.unlink()
    return None


def _mask_crop(
    seq: Sequence, f: int, shape: tuple[int, int] | None, g: np.ndarray, size: int, thr: float
) -> bytes:
    """The 0/255 PNG of frame ``f``'s mask under the cache geometry ``g`` = (cx, cy, side)."""
    mask = frame_mask(seq, f, shape)
    crop = warp_mask(mask, crop_affine((g[0], g[1]), g[2], size), size, thr) * np.uint8(255)
    ok, buf = cv2.imencode(".png", crop)
    if not ok:
        raise OSError("PNG encoding failed")
    return buf.tobytes()


def _crop_sequence(job: tuple[Sequence, str, dict[str, Any]]) -> dict[str, Any]:
    """Crop the visible frames of one sequence (a pool task); resumes from existing files."""
    seq, out, p = job
    want_masks = bool(p["masks"]) and seq.has_masks
    found_part = _finished(seq, out, want_masks)
    if found_part is not None:
        return found_part
    folder = crop_path(out, seq.name, 0).parent
    folder.mkdir(parents=True, exist_ok=True)
    frames = np.flatnonzero(seq.visible)
    g = p["geometry"]
    size = g["size"]
    geoms = cache_geometry(
        seq.boxes[frames], size=size, exemplar_size=g["exemplar"], context_amount=g["context"]
    )
    keep, pads, masked, failures, written = [], [], [], [], 0
    for f, g in zip(frames.tolist(), geoms):
        path = crop_path(out, seq.name, f)
        found = _comment(path)
        shape = None
        if found is not None and np.allclose(found[0], g, rtol=0, atol=1e-6):
            pad = found[1]
        else:
            try:
                image = seq.read_frame(f)
            except DataError as exc:
                failures.append(str(exc))
                continue
            shape = image.shape[:2]
            pad = np.array(image_mean(image))
            crop = warp_crop(image, crop_affine((g[0], g[1]), g[2], size), size, tuple(pad))
            _write(path, _encode(crop, g, pad, p["quality"]))
            written += 1
        keep.append(f)
        pads.append(pad)
        mpath = mask_path(out, seq.name, f)
        if want_masks and (shape is not None or not mpath.is_file()):  # new crop: new mask
            try:
                _write(mpath, _mask_crop(seq, f, shape, g, size, p["mask_threshold"]))
            except DataError as exc:  # the image crop stays; the sequence is retried
                mpath.unlink(missing_ok=True)  # a mask of an older crop no longer fits
                failures.append(str(exc))
        masked.append(want_masks and mpath.is_file())
    idx = np.searchsorted(frames, keep)
    arrays = dict(frame=np.asarray(keep, np.int64), geom=geoms[idx].reshape(-1, 3))
    arrays["pad"] = np.asarray(pads, np.float32).reshape(-1, 3)
    arrays["mask"] = np.asarray(masked, bool)
    if not failures:  # a sequence with failures is retried on the next build
        tmp = folder / (PART_FILE + ".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, folder / PART_FILE)
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
    masks: bool = True,
    mask_threshold: float | None = None,
) -> dict[str, Any]:
    """Write (or complete) the crop cache of ``index`` in ``out_dir``; returns a summary dict
    (``crops``, ``written``, ``existing``, ``failed``, ``failures`` (first 20), ``seconds``).

    ``masks``: also crop the masks of sequences that have them; ``mask_threshold``: their
    binarisation, None = `MASK_THRESHOLDS` of ``index.name`` (youtube_vos 0.2, others 0.5).
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # the keys of crop_cache.json (its format: caches built before keep resuming)
    geometry = dict(size=int(size), exemplar=int(exemplar_size), context=float(context_amount))
    thr = float(mask_threshold if mask_threshold is not None else _threshold(index.name))
    meta = {"version": VERSION, "dataset": index.name, **geometry, "mask_threshold": thr}
    meta_path = out / META_FILE
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        if {k: old.get(k) for k in geometry} != geometry:
            raise ValueError(f"{meta_path}: cache built with {old}, asked for {geometry}")
        if masks and old.get("mask_threshold", thr) != thr:  # caches from before masks: none
            raise ValueError(
                f"{meta_path}: mask crops binarised at {old['mask_threshold']}, asked for {thr}"
            )
    _write(meta_path, json.dumps(meta, indent=1).encode())
    params = {"geometry": geometry, "quality": int(quality), "masks": masks, "mask_threshold": thr}
    jobs = [(s, str(out), params) for s in index]
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
                r["mask"] = z["mask"] if "mask" in z.files else np.zeros(len(r["frame"]), bool)
        parts.append(r)
    lens = [len(r["frame"]) for r in parts]
    empty = {"frame": np.zeros(0, np.int64), "geom": np.zeros((0, 3)), "pad": np.zeros((0, 3)),
             "mask": np.zeros(0, bool)}  # fmt: skip
    cat = {k: np.concatenate([r[k] for r in parts] or [v]) for k, v in empty.items()}
    tmp = out / (INDEX_FILE + ".tmp.npz")
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    np.savez(tmp, names=np.array(index.names, dtype=str), offsets=offsets, **cat)
    os.replace(tmp, out / INDEX_FILE)
    failures = [f for r in parts for f in r["failures"]]
    return {
        "out_dir": str(out), "sequences": len(parts), "crops": int(sum(lens)),
        "written": sum(r["written"] for r in parts), "existing": sum(r["existing"] for r in parts),
        "masks": int(cat["mask"].sum()), "failed": len(failures), "failures": failures[:20],
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip
