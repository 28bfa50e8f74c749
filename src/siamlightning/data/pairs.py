"""Training pairs: decode two frames, crop each with one warp (context + jitter), augment.

A sample is a pure function of ``(seed, epoch, rank, index)``: the key the sampler yields.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence as SeqLike
from dataclasses import dataclass

import numpy as np
import torch

from siamlightning.data import augment
from siamlightning.data.crops import box_to_crop, context_size, crop_affine, warp_crop
from siamlightning.data.sampling import PairSampler
from siamlightning.data.sequences import SequenceIndex
from siamlightning.errors import DataError

log = logging.getLogger(__name__)
_warned = [0]  # per process: log the first skips, then every 100th


def _log_skip(exc: Exception) -> None:
    _warned[0] += 1
    n = _warned[0]
    if n <= 5 or n % 100 == 0:
        log.warning("skipping unusable training frame (%d in this worker so far): %s", n, exc)


@dataclass(frozen=True)
class CropJitter:
    """Random stretch (relative, per axis) and shift (output pixels) of a crop."""

    shift: float = 0.0
    scale: float = 0.0


class PairDataset(torch.utils.data.Dataset):
    """Map-style dataset indexed by ``(epoch, rank, i)`` keys (see `EpochKeySampler`).

    Returns dicts with ``template`` (3, Z, Z) uint8, ``search`` (3, X, X) uint8, ``template_box``
    and ``search_box`` (4,) float32 in crop pixels, ``negative`` bool and ``skipped`` int (frames
    that could not be read and were replaced by another draw).
    """

    def __init__(
        self,
        *,
        sources: SeqLike[SequenceIndex],
        weights: SeqLike[float] | None = None,
        sampler: PairSampler,
        seed: int = 0,
        template_size: int = 127,
        search_size: int = 239,
        exemplar_size: int = 127,
        context: float = 0.5,
        template_jitter: CropJitter = CropJitter(4.0, 0.05),
        search_jitter: CropJitter = CropJitter(4.0, 0.05),
        gray_prob: float = 0.0,
        augment_z: augment.A.Compose | None = None,
        augment_x: augment.A.Compose | None = None,
        max_retries: int = 20,
    ) -> None:
        self.sources = list(sources)
        self.sampler = sampler
        self.sampler.bind(self.sources, weights)
        self.seed = seed
        self.template_size = template_size
        self.search_size = search_size
        self.exemplar_size = exemplar_size
        self.context = context
        self.template_jitter = template_jitter
        self.search_jitter = search_jitter
        self.gray_prob = gray_prob
        self.augment_z = augment_z
        self.augment_x = augment_x
        self.max_retries = max_retries

    def __len__(self) -> int:
        return 1 << 62  # indexed by keys, not by position

    def _crop(
        self,
        image: np.ndarray,
        box: np.ndarray,
        out: int,
        jitter: CropJitter,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray]:
        # the target spans exemplar_size px at the nominal (unjittered) scale of both crops
        s = context_size(box[2], box[3], self.context) * out / self.exemplar_size
        st = 1.0 + rng.uniform(-1, 1, 2) * jitter.scale
        sh = rng.uniform(-1, 1, 2) * jitter.shift * s / out
        center = (box[0] + box[2] / 2, box[1] + box[3] / 2)
        m = crop_affine(center, (s * st[0], s * st[1]), out, shift=(sh[0], sh[1]))
        return warp_crop(image, m, out), box_to_crop(box, m).astype(np.float32)

    def _draw(self, rng: np.random.Generator) -> dict[str, object]:
        spec = self.sampler.sample(rng)
        seq_z = self.sources[spec.z[0]][spec.z[1]]
        seq_x = self.sources[spec.x[0]][spec.x[1]]
        img_z = seq_z.read_frame(spec.z[2])
        img_x = img_z if spec.x == spec.z else seq_x.read_frame(spec.x[2])
        z, zbox = self._crop(
            img_z, seq_z.boxes[spec.z[2]], self.template_size, self.template_jitter, rng
        )
        x, xbox = self._crop(
            img_x, seq_x.boxes[spec.x[2]], self.search_size, self.search_jitter, rng
        )
        if rng.random() < self.gray_prob:
            z, x = augment.to_gray(z), augment.to_gray(x)
        sz, sx = rng.integers(0, 2**31, 2)
        z = augment.apply(self.augment_z, z, int(sz))
        x = augment.apply(self.augment_x, x, int(sx))
        return {
            "template": torch.from_numpy(np.ascontiguousarray(z.transpose(2, 0, 1))),
            "search": torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))),
            "template_box": torch.from_numpy(zbox),
            "search_box": torch.from_numpy(xbox),
            "negative": torch.tensor(spec.negative),
        }

    def __getitem__(self, key: tuple[int, int, int]) -> dict[str, object]:
        epoch, rank, index = key
        rng = np.random.default_rng([self.seed, epoch, rank, index])
        skipped = 0
        for _ in range(self.max_retries):
            try:
                sample = self._draw(rng)
            except DataError as exc:  # unreadable frame: count, warn, draw another pair
                skipped += 1
                _log_skip(exc)
                continue
            sample["skipped"] = torch.tensor(skipped)
            return sample
        raise DataError(
            f"{self.max_retries} consecutive training pairs had unreadable frames "
            f"(key {key}); the dataset looks broken - run `siamlightning-prep check`"
        )
