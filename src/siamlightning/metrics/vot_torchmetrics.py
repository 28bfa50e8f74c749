"""torchmetrics wrappers of the VOT reset-based measures: `VOTAccuracyRobustness` and `VOTEAO`.

``update(overlaps, codes, *, seq_id=...)`` takes ONE WHOLE sequence: ``(R, N)`` overlaps and
codes for its R runs (R may differ between sequences). The metric keeps the data flattened plus
per-sequence ids, run counts and lengths as ``cat`` states, so under DDP every rank gathers every
sequence; `compute` de-duplicates by ``seq_id`` (first kept) and evaluates in ``seq_id`` order, so
the result equals the single-process one bit for bit, with uneven or empty ranks and padding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from siamlightning.metrics.rows import RowSpecs, SequenceRowsMetric
from siamlightning.metrics.vot_eao import (
    Variant,
    _check_variant,
    eao_curve,
    eao_interval,
    eao_score,
)
from siamlightning.metrics.vot_reset import ar_summary

__all__ = ["VOTEAO", "VOTAccuracyRobustness", "VOTSequenceMetric"]

_STATES: RowSpecs = {
    "seq_ids": ((0,), torch.int64),
    "num_runs": ((0,), torch.int64),
    "num_frames": ((0,), torch.int64),
    "overlaps": ((0,), torch.float64),
    "codes": ((0,), torch.int8),
}


class VOTSequenceMetric(SequenceRowsMetric):
    """Base: stores whole sequences (R, N) as rows de-duplicated by ``seq_id``; see module doc.

    Without ``seq_id`` an id unique to this rank and call is made up (negative); under DDP pass
    ``seq_id=sequence.uid`` so that duplicated (padded) sequences are recognised across ranks.
    """

    def __init__(self, *, variant: Variant = "legacy", **kwargs: Any) -> None:
        _check_variant(variant)
        super().__init__(_STATES, **kwargs)
        self.variant: Variant = variant

    def update(
        self,
        overlaps: Tensor | np.ndarray,
        codes: Tensor | np.ndarray,
        *,
        seq_id: int | None = None,
    ) -> None:
        """Add one whole sequence: overlaps (R, N) or (N,), codes of the same shape."""
        o = torch.as_tensor(
            np.asarray(overlaps.cpu() if isinstance(overlaps, Tensor) else overlaps)
        )
        c = torch.as_tensor(np.asarray(codes.cpu() if isinstance(codes, Tensor) else codes))
        o, c = torch.atleast_2d(o).to(torch.float64), torch.atleast_2d(c)
        if o.ndim != 2 or o.shape != c.shape:
            raise ValueError(f"overlaps {tuple(o.shape)} and codes {tuple(c.shape)}: want (R, N)")
        if o.numel() == 0:
            raise ValueError("empty sequence: no runs or no frames")
        if not torch.isin(c, torch.tensor([-1, 0, 1, 2], dtype=c.dtype)).all():
            raise ValueError("codes must be -1 (region), 0 (unknown), 1 (init) or 2 (failure)")
        dev = self.device
        sid = self._next_auto_id() if seq_id is None else int(seq_id)
        self.seq_ids.append(torch.tensor([sid], dtype=torch.int64, device=dev))
        self.num_runs.append(torch.tensor([o.shape[0]], dtype=torch.int64, device=dev))
        self.num_frames.append(torch.tensor([o.shape[1]], dtype=torch.int64, device=dev))
        self.overlaps.append(o.reshape(-1).to(dev))
        self.codes.append(c.reshape(-1).to(device=dev, dtype=torch.int8))

    def _array(self, name: str) -> np.ndarray:
        return self._cat(name).cpu().numpy()

    def sequences(self) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
        """De-duplicated sequences in seq_id order: ids (S,), overlaps and codes [(R, N)] * S."""
        ids, runs, frames = (self._array(k) for k in ("seq_ids", "num_runs", "num_frames"))
        flat_o, flat_c = self._array("overlaps"), self._array("codes")
        size = runs * frames
        offset = np.cumsum(size) - size
        uniq, first = np.unique(ids, return_index=True)  # sorted ids, first occurrence
        o = [flat_o[offset[i] : offset[i] + size[i]].reshape(runs[i], frames[i]) for i in first]
        c = [flat_c[offset[i] : offset[i] + size[i]].reshape(runs[i], frames[i]) for i in first]
        return uniq, o, c


class VOTAccuracyRobustness(VOTSequenceMetric):
    """VOT accuracy and robustness; `compute` returns the `ar_summary` dict as float64 tensors.

    Args:
        burnin: frames ignored from every initialisation, the init frame included (10).
        variant: ``"legacy"`` (MATLAB, default), ``"pysot"`` or ``"votpy"``: see `vot.accuracy`.
        sensitivity: the python toolkit's AR-plot constant (30).
    Feed it overlaps computed with ``trajectory_overlaps(..., purpose="ar")``.
    """

    higher_is_better = True

    def __init__(
        self,
        *,
        burnin: int = 10,
        variant: Variant = "legacy",
        sensitivity: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(variant=variant, **kwargs)
        self.burnin, self.sensitivity = burnin, sensitivity

    def compute(self) -> dict[str, Tensor]:
        """accuracy, average_failures, normalized_failures, robustness, mean_failures, ... ()."""
        _, o, c = self.sequences()
        out = ar_summary(
            o, c, burnin=self.burnin, variant=self.variant, sensitivity=self.sensitivity
        )
        return {k: torch.tensor(v, dtype=torch.float64) for k, v in out.items()}


class VOTEAO(VOTSequenceMetric):
    """Expected average overlap of the reset-based protocol (`vot_eao`).

    Args:
        year: VOT edition whose fixed interval to use (2015-2019), unless ``interval`` is given.
        interval: [N_lo, N_hi], 1-based inclusive sequence lengths.
        variant: ``"legacy"`` (MATLAB, default), ``"pysot"`` or ``"votpy"``.
        skipping: frames skipped after a failure before re-initialisation (5).
    `compute` returns ``eao`` (), ``eao_curve`` (L_max,), ``num_sequences`` and ``num_runs``.
    Feed it overlaps computed with ``trajectory_overlaps(..., purpose="eao")``.
    """

    higher_is_better = True

    def __init__(
        self,
        year: int | str = 2018,
        *,
        interval: tuple[int, int] | None = None,
        variant: Variant = "legacy",
        skipping: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(variant=variant, **kwargs)
        self.interval = tuple(interval) if interval is not None else eao_interval(year)
        self.skipping = skipping

    def compute(self) -> dict[str, Tensor]:
        """eao () float64, eao_curve (L_max,) float64, num_sequences (), num_runs () int64."""
        ids, o, c = self.sequences()
        curve = eao_curve(o, c, variant=self.variant, skipping=self.skipping)
        score = eao_score(curve, self.interval, variant=self.variant)  # type: ignore[arg-type]
        return {
            "eao": torch.tensor(score, dtype=torch.float64),
            "eao_curve": torch.from_numpy(curve),
            "num_sequences": torch.tensor(ids.size, dtype=torch.int64),
            "num_runs": torch.tensor(sum(x.shape[0] for x in o), dtype=torch.int64),
        }
