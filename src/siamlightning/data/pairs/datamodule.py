"""`TrackingDataModule`: datasets from Hydra source specs -> pair loaders for train and val."""

from __future__ import annotations

import os
from collections.abc import Mapping
from collections.abc import Sequence as SeqLike
from dataclasses import dataclass, field, fields
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.data.pairs import augment
from siamlightning.data.pairs.dataset import CropJitter, PairDataset
from siamlightning.data.pairs.sampling import EpochKeySampler, PairSampler
from siamlightning.data.sources import reader, reader_options
from siamlightning.errors import ConfigError


@dataclass
class SourceSpec:
    """One dataset of a mix: `open_dataset(name, root, split, **options)` drawn with ``weight``.

    ``frame_range``: this source's frame range (None: the sampler's). ``num_use``: pysot's
    NUM_USE (sequence draws per epoch; -1 = all sequences); when any source of the mix sets it,
    sources are drawn with probability proportional to ``weight * num_use`` (see
    `PairSampler.bind`). ``crop_cache``: folder of a `build_crop_cache` cache of this dataset
    to read crops from instead of full frames (same pairs; faster).
    """

    name: str
    root: str | None = None
    split: str | None = None
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)
    frame_range: int | None = None
    num_use: int | None = None
    crop_cache: str | None = None

    def open(self) -> SequenceIndex:
        """Read the dataset; readers with a ``strict`` option get ``strict=False`` unless the
        options say otherwise (a broken sequence is skipped with a warning, not the dataset)."""
        options = dict(self.options)
        if "strict" in reader_options(reader(self.name)):
            options.setdefault("strict", False)
        return open_dataset(self.name, self.root, self.split, **options)


def _spec(s: SourceSpec | Mapping[str, Any]) -> SourceSpec:
    if isinstance(s, SourceSpec):
        return s
    known = {f.name for f in fields(SourceSpec)}
    bad = set(s) - known
    if bad:
        raise ValueError(
            f"unknown key(s) {sorted(bad)} in data source {dict(s)}; known: {sorted(known)}"
        )
    return SourceSpec(**{k: (dict(v) if k == "options" else v) for k, v in s.items()})


def _pair_set(specs: list[SourceSpec], **kwargs: Any) -> PairDataset:
    return PairDataset(
        sources=[s.open() for s in specs],
        weights=[s.weight for s in specs],
        frame_ranges=[s.frame_range for s in specs],
        num_use=[s.num_use for s in specs],
        caches=[s.crop_cache for s in specs],
        **kwargs,
    )


