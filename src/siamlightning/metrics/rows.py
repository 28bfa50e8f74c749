"""Base for metrics that keep one row per sequence in ``cat`` states, exact under DDP.

Every rank gathers every row; subclasses de-duplicate by ``seq_id`` in `compute`, so padded or
duplicated sequences count once and the result equals a single-process run bit for bit.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat
from torchmetrics.utilities.distributed import gather_all_tensors

from siamlightning.ranks import rank_and_world

RowSpecs = dict[str, tuple[tuple[int, ...], torch.dtype]]


class SequenceRowsMetric(Metric):
    """List states named in ``row_specs`` (empty shape, dtype), made-up ids, empty-rank sync."""

    is_differentiable = False
    full_state_update = False

    def __init__(self, row_specs: RowSpecs, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._row_specs = dict(row_specs)
        self._auto_ids = 0
        for name in self._row_specs:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def _next_auto_id(self) -> int:
        """A negative id unique to this rank and call (never equal to a `Sequence.uid`)."""
        rank, _ = rank_and_world()
        self._auto_ids += 1
        return -((rank << 40) + self._auto_ids)

    def _sync_dist(self, dist_sync_fn: Any = gather_all_tensors, process_group: Any = None) -> None:
        # torchmetrics stands in a 1-D tensor of the metric's default dtype for an empty list
        # state, which cannot be gathered with other ranks' rows: give a rank with no sequences
        # empty rows of the right shape and dtype instead.
        for name, (shape, dtype) in self._row_specs.items():
            if isinstance(getattr(self, name), list) and not getattr(self, name):
                setattr(self, name, [torch.zeros(shape, dtype=dtype, device=self.device)])
        super()._sync_dist(dist_sync_fn, process_group)

    def _cat(self, name: str) -> Tensor:
        """State ``name`` as one tensor (empty rows of the right shape when nothing was added)."""
        value = getattr(self, name)
        if isinstance(value, list) and not value:
            shape, dtype = self._row_specs[name]
            return torch.zeros(shape, dtype=dtype, device=self.device)
        return dim_zero_cat(value)
