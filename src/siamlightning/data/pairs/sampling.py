"""Template/search pair selection over a weighted mix of datasets.

Every draw comes from a `numpy.random.Generator` the caller seeds from ``(seed, epoch, rank,
index)``: a pair is a pure function of those numbers. That is stronger than a per-``(seed, epoch,
rank, worker, index)`` stream: pairs do not depend on the DataLoader worker that computes them
nor on the number of workers, so a resumed run, or one with other ``num_workers``, sees the same.

`PairSampler.bind` works on `SequenceIndex.frame_table()` (flat per-frame arrays), vectorised
over all frames: each source keeps one flat array of usable frame rows plus per-sequence offsets.

Box sanity filters (siamfc-pytorch's ``_filter``): the frame is visible (annotated, finite,
positive size, not absent), ``visible_ratio`` (GOT-10k cover/8) >= ``min_visible`` (no fully
occluded template), sides in ``[min_size, max_size]`` px, ``max(w/h, h/w) <= max_aspect``, and,
when the image size is known (``meta["width"]``/``["height"]``), sides within ``[min_rel_size,
max_rel_size]`` of the image's and the centre inside it. siamfc-pytorch: ``min_size=20,
max_size=500, max_aspect=4, min_rel_size=0.01, max_rel_size=0.5``.

Frame range (``range_unit``): ``"frames"`` (default) draws the search uniformly among the usable
frames whose frame number is within ``frame_range`` of the template's; ``"positions"`` is pysot's
rule: uniform within ``frame_range`` positions of the template in the list of usable frames (so a
gap in the annotations does not shrink the window). Both may pick the template frame itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from collections.abc import Sequence as SeqLike
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch.utils.data

from siamlightning.data.core.sequences import FrameTable, SequenceIndex

log = logging.getLogger(__name__)
_UNITS = ("frames", "positions")


@dataclass(frozen=True)
class PairSpec:
    """Which frames make a training pair: (source, sequence, frame) for template and search."""

    z: tuple[int, int, int]
    x: tuple[int, int, int]
    negative: bool


def usable_mask(
    boxes: np.ndarray,
    visible: np.ndarray,
    *,
    min_size: float = 4.0,
    max_size: float | None = None,
    max_aspect: float = 8.0,
    visible_ratio: np.ndarray | None = None,
    min_visible: float = 0.5,
    image_size: np.ndarray | None = None,
    min_rel_size: float = 0.0,
    max_rel_size: float = 1.0,
) -> tuple[np.ndarray, dict[str, int]]:
    """(F,) bool of usable frames and the number of visible frames failing each rule.

    Args:
        boxes: (F, 4) ``x, y, w, h``; visible: (F,) bool; visible_ratio: (F,) or None.
        image_size: (F, 2) width, height per frame (NaN where unknown) or None.
    """
    b = np.asarray(boxes, dtype=np.float64)
    x, y, w, h = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    vis = np.asarray(visible, dtype=bool) & np.isfinite(b).all(axis=1) & (w > 0) & (h > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rules = {
            "too_small": (w < min_size) | (h < min_size),
            "too_large": (w > max_size) | (h > max_size) if max_size else np.zeros_like(vis),
            "aspect": np.maximum(w / h, h / w) > max_aspect,
        }
        if visible_ratio is not None:
            rules["low_visibility"] = ~(np.asarray(visible_ratio, np.float64) >= min_visible)
        if image_size is not None and (min_rel_size > 0 or max_rel_size < 1):
            iw, ih = image_size[:, 0], image_size[:, 1]
            known = np.isfinite(iw) & np.isfinite(ih) & (iw > 0) & (ih > 0)
            rel = np.minimum(w / iw, h / ih) < min_rel_size
            rel |= np.maximum(w / iw, h / ih) > max_rel_size
            cx, cy = x + w / 2, y + h / 2
            rules["relative_size"] = known & rel
            rules["outside_image"] = known & ((cx < 0) | (cy < 0) | (cx > iw) | (cy > ih))
    ok = vis.copy()
    counts = {"not_visible": int((~vis).sum())}
    for name, bad in rules.items():
        counts[name] = int((vis & bad).sum())
        ok &= ~bad
    return ok, counts


def usable_frames(boxes: np.ndarray, visible: np.ndarray, **filters: Any) -> np.ndarray:
    """Indices (K,) of the frames passing `usable_mask` (same keyword filters)."""
    return np.flatnonzero(usable_mask(boxes, visible, **filters)[0])


def _image_sizes(index: Any, table: FrameTable) -> np.ndarray:
    """(F, 2) image width/height per frame: ``table.image_size`` (S, 2) if given, else meta."""
    sizes = getattr(table, "image_size", None)
    if sizes is None:
        meta = [getattr(s, "meta", {}) for s in index]
        sizes = np.array([[m.get("width", np.nan), m.get("height", np.nan)] for m in meta], float)
    counts = np.diff(table.offsets)
    return np.repeat(np.asarray(sizes, np.float64).reshape(-1, 2), counts, axis=0)


@dataclass(frozen=True)
class _Source:
    table: FrameTable  # the source's frame table (boxes of every frame)
    rows: np.ndarray  # (K,) int64 usable frame rows of the source's frame table
    frame_no: np.ndarray  # (K,) int64 frame number within its sequence
    offsets: np.ndarray  # (S + 1,) int64: usable rows of sequence k are [offsets[k], offsets[k+1])
    seqs: np.ndarray  # (S',) int64 sequences with at least one usable frame
    frame_range: int


class PairSampler:
    """How template/search pairs are drawn: same sequence within ``frame_range`` (see the module
    doc), or (with probability ``neg_prob``) a negative pair whose search comes from another
    sequence. `bind` applies it to a mix of sources; the `BoundPairSampler` it returns draws."""

    def __init__(
        self,
        *,
        frame_range: int = 100,
        range_unit: str = "frames",
        neg_prob: float = 0.0,
        min_size: float = 4.0,
        max_size: float | None = None,
        max_aspect: float = 8.0,
        min_rel_size: float = 0.0,
        max_rel_size: float = 1.0,
        min_visible: float = 0.5,
    ) -> None:
        if frame_range < 0:
            raise ValueError(f"frame_range must be >= 0, got {frame_range}")
        if range_unit not in _UNITS:
            raise ValueError(f"range_unit must be one of {_UNITS}, got {range_unit!r}")
        if not 0.0 <= neg_prob <= 1.0:
            raise ValueError(f"neg_prob must be in [0, 1], got {neg_prob}")
        self.frame_range = frame_range
        self.range_unit = range_unit
        self.neg_prob = neg_prob
        self.filters: dict[str, Any] = dict(
            min_size=min_size,
            max_size=max_size,
            max_aspect=max_aspect,
            min_rel_size=min_rel_size,
            max_rel_size=max_rel_size,
            min_visible=min_visible,
        )

    def _bind_one(self, index: Any, frame_range: int) -> tuple[_Source, dict[str, Any]]:
        table = index.frame_table()
        f = self.filters
        sizes = None
        if f["min_rel_size"] > 0 or f["max_rel_size"] < 1:
            sizes = _image_sizes(index, table)
        ok, dropped = usable_mask(
            table.boxes, table.visible, visible_ratio=table.visible_ratio, image_size=sizes, **f
        )
        rows = np.flatnonzero(ok).astype(np.int64)
        seq = table.sequence_of(rows)
        n_seq = len(table.offsets) - 1
        per_seq = np.bincount(seq, minlength=n_seq)
        offsets = np.concatenate([[0], np.cumsum(per_seq)]).astype(np.int64)
        frame_no = rows - table.offsets[seq]
        src = _Source(table, rows, frame_no, offsets, np.flatnonzero(per_seq), frame_range)
        info = {
            "name": getattr(index, "name", ""),
            "sequences": n_seq,
            "empty_sequences": int(n_seq - len(src.seqs)),
            "frames": len(table.boxes),
            "usable_frames": len(rows),
            "dropped": dropped,
            "frame_range": frame_range,
        }
        return src, info

    def bind(
        self,
        sources: SeqLike[SequenceIndex],
        weights: SeqLike[float] | None = None,
        *,
        frame_ranges: SeqLike[int | None] | None = None,
        num_use: SeqLike[int | None] | None = None,
    ) -> BoundPairSampler:
        """This sampler bound to ``sources``: their usable frames indexed, the mix fixed.

        The sampler itself is not changed (Hydra builds it; several datasets may bind it).

        Args:
            sources: indexes (anything with ``frame_table()``, ``name`` and iteration).
            weights: per-source weight (default 1).
            frame_ranges: per-source frame range; None entries use ``self.frame_range``.
            num_use: pysot's NUM_USE per source. If any entry is given, source i is drawn with
                probability proportional to ``weights[i] * n_i``, with ``n_i = num_use[i]`` or,
                for None / -1, its number of usable sequences (pysot: all of them).
        """
        k = len(sources)
        w = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (k,) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"need one non-negative weight per source, got {list(w)}")
        ranges = list(frame_ranges) if frame_ranges is not None else [None] * k
        if len(ranges) != k:
            raise ValueError(f"need one frame range per source, got {ranges}")
        bound = [
            self._bind_one(s, self.frame_range if r is None else int(r))
            for s, r in zip(sources, ranges, strict=True)
        ]
        src = [b[0] for b in bound]
        summary = [b[1] for b in bound]
        n_seqs = np.array([len(s.seqs) for s in src], dtype=np.float64)
        if num_use is not None and any(u is not None for u in num_use):
            if len(num_use) != k:
                raise ValueError(f"need one num_use per source, got {list(num_use)}")
            use = [n if u is None or u < 0 else float(u) for u, n in zip(num_use, n_seqs)]
            w = w * np.asarray(use, dtype=np.float64)
        w = np.where(n_seqs > 0, w, 0.0)
        if w.sum() <= 0:
            raise ValueError("no source has a sequence with a usable (visible, sane) target box")
        cum = np.cumsum(w / w.sum())
        cum[-1] = 1.0
        pairs = BoundPairSampler(self, src, cum, summary)
        for info, p in zip(summary, pairs.probabilities, strict=True):
            info["probability"] = float(p)
            log.info(
                "pair source %r: %d sequences (%d without a usable frame, ignored), %d of %d "
                "frames usable (dropped: %s), drawn with p=%.3f",
                info["name"], info["sequences"], info["empty_sequences"], info["usable_frames"],
                info["frames"], {k: v for k, v in info["dropped"].items() if v}, p,
            )  # fmt: skip
        return pairs


class BoundPairSampler:
    """A `PairSampler` bound to its sources (`PairSampler.bind`): draws pairs from their usable
    frames. Not changed after it is built; ``summary`` has one dict per source (counts of
    sequences, frames, usable frames, dropped frames per rule, frame range, probability)."""

    def __init__(
        self,
        sampler: PairSampler,
        sources: list[_Source],
        cum: np.ndarray,
        summary: list[dict[str, Any]],
    ) -> None:
        self.sampler = sampler
        self._src = sources
        self._cum = cum
        self.summary = summary

    @property
    def probabilities(self) -> np.ndarray:
        """(num_sources,) probability of drawing each source."""
        return np.diff(self._cum, prepend=0.0)

    def frame_row(self, src: int, seq: int, frame: int) -> int:
        """Row of (sequence, frame) of source ``src`` in that source's frame table."""
        return int(self._src[src].table.offsets[seq]) + frame

    def box(self, src: int, seq: int, frame: int) -> np.ndarray:
        """(4,) float64 box ``x, y, w, h`` of a frame, from the bound frame table."""
        return np.asarray(self._src[src].table.boxes[self.frame_row(src, seq, frame)], np.float64)

    def _pick_seq(self, rng: np.random.Generator) -> tuple[int, int]:
        src = min(int(np.searchsorted(self._cum, rng.random(), side="right")), len(self._cum) - 1)
        seqs = self._src[src].seqs
        return src, int(seqs[rng.integers(len(seqs))])

    def sample(self, rng: np.random.Generator) -> PairSpec:
        """Draw one pair from ``rng``."""
        src, seq = self._pick_seq(rng)
        s = self._src[src]
        a, b = int(s.offsets[seq]), int(s.offsets[seq + 1])
        pz = a + int(rng.integers(b - a))
        z = (src, seq, int(s.frame_no[pz]))
        if rng.random() < self.sampler.neg_prob:
            for _ in range(10):
                src2, seq2 = self._pick_seq(rng)
                if (src2, seq2) != (src, seq):
                    s2 = self._src[src2]
                    p2 = s2.offsets[seq2] + rng.integers(s2.offsets[seq2 + 1] - s2.offsets[seq2])
                    return PairSpec(z, (src2, seq2, int(s2.frame_no[p2])), True)
        r = s.frame_range
        if self.sampler.range_unit == "positions":
            lo, hi = max(a, pz - r), min(b, pz + r + 1)
        else:
            fr = s.frame_no[a:b]
            lo = a + int(np.searchsorted(fr, z[2] - r, side="left"))
            hi = a + int(np.searchsorted(fr, z[2] + r, side="right"))
        px = lo + int(rng.integers(hi - lo))
        return PairSpec(z, (src, seq, int(s.frame_no[px])), False)


class EpochKeySampler(torch.utils.data.Sampler):
    """Yields ``(epoch, rank, i)`` keys, i in [0, n); Lightning calls `set_epoch` each epoch.

    Each rank draws its own key stream (the rank is part of every key), so ranks see disjoint
    streams of pairs with no DistributedSampler (``use_distributed_sampler: false``).
    """

    def __init__(self, num_samples: int, *, rank: int = 0, epoch: int = 0) -> None:
        self.num_samples = int(num_samples)
        self.rank = int(rank)
        self.epoch = int(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose keys the next iteration yields."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter([(self.epoch, self.rank, i) for i in range(self.num_samples)])