class TrackingDataModule(L.LightningDataModule):
    """Template/search pairs from a weighted mix of sources; each rank draws its own stream.

    Photometric augmentation (`augment.Photometric`): ``color`` ``"pca"`` (pysot's PCA colour
    noise), ``"jitter"`` (albumentations ColorJitter) or ``"none"``, applied with ``color_prob``
    to both crops; pysot's line blur with ``blur_prob`` on the search crop; gray with
    ``gray_prob`` on both crops of a pair. The first unreadable frame of each epoch (the batches'
    ``skip_note``) is kept for the per-epoch summary (`lit.common.warn_skipped_frames`).
    ``masks``: train and val samples also carry ``search_mask`` and ``has_mask`` (SiamMask; see
    `PairDataset`).
    """

    def __init__(
        self,
        *,
        train_sources: SeqLike[SourceSpec | Mapping[str, Any]],
        val_sources: SeqLike[SourceSpec | Mapping[str, Any]] = (),
        sampler: PairSampler | None = None,
        samples_per_epoch: int = 8000,
        val_samples: int = 256,
        batch_size: int = 8,
        num_workers: int | str = 2,
        seed: int = 0,
        exemplar_size: int = 127,
        search_size: int = 239,
        context_amount: float = 0.5,
        template_shift: float = 4.0,
        template_scale: float = 0.05,
        search_shift: float = 4.0,
        search_scale: float = 0.05,
        gray_prob: float = 0.0,
        color: str = "jitter",
        color_prob: float = 0.8,
        blur_prob: float = 0.0,
        pin_memory: bool = False,
        masks: bool = False,
    ) -> None:
        super().__init__()
        self.train_specs = [_spec(s) for s in train_sources]
        self.val_specs = [_spec(s) for s in val_sources]
        if not self.train_specs:
            raise ValueError("data.train_sources is empty: give at least one dataset")
        for key, value, least in (
            ("samples_per_epoch", samples_per_epoch, 1),
            ("batch_size", batch_size, 1),
            ("val_samples", val_samples, 0),
        ):
            if value < least:
                raise ConfigError(f"data.{key} must be >= {least}, got {value}")
        if num_workers != "auto" and not (isinstance(num_workers, int) and num_workers >= 0):
            raise ConfigError(
                f"data.num_workers must be an int >= 0 or 'auto', got {num_workers!r}"
            )
        self.sampler = sampler or PairSampler()
        self.samples_per_epoch = samples_per_epoch
        self.val_samples = val_samples
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.pin_memory = pin_memory
        self.pair_kwargs: dict[str, Any] = dict(
            exemplar_size=exemplar_size,
            search_size=search_size,
            context_amount=context_amount,
            masks=masks,
        )
        self.train_jitter = (
            CropJitter(template_shift, template_scale),
            CropJitter(search_shift, search_scale),
        )
        self.gray_prob = gray_prob
        self.color = color
        self.color_prob = color_prob
        self.blur_prob = blur_prob
        augment.Photometric(color=color, color_prob=color_prob, blur_prob=blur_prob)  # validate
        self.skip_note = ""
        self.train_set: PairDataset | None = None
        self.val_set: PairDataset | None = None

    def worker_count(self) -> int:
        """``num_workers``; for ``"auto"`` this process's share of the node's cores (at least 1).

        The cores are those this process may run on; when they are all of the machine's (no
        launcher bound the ranks to cores), they are split over the ranks of this node
        (``LOCAL_WORLD_SIZE``, else the trainer's devices). `scripts/bench/bench_loader.py`
        measured on 2 cores: 2 workers feed 1.7x the pairs/s of none and 2.2x those of one.
        """
        if self.num_workers != "auto":
            return int(self.num_workers)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        total = os.cpu_count() or 1
        if not cores or cores >= total:
            local = os.environ.get("LOCAL_WORLD_SIZE")
            ranks = int(local) if local else (self.trainer.num_devices if self.trainer else 1)
            cores = total // max(1, ranks)
        return max(1, cores)

    def _rank_world(self) -> tuple[int, int]:
        t = self.trainer
        return (t.global_rank, t.world_size) if t is not None else (0, 1)

    def setup(self, stage: str | None = None) -> None:
        """Open the datasets and build the pair datasets (on every rank)."""
        if self.train_set is None:
            self.train_set = _pair_set(
                self.train_specs,
                sampler=self.sampler,
                seed=self.seed,
                template_jitter=self.train_jitter[0],
                search_jitter=self.train_jitter[1],
                gray_prob=self.gray_prob,
                augment_z=augment.Photometric(color=self.color, color_prob=self.color_prob),
                augment_x=augment.Photometric(
                    color=self.color, color_prob=self.color_prob, blur_prob=self.blur_prob
                ),
                **self.pair_kwargs,
            )
        if self.val_set is None and self.val_specs:
            s = self.sampler
            self.val_set = _pair_set(
                self.val_specs,
                sampler=PairSampler(frame_range=s.frame_range, range_unit=s.range_unit),
                seed=self.seed + 7919,
                template_jitter=CropJitter(),
                search_jitter=CropJitter(self.train_jitter[1].shift, 0.0),
                **self.pair_kwargs,
            )

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Drop the ``skip_note`` strings from the batch; keep the epoch's first one."""
        if isinstance(batch, dict) and "skip_note" in batch:
            notes = batch.pop("skip_note")
            training = self.trainer is not None and self.trainer.training
            if training and not self.skip_note:
                self.skip_note = next((n for n in notes if n), "")
        return batch

    def pop_skip_note(self) -> str:
        """The first unreadable-frame error seen in training since the last call ("" if none)."""
        note, self.skip_note = self.skip_note, ""
        return note

    def _loader(
        self, ds: PairDataset, sampler: EpochKeySampler, shuffle_workers: bool
    ) -> DataLoader:
        return DataLoader(
            ds,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=(workers := self.worker_count()),
            pin_memory=self.pin_memory,
            persistent_workers=workers > 0 and shuffle_workers,
            drop_last=True,
        )

    def train_dataloader(self) -> DataLoader:
        """Per-rank stream of ``samples_per_epoch / world_size`` pairs, new pairs every epoch."""
        rank, world = self._rank_world()
        n = max(self.batch_size, self.samples_per_epoch // world)
        return self._loader(self.train_set, EpochKeySampler(n, rank=rank), True)

    def val_dataloader(self) -> DataLoader | list:
        """A fixed set of held-out pairs (the same every epoch), split across ranks."""
        if self.val_set is None:
            return []
        rank, world = self._rank_world()
        n = max(self.batch_size, self.val_samples // world)
        return self._loader(self.val_set, EpochKeySampler(n, rank=rank), False)

    def state_dict(self) -> dict[str, Any]:
        """Nothing to save: the pair stream is a pure function of (seed, epoch, rank, index)."""
        return {"seed": self.seed}
