"""The one data model: `Sequence` (one annotated video) and `SequenceIndex` (a dataset of them).

Boxes are ``x, y, w, h`` float pixels with ``(x, y)`` the top-left corner and the right edge at
``x + w``; absent or unannotated frames hold NaN. Images are RGB uint8 ``(H, W, 3)``.
"""

from __future__ import annotations

import heapq
import operator
import zlib
from collections.abc import Iterator
from collections.abc import Sequence as SeqLike
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from siamlightning.data.core.frame_cache import file_key, frame_cache
from siamlightning.data.core.io import read_image
from siamlightning.data.core.masks import IN_META, decode_mask
from siamlightning.errors import DataError


@runtime_checkable
class FrameRenderer(Protocol):
    """Produces frames in memory (e.g. the synthetic generator) instead of reading files."""

    def frame(self, i: int) -> np.ndarray:
        """Return frame ``i`` as RGB uint8 (H, W, 3)."""

    def mask(self, i: int) -> np.ndarray | None:
        """Return the target mask of frame ``i`` as bool (H, W), or None."""


def _flags(x: np.ndarray | SeqLike[bool] | None, n: int, what: str, name: str) -> np.ndarray:
    if x is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(x, dtype=bool).reshape(-1)
    if arr.shape[0] != n:
        raise DataError(f"sequence {name!r}: {what} has {arr.shape[0]} entries for {n} frames")
    return arr


class FrameList(SeqLike[str]):
    """N frame paths ``template % (start + i * step)``, made on access (no list of N strings).

    A read-only list of str: ``len``, ``[i]`` (a str), ``[a:b]`` (a list), iteration and ``==``
    against any sequence of str. `CompactIndex` gives one to each sequence named by a pattern.
    """

    __slots__ = ("length", "start", "step", "template")

    def __init__(self, template: str, start: int, step: int, length: int) -> None:
        self.template, self.start, self.step, self.length = template, start, step, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int | slice) -> Any:  # str, or list[str] for a slice
        if isinstance(i, slice):
            return [
                self.template % (self.start + k * self.step) for k in range(*i.indices(self.length))
            ]
        k = operator.index(i)
        if k < 0:
            k += self.length
        if not 0 <= k < self.length:
            raise IndexError(f"frame {i} out of range for {self.length} frames")
        return self.template % (self.start + k * self.step)

    def __iter__(self) -> Iterator[str]:
        t, a, d = self.template, self.start, self.step
        return (t % (a + k * d) for k in range(self.length))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (SeqLike, FrameList)) or isinstance(other, str):
            return NotImplemented
        return len(other) == self.length and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # like list

    def __reduce__(self) -> tuple:
        return FrameList, (self.template, self.start, self.step, self.length)

    def __repr__(self) -> str:
        return (
            f"FrameList({self.template!r}, start={self.start}, step={self.step}, n={self.length})"
        )


