"""Training pairs: pick two frames, crop each with one warp (context + jitter), augment.

A sample is a pure function of ``(seed, epoch, rank, index)``, the key the sampler yields (so it
does not depend on the DataLoader worker or the number of workers). Draw order per attempt:
the pair (`BoundPairSampler.sample`), template jitter, search jitter, gray, template photometric,
search photometric. Pixels come from the full frame (default, padded with the frame mean) or,
for a source with a `CropCache`, from its 511-px crop (the same warp composed with the crop's,
padded with the same frame mean): both paths give the same sample up to JPEG/resampling error.

Masks (``masks=True``, for SiamMask): the search crop's target mask under the SAME warp as its
pixels (bilinear on the float {0, 1} mask, padding 0, then ``> 0.5``: SiamMask's label, spec
siammask-and-vos.md §1.2), from the cache's mask crop when it has one, else the full frame's
mask. Augmentation after the warp is photometric only, so mask and pixels stay aligned. Reading
a mask takes no rng draw: a key gives the same pair, boxes and pixels with or without masks.
Only a positive pair whose search sequence ``has_masks`` reads one (``has_mask``); negatives
and sources without masks get zeros (no mask loss). A frame of a sequence with masks whose mask
is missing, unreadable or of another size is a `DataError` naming the file, skipped as above.

Bad data never stops training: a frame that cannot be read (missing, truncated, corrupt) raises
`DataError`; the pair is redrawn from the same rng and the sample counts it in ``skipped`` and
names the first failure in ``skip_note``; each copy of the dataset (one per DataLoader worker)
counts its skips in ``skip_count`` and logs the first 5, then every 100th. Boxes that are NaN,
zero, negative or insane never reach a crop: the sampler's filters drop them when it binds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Sequence as SeqLike
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from siamlightning.data.core.crops import (
    box_to_crop,
    context_size,
    crop_affine,
    warp_crop,
    warp_mask,
)
from siamlightning.data.core.sequences import SequenceIndex, frame_mask
from siamlightning.data.pairs import augment
from siamlightning.data.pairs.sampling import BoundPairSampler, PairSampler, PairSpec
from siamlightning.data.tools.crop_cache import CropCache
from siamlightning.errors import DataError

log = logging.getLogger(__name__)

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _chw(image: np.ndarray) -> np.ndarray:
    """(H, W, C) -> contiguous (C, H, W) (cv2.split: about 2x faster than a strided copy)."""
    return np.stack(cv2.split(image))


@dataclass(frozen=True)
class CropJitter:
    """Random stretch (relative, per axis) and shift (output pixels) of a crop."""

    shift: float = 0.0
    scale: float = 0.0


class PairDataset(torch.utils.data.Dataset):
    """Map-style dataset indexed by ``(epoch, rank, i)`` keys (see `EpochKeySampler`).

    Returns dicts with ``template`` (3, Z, Z) uint8 RGB, ``search`` (3, X, X) uint8,
    ``template_box`` and ``search_box`` (4,) float32 ``x, y, w, h`` in crop pixels, ``negative``
    bool, ``source`` int64 (the template's source), ``skipped`` int64 (frames that could not be
    read and were replaced by another draw) and ``skip_note`` str (the first such error, or "").
    With ``masks=True`` also ``search_mask`` (1, X, X) uint8 in {0, 1} (the search crop's target
    mask, zeros when ``has_mask`` is False) and ``has_mask`` bool (a positive pair whose search
    sequence has masks: the only samples a mask loss may use).

    Args:
        sources, weights, frame_ranges, num_use: the mix, see `PairSampler.bind`.
        exemplar_size: side of the template crop (Z); the target with its context
            (`context_size` with ``context_amount``) spans it, and spans ``exemplar_size`` px of the
            search crop (X = ``search_size``) too at the nominal, unjittered scale.
        caches: per source a `CropCache`, its folder, or None (read full frames).
        augment_z, augment_x: ``aug(image, rng) -> image`` (e.g. `augment.Photometric`), or an
            albumentations pipeline (seeded from the rng), or None.
        masks: add ``search_mask`` and ``has_mask`` (see the module doc).
    """

    def __init__(
        self,
        *,
        sources: SeqLike[SequenceIndex],
        weights: SeqLike[float] | None = None,
        sampler: PairSampler,
        seed: int = 0,
        exemplar_size: int = 127,
        search_size: int = 239,
        context_amount: float = 0.5,
        template_jitter: CropJitter = CropJitter(4.0, 0.05),
        search_jitter: CropJitter = CropJitter(4.0, 0.05),
        gray_prob: float = 0.0,
        augment_z: Augment | augment.A.Compose | None = None,
        augment_x: Augment | augment.A.Compose | None = None,
        max_retries: int = 20,
        frame_ranges: SeqLike[int | None] | None = None,
        num_use: SeqLike[int | None] | None = None,
        caches: SeqLike[CropCache | str | Path | None] | None = None,
        masks: bool = False,
    ) -> None:
        self.sources = list(sources)
        self.sampler = sampler  # as given (Hydra's); never changed here
        self.pairs: BoundPairSampler = sampler.bind(
            self.sources, weights, frame_ranges=frame_ranges, num_use=num_use
        )
        self.skip_count = 0  # unreadable frames this copy (process / worker) met so far
        self.seed = seed
        self.exemplar_size = exemplar_size
        self.search_size = search_size
        self.context_amount = context_amount
        self.template_jitter = template_jitter
        self.search_jitter = search_jitter
        self.gray_prob = gray_prob
        self.augment_z = augment_z
        self.augment_x = augment_x
        self.max_retries = max_retries
        self.masks = masks
        caches = list(caches) if caches is not None else [None] * len(self.sources)
        if len(caches) != len(self.sources):
            raise ValueError(f"need one crop cache (or None) per source, got {len(caches)}")
        self.caches = [c if c is None or isinstance(c, CropCache) else CropCache(c) for c in caches]
        self._cache_rows = [
            None if c is None else c.bind(s.names, s.frame_table().offsets)
            for c, s in zip(self.caches, self.sources, strict=True)
        ]

    def __len__(self) -> int:
        return 1 << 62  # indexed by keys, not by position

    def _matrix(
        self, ref: tuple[int, int, int], out: int, jitter: CropJitter, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Crop matrix (2, 3) output -> frame pixels and the target box in the crop (4,)."""
        box = self.pairs.box(*ref)
        # the target spans exemplar_size px at the nominal (unjittered) scale of both crops
        s = context_size(box[2], box[3], self.context_amount) * out / self.exemplar_size
        st = 1.0 + rng.uniform(-1, 1, 2) * jitter.scale
        sh = rng.uniform(-1, 1, 2) * jitter.shift * s / out
        center = (box[0] + box[2] / 2, box[1] + box[3] / 2)
        m = crop_affine(center, (s * st[0], s * st[1]), out, shift=(sh[0], sh[1]))
        return m, box_to_crop(box, m).astype(np.float32)

    def _pixels(self, ref: tuple[int, int, int], m: np.ndarray, out: int, memo: dict) -> np.ndarray:
        """The (out, out, 3) crop of frame ``ref`` under ``m``: from the cache when it has it."""
        src, seq, frame = ref
        rows = self._cache_rows[src]
        if rows is not None:
            row = int(rows[self.pairs.frame_row(src, seq, frame)])
            if row >= 0:
                return self.caches[src].crop(row, m, out)
        if ref not in memo:
            memo[ref] = self.sources[src][seq].read_frame(frame)
        return warp_crop(memo[ref], m, out)

    def _mask(self, ref: tuple[int, int, int], m: np.ndarray, out: int, memo: dict) -> np.ndarray:
        """The (out, out) uint8 {0, 1} mask of frame ``ref`` under ``m``: cache, else frame."""
        src, seq, frame = ref
        rows = self._cache_rows[src]
        if rows is not None:
            row = int(rows[self.pairs.frame_row(src, seq, frame)])
            if row >= 0 and self.caches[src].has_mask(row):
                return self.caches[src].mask(row, m, out)
        image = memo.get(ref)
        shape = None if image is None else image.shape[:2]
        return warp_mask(frame_mask(self.sources[src][seq], frame, shape), m, out)

    @staticmethod
    def _augment(aug: Augment | augment.A.Compose | None, image: np.ndarray, rng) -> np.ndarray:
        if aug is None:
            return image
        if isinstance(aug, augment.A.Compose):
            return augment.apply(aug, image, int(rng.integers(0, 2**31)))
        return aug(image, rng)

    def _draw(self, rng: np.random.Generator) -> dict[str, object]:
        spec = self.pairs.sample(rng)
        mz, zbox = self._matrix(spec.z, self.exemplar_size, self.template_jitter, rng)
        mx, xbox = self._matrix(spec.x, self.search_size, self.search_jitter, rng)
        gray = self.gray_prob > 0 and rng.random() < self.gray_prob
        memo: dict = {}
        z = self._pixels(spec.z, mz, self.exemplar_size, memo)
        x = self._pixels(spec.x, mx, self.search_size, memo)
        masked = self.masks and not spec.negative and self.sources[spec.x[0]][spec.x[1]].has_masks
        xm = self._mask(spec.x, mx, self.search_size, memo) if masked else None  # no rng draw
        if gray:
            z, x = augment.to_gray(z), augment.to_gray(x)
        z = self._augment(self.augment_z, z, rng)
        x = self._augment(self.augment_x, x, rng)
        sample = {
            "template": torch.from_numpy(_chw(z)),
            "search": torch.from_numpy(_chw(x)),
            "template_box": torch.from_numpy(zbox),
            "search_box": torch.from_numpy(xbox),
            "negative": torch.tensor(spec.negative),
            "source": torch.tensor(spec.z[0], dtype=torch.int64),
        }
        if self.masks:
            n = self.search_size
            xm = np.zeros((n, n), np.uint8) if xm is None else xm
            sample["search_mask"] = torch.from_numpy(xm).view(1, n, n)
            sample["has_mask"] = torch.tensor(masked)
        return sample

    def _log_skip(self, exc: Exception) -> None:
        """Count an unreadable frame; log the first 5 of this copy, then every 100th."""
        self.skip_count += 1
        n = self.skip_count
        if n <= 5 or n % 100 == 0:
            log.warning("skipping unusable training frame (%d in this worker so far): %s", n, exc)

    def rng(self, key: tuple[int, int, int]) -> np.random.Generator:
        """The generator every draw of sample ``key`` = (epoch, rank, index) comes from."""
        epoch, rank, index = key
        return np.random.default_rng([self.seed, epoch, rank, index])

    def spec(self, key: tuple[int, int, int]) -> PairSpec:
        """The pair sample ``key`` draws first (no image is read)."""
        return self.pairs.sample(self.rng(key))

    def __getitem__(self, key: tuple[int, int, int]) -> dict[str, object]:
        rng = self.rng(key)
        skipped, note = 0, ""
        for _ in range(self.max_retries):
            try:
                sample = self._draw(rng)
            except DataError as exc:  # unreadable frame: count, warn, draw another pair
                skipped += 1
                note = note or str(exc)
                self._log_skip(exc)
                continue
            sample["skipped"] = torch.tensor(skipped)
            sample["skip_note"] = note
            return sample
        raise DataError(
            f"{self.max_retries} consecutive training pairs had unreadable frames "
            f"(key {key}; first: {note}); the dataset looks broken - run `siamlightning-prep "
            "check`"
        )
