"""Template/search pair selection over a weighted mix of datasets.

Every draw is made from a `numpy.random.Generator` the caller seeds from
``(seed, epoch, rank, index)``, so a sample is a pure function of those numbers (and therefore
independent of the DataLoader worker that computes it and of the number of workers).
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Sequence as SeqLike
from dataclasses import dataclass

import numpy as np
import torch.utils.data

from siamlightning.data.sequences import SequenceIndex


@dataclass(frozen=True)
class PairSpec:
    """Which frames make a training pair: (source, sequence, frame) for template and search."""

    z: tuple[int, int, int]
    x: tuple[int, int, int]
    negative: bool


def usable_frames(
    boxes: np.ndarray,
    visible: np.ndarray,
    *,
    min_size: float = 4.0,
    max_aspect: float = 8.0,
    visible_ratio: np.ndarray | None = None,
    min_visible: float = 0.5,
) -> np.ndarray:
    """Indices of frames usable as training targets: visible (at least ``min_visible`` of the
    target when the dataset gives a visible ratio), size >= ``min_size``, sane aspect ratio."""
    w, h = boxes[:, 2], boxes[:, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = visible & (w >= min_size) & (h >= min_size)
        ok &= (w / h <= max_aspect) & (h / w <= max_aspect)
        if visible_ratio is not None:
            ok &= np.asarray(visible_ratio, dtype=np.float64) >= min_visible
    return np.flatnonzero(ok)


class PairSampler:
    """Draws template/search pairs: same sequence within ``frame_range`` frames, or (with
    probability ``neg_prob``) a negative pair whose search comes from another sequence."""

    def __init__(
        self,
        *,
        frame_range: int = 100,
        neg_prob: float = 0.0,
        min_size: float = 4.0,
        max_aspect: float = 8.0,
        min_visible: float = 0.5,
    ) -> None:
        if frame_range < 0:
            raise ValueError(f"frame_range must be >= 0, got {frame_range}")
        if not 0.0 <= neg_prob <= 1.0:
            raise ValueError(f"neg_prob must be in [0, 1], got {neg_prob}")
        self.frame_range = frame_range
        self.neg_prob = neg_prob
        self.min_size = min_size
        self.max_aspect = max_aspect
        self.min_visible = min_visible
        self._frames: list[list[np.ndarray]] = []
        self._seqs: list[np.ndarray] = []
        self._weights = np.ones(0)

    def bind(self, sources: SeqLike[SequenceIndex], weights: SeqLike[float] | None = None) -> None:
        """Index the usable frames of every sequence of ``sources``, mixed with ``weights``."""
        self._frames = [
            [
                usable_frames(
                    s.boxes,
                    s.visible,
                    min_size=self.min_size,
                    max_aspect=self.max_aspect,
                    visible_ratio=s.meta.get("visible_ratio"),
                    min_visible=self.min_visible,
                )
                for s in src
            ]
            for src in sources
        ]
        self._seqs = [np.flatnonzero([len(f) > 0 for f in fr]) for fr in self._frames]
        w = np.ones(len(sources)) if weights is None else np.asarray(weights, dtype=np.float64)
        if len(w) != len(sources) or (w < 0).any():
            raise ValueError(f"need one non-negative weight per source, got {list(w)}")
        w = np.where([len(s) > 0 for s in self._seqs], w, 0.0)
        if w.sum() <= 0:
            raise ValueError("no source has a sequence with a usable (visible, sane) target box")
        self._weights = w / w.sum()

    def _pick_seq(self, rng: np.random.Generator) -> tuple[int, int]:
        src = int(rng.choice(len(self._weights), p=self._weights))
        return src, int(self._seqs[src][rng.integers(len(self._seqs[src]))])

    def sample(self, rng: np.random.Generator) -> PairSpec:
        """Draw one pair from ``rng``."""
        src, seq = self._pick_seq(rng)
        frames = self._frames[src][seq]
        fz = int(frames[rng.integers(len(frames))])
        if rng.random() < self.neg_prob:
            for _ in range(10):
                src2, seq2 = self._pick_seq(rng)
                if (src2, seq2) != (src, seq):
                    f2 = self._frames[src2][seq2]
                    return PairSpec(
                        (src, seq, fz), (src2, seq2, int(f2[rng.integers(len(f2))])), True
                    )
        near = frames[np.abs(frames - fz) <= self.frame_range]
        fx = int(near[rng.integers(len(near))])
        return PairSpec((src, seq, fz), (src, seq, fx), False)


class EpochKeySampler(torch.utils.data.Sampler):
    """Yields ``(epoch, rank, i)`` keys, i in [0, n); Lightning calls `set_epoch` each epoch.

    Each rank draws its own key stream, so ranks see different pairs with no DistributedSampler.
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