@dataclass(eq=False)
class Sequence:
    """One annotated video.

    Attributes:
        name: unique name within its index.
        frames: N frame paths (or ``synthetic://`` URIs when ``renderer`` draws them): a list of
            str, or a lazy `FrameList` (kept as is) for sequences of a `CompactIndex`.
        boxes: (N, 4) float64 ``x, y, w, h``; NaN rows where the target is absent/unannotated.
        polygons: optional (N, 8) float64 rotated boxes ``x1, y1, ..., x4, y4``.
        masks: optional N mask paths (binary or palette PNGs).
        absent, occluded, out_of_view: (N,) bool per-frame flags.
        meta: free-form metadata (resolution, class, attributes, source file, ...).
        renderer: optional in-memory frame source used instead of ``frames``.
    """

    name: str
    frames: list[str] | FrameList
    boxes: np.ndarray
    polygons: np.ndarray | None = None
    masks: list[str] | None = None
    absent: np.ndarray | None = None
    occluded: np.ndarray | None = None
    out_of_view: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    renderer: FrameRenderer | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.frames, FrameList):
            self.frames = [str(f) for f in self.frames]
        n = len(self.frames)
        boxes = np.asarray(self.boxes, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise DataError(f"sequence {self.name!r}: boxes must be (N, 4), got {boxes.shape}")
        if boxes.shape[0] != n:
            src = self.meta.get("annotation_file")
            raise DataError(
                f"sequence {self.name!r} has {n} frames but {boxes.shape[0]} box rows",
                path=src,
            )
        self.boxes = boxes
        if self.polygons is not None:
            poly = np.asarray(self.polygons, dtype=np.float64)
            if poly.shape != (n, 8):
                raise DataError(
                    f"sequence {self.name!r}: polygons must be ({n}, 8), got {poly.shape}"
                )
            self.polygons = poly
        if self.masks is not None and len(self.masks) != n:
            raise DataError(f"sequence {self.name!r}: {len(self.masks)} masks for {n} frames")
        self.absent = _flags(self.absent, n, "absent", self.name) | ~np.isfinite(boxes).all(axis=1)
        self.occluded = _flags(self.occluded, n, "occluded", self.name)
        self.out_of_view = _flags(self.out_of_view, n, "out_of_view", self.name)

    def __len__(self) -> int:
        return len(self.frames)

    def image_size(self) -> tuple[int, int]:
        """(width, height): ``meta`` width/height when given, else decoded from frame 0."""
        w, h = self.meta.get("width"), self.meta.get("height")
        if w is None or h is None:
            h, w = self.read_frame(0).shape[:2]
        return int(w), int(h)

    @property
    def has_masks(self) -> bool:
        """True when per-frame target masks are available."""
        return self.masks is not None or bool(self.meta.get("has_masks", False))

    @property
    def visible(self) -> np.ndarray:
        """(N,) bool: annotated with a positive-size box and not flagged absent."""
        b = self.boxes
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(b).all(axis=1) & (b[:, 2] > 0) & (b[:, 3] > 0)
        return ok & ~self.absent

    def read_frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as RGB uint8 (H, W, 3); raises `FrameReadError` naming the file."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"sequence {self.name!r} has {len(self)} frames, asked for {i}")
        cache = frame_cache()
        if self.renderer is not None:
            j = i % len(self)
            key = getattr(self.renderer, "cache_key", None)
            if cache is None or key is None:
                return self.renderer.frame(j)
            return cache.get((key, j), lambda: self.renderer.frame(j))
        path = self.frames[i]
        if cache is None:
            return read_image(path)
        try:
            key = file_key(path)
        except OSError:  # missing or unreadable: read_image raises the FrameReadError naming it
            return read_image(path)
        return cache.get(key, lambda: read_image(path))

    def read_mask(self, i: int) -> np.ndarray | None:
        """Target mask of frame ``i`` as bool (H, W), or None when the sequence has none.

        Decoded by the format the source set in ``meta["mask_format"]`` (`data.core.masks`):
        ``binary`` mask files (the default), ``palette`` PNGs with ``meta["mask_id"]``, ``coco``.
        """
        if self.renderer is not None:
            return self.renderer.mask(i % len(self))
        fmt = self.meta.get("mask_format", "binary")
        if fmt in IN_META:
            return decode_mask(fmt, None, self.meta, self.name)
        if self.masks is None:
            return None
        return decode_mask(fmt, self.masks[i], self.meta, self.name)

    @property
    def uid(self) -> int:
        """A stable 63-bit id derived from the name (used to de-duplicate across DDP ranks)."""
        return zlib.crc32(self.name.encode()) | (zlib.adler32(self.name.encode()) << 31)


@dataclass(frozen=True)
class FrameTable:
    """All frames of an index as flat arrays (what samplers need, without touching `Sequence`s).

    Attributes:
        offsets: (S + 1,) int64; frames of sequence k are rows ``offsets[k]:offsets[k + 1]``.
        boxes: (F, 4) float ``x, y, w, h`` (NaN where absent / unannotated).
        visible: (F,) bool, as `Sequence.visible`.
        visible_ratio: (F,) float32 visible fraction of the target, or None when no sequence of
            the index gives one (sequences without it hold 1.0 when others have it).
        image_size: (S, 2) float64 image width, height of each sequence from its
            ``meta["width"]``/``["height"]`` (NaN where not given), or None if not computed.
    """

    offsets: np.ndarray
    boxes: np.ndarray
    visible: np.ndarray
    visible_ratio: np.ndarray | None = None
    image_size: np.ndarray | None = None

    def sequence_of(self, rows: np.ndarray) -> np.ndarray:
        """Sequence index of each flat frame row, (K,) int64."""
        return np.searchsorted(self.offsets, rows, side="right") - 1


def shard_owners(lengths: np.ndarray | SeqLike[int], world_size: int) -> np.ndarray:
    """Rank of each sequence (S,) int64: longest first onto the least loaded rank (ties: lowest
    rank), so every rank computes the same split. Frame counts ``lengths`` (S,)."""
    lens = np.asarray(lengths, dtype=np.int64).reshape(-1)
    owner = np.zeros(len(lens), dtype=np.int64)
    heap = [(0, r) for r in range(max(world_size, 1))]
    for k in np.argsort(-lens, kind="stable"):  # equal lengths keep their index order
        load, r = heapq.heappop(heap)
        owner[k] = r
        heapq.heappush(heap, (load + int(lens[k]), r))
    return owner


def meta_image_size(meta: dict[str, Any]) -> tuple[float, float]:
    """(width, height) from ``meta`` as floats, NaN for a missing or non-numeric value."""
    out = []
    for key in ("width", "height"):
        v = meta.get(key)
        ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        out.append(float(v) if ok else np.nan)
    return out[0], out[1]


class SequenceIndex:
    """An ordered, picklable collection of `Sequence`s with unique names."""

    def __init__(self, sequences: SeqLike[Sequence], *, name: str = "", root: str | None = None):
        self.sequences: list[Sequence] = list(sequences)
        self.name = name
        self.root = root
        self._by_name: dict[str, int] = {}
        for k, s in enumerate(self.sequences):
            if s.name in self._by_name:
                raise DataError(f"dataset {name!r}: duplicate sequence name {s.name!r}")
            self._by_name[s.name] = k

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self) -> Iterator[Sequence]:
        return iter(self.sequences)

    def __getitem__(self, key: int | str) -> Sequence:
        if isinstance(key, str):
            if key not in self._by_name:
                raise KeyError(f"dataset {self.name!r} has no sequence {key!r}")
            return self.sequences[self._by_name[key]]
        return self.sequences[key]

    def __contains__(self, key: object) -> bool:
        return key in self._by_name

    def __repr__(self) -> str:
        return f"SequenceIndex(name={self.name!r}, sequences={len(self)}, frames={self.num_frames})"

    @property
    def names(self) -> list[str]:
        """Sequence names in order."""
        return [s.name for s in self.sequences]

    @property
    def num_frames(self) -> int:
        """Total number of frames over all sequences."""
        return sum(len(s) for s in self.sequences)

    def frame_table(self) -> FrameTable:
        """Every frame's box and visibility as flat arrays (see `FrameTable`)."""
        lens = np.array([len(s) for s in self.sequences], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        size = np.array([meta_image_size(s.meta) for s in self.sequences], np.float64)
        if not self.sequences:
            empty = np.zeros((0, 2))
            return FrameTable(offsets, np.zeros((0, 4)), np.zeros(0, dtype=bool), None, empty)
        boxes = np.concatenate([s.boxes for s in self.sequences])
        visible = np.concatenate([s.visible for s in self.sequences])
        ratios = [s.meta.get("visible_ratio") for s in self.sequences]
        ratio = None
        if any(r is not None for r in ratios):
            ratio = np.concatenate(
                [
                    np.ones(len(s), np.float32) if r is None else np.asarray(r, np.float32)
                    for s, r in zip(self.sequences, ratios, strict=True)
                ]
            )
        return FrameTable(offsets, boxes, visible, ratio, size.reshape(-1, 2))

    def select(self, names: SeqLike[str]) -> SequenceIndex:
        """A new index holding only ``names`` (in that order)."""
        return SequenceIndex([self[n] for n in names], name=self.name, root=self.root)

    def shard(self, rank: int, world_size: int) -> SequenceIndex:
        """Sequences of rank ``rank`` of ``world_size`` (balanced by frame count, no padding)."""
        if world_size <= 1:
            return self
        owner = shard_owners([len(s) for s in self.sequences], world_size)
        keep = [self.sequences[k] for k in range(len(self)) if owner[k] == rank]
        return SequenceIndex(keep, name=self.name, root=self.root)


def frame_mask(seq: Sequence, i: int, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Target mask of frame ``i`` of a sequence with masks as bool (H, W): what training reads.

    Raises a `DataError` naming the mask file (else the annotation file) when the frame has no
    mask, or when the mask is not ``shape`` = the frame's (H, W) (None: ``meta`` height/width
    when the source gives them).
    """
    path = seq.masks[i] if seq.masks is not None and seq.masks[i] else None
    where = path or seq.meta.get("annotation_file")
    mask = seq.read_mask(i)
    if mask is None:
        raise DataError(f"sequence {seq.name!r} has masks but frame {i} has none", path=where)
    if shape is None:
        h, w = seq.meta.get("height"), seq.meta.get("width")
        known = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (h, w))
        shape = (int(h), int(w)) if known else None
    if shape is not None and mask.shape[:2] != tuple(shape):
        raise DataError(
            f"sequence {seq.name!r} frame {i}: mask is {mask.shape[1]}x{mask.shape[0]} px, "
            f"the frame {shape[1]}x{shape[0]}",
            path=where,
        )
    return mask
