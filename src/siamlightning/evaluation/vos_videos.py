"""VOS benchmark videos: one `Sequence` per video, its label images and the palette PNG writer.

A VOS benchmark (``kind: vos``) tracks and scores videos, not targets. `vos_index` turns any
source's index into one sequence per video whose ``meta["vos"]`` is a `VOSVideo`:

- ``palette`` sources (DAVIS 2017, YouTube-VOS: one sequence per object) are grouped back by
  ``meta["sequence"]`` / ``meta["video"]``; the frames are the union of the objects' frames and
  each frame's mask path is its annotation PNG (pixel = object id; 255 = void, read as 0).
  YouTube-VOS objects start at their first annotated frame (`VOSVideo.objects`); DAVIS objects
  are ids 1..max of frame 0's labels (davis2017-evaluation's rule).
- every other sequence with masks (DAVIS 2016, synthetic, an OTB folder with ``mask_folder``
  beside ``img/``) is one video with one object: any non-zero mask pixel (``binary``).

Frame ids (result file names) are the frame files' stems (``00000``), or ``%05d`` of the index
for rendered frames. Result PNGs are 8-bit palette images with DAVIS's (PASCAL VOC) colours.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence as SeqLike
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from siamlightning.data.core.masks import read_palette_png
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError

__all__ = [
    "DAVIS_PALETTE",
    "VOID",
    "VOSObject",
    "VOSVideo",
    "read_labels",
    "video_objects",
    "vos_index",
    "vos_video",
    "write_labels",
]

log = logging.getLogger(__name__)
VOID = 255  # DAVIS's void label; semi-supervised scoring reads it as background


def _voc_palette() -> list[int]:
    """(768,) PASCAL VOC colours (index bits spread over the high bits of R, G, B), as DAVIS."""
    out = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out += [r, g, b]
    return out


DAVIS_PALETTE: list[int] = _voc_palette()  # 0 black, 1 (128, 0, 0), 2 (0, 128, 0), ...


@dataclass(frozen=True)
class VOSObject:
    """One object of a video: its ``label`` in the PNGs, initialised on frame index ``start``."""

    label: int
    start: int = 0


@dataclass(frozen=True)
class VOSVideo:
    """What a VOS benchmark needs of a video beyond its frames and mask paths.

    ``frame_ids`` (N,) result file stems; ``objects`` None = ids 1..max of frame 0's labels;
    ``binary``: every non-zero mask pixel is the one object (DAVIS 2016, single-mask sources).
    """

    frame_ids: tuple[str, ...]
    objects: tuple[VOSObject, ...] | None = None
    binary: bool = False


def vos_video(seq: Sequence) -> VOSVideo:
    """The `VOSVideo` of a sequence of a `vos_index`; DataError for any other sequence."""
    video = seq.meta.get("vos")
    if not isinstance(video, VOSVideo):
        raise DataError(f"sequence {seq.name!r} is not a VOS video (open it with vos_index)")
    return video


def _frame_key(path: str) -> tuple[int, int | str]:
    stem = Path(path).stem
    return (0, int(stem)) if stem.isdigit() else (1, stem)


def _grouped(name: str, members: list[Sequence]) -> Sequence:
    """One video from the per-object sequences of a palette source (same frames, same PNGs)."""
    masks: dict[str, str] = {}
    for s in members:
        for frame, mask in zip(s.frames, s.masks or [""] * len(s)):
            masks[frame] = masks.get(frame) or mask
    frames = sorted(masks, key=_frame_key)
    objects = None
    if "video" in members[0].meta:  # YouTube-VOS: each object from its first annotated frame
        at = {f: k for k, f in enumerate(frames)}
        objects = []
        for s in members:
            first = next((i for i, m in enumerate(s.masks or []) if m), None)
            if first is not None:
                objects.append(VOSObject(int(s.meta["mask_id"]), at[s.frames[first]]))
        objects = tuple(objects)
    video = VOSVideo(tuple(Path(f).stem for f in frames), objects, binary=False)
    size = {k: members[0].meta.get(k) for k in ("width", "height")}
    boxes = np.full((len(frames), 4), np.nan)
    return Sequence(
        name, frames, boxes, masks=[masks[f] for f in frames], meta={"vos": video, **size}
    )


def _single(seq: Sequence, mask_folder: str | None) -> Sequence | None:
    """A one-object video of a sequence with masks (or ``<seq>/<mask_folder>/<stem>.png``)."""
    n = len(seq)
    masks = seq.masks
    if masks is None and seq.renderer is None and mask_folder:
        masks = [
            str(Path(f).parent.parent / mask_folder / f"{Path(f).stem}.png") for f in seq.frames
        ]
        missing = [m for m in masks if not Path(m).is_file()]
        if len(missing) == n:
            masks = None
        elif missing:
            raise DataError(f"sequence {seq.name!r}: mask of a frame is missing", path=missing[0])
    if masks is None and not (seq.renderer is not None and seq.has_masks):
        return None
    ids = [f"{i:05d}" for i in range(n)] if seq.renderer else [Path(f).stem for f in seq.frames]
    meta = {k: v for k, v in seq.meta.items() if k in ("width", "height")}
    meta["vos"] = VOSVideo(tuple(ids), None, binary=True)
    boxes = np.full((n, 4), np.nan)
    return Sequence(seq.name, seq.frames, boxes, masks=masks, meta=meta, renderer=seq.renderer)


def vos_index(index: SequenceIndex, *, mask_folder: str | None = None) -> SequenceIndex:
    """One sequence per video (``meta["vos"]``: `VOSVideo`); sequences without masks are
    dropped with a log line. ``mask_folder``: masks of mask-less sequences are
    ``<frame folder>/../<mask_folder>/<frame stem>.png`` (the real DAVIS sequences' ``masks``)."""
    groups: dict[str, list[Sequence]] = {}
    order: list[str | Sequence] = []  # a group's key where its first object was, or a video
    dropped = []
    for seq in index:
        if seq.meta.get("mask_format") == "palette":
            key = str(seq.meta.get("video") or seq.meta.get("sequence") or seq.name)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(seq)
            continue
        one = _single(seq, mask_folder)
        if one is None:
            dropped.append(seq.name)
        else:
            order.append(one)
    out = [_grouped(x, groups[x]) if isinstance(x, str) else x for x in order]
    if dropped:
        log.warning(
            "VOS benchmark: %d sequence(s) without masks skipped: %s", len(dropped), dropped
        )
    return SequenceIndex(out, name=index.name, root=index.root)


def read_labels(seq: Sequence, i: int) -> np.ndarray | None:
    """Frame ``i``'s ground-truth labels (H, W) uint8 (0 = background, void 255 -> 0; binary
    videos 0/1), or None when the frame has no annotation."""
    video = vos_video(seq)
    if seq.renderer is not None:
        mask = seq.read_mask(i)
        return None if mask is None else mask.astype(np.uint8)
    path = seq.masks[i] if seq.masks else ""
    if not path:
        return None
    labels = read_palette_png(path)
    if video.binary:
        return (labels > 0).astype(np.uint8)
    return np.where(labels == VOID, np.uint8(0), labels)


def video_objects(seq: Sequence, first: np.ndarray | None) -> tuple[VOSObject, ...]:
    """The video's objects: `VOSVideo.objects`, else ids 1..max of frame 0's labels ``first``."""
    video = vos_video(seq)
    if video.objects is not None:
        return video.objects
    if first is None:
        where = seq.masks[0] if seq.masks else None
        raise DataError(f"sequence {seq.name!r}: frame 0 has no ground truth", path=where)
    return tuple(VOSObject(k, 0) for k in range(1, int(first.max(initial=0)) + 1))


def write_labels(
    path: str | Path, labels: np.ndarray, palette: SeqLike[int] = DAVIS_PALETTE
) -> None:
    """Write a label image (H, W) uint8 as an 8-bit palette PNG (DAVIS colours)."""
    a = np.ascontiguousarray(labels, dtype=np.uint8)
    if a.ndim != 2:
        raise ValueError(f"labels must be (H, W), got shape {a.shape}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    im = Image.frombytes("P", (a.shape[1], a.shape[0]), a.tobytes())
    im.putpalette(list(palette))
    im.save(p)
