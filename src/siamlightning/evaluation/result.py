"""Typed benchmark results: what the scorers return and what metrics.json, the console tables,
the plots and the loggers read.

A `BenchmarkResult` is one tracker on one benchmark: its protocol, the `Scores` over all
sequences and over each attribute's sequences, one row of numbers per sequence and the speed.
`BenchmarkResult.to_json` writes the ``metrics.json`` entry of ``{benchmark: {tracker: ...}}``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from siamlightning.evaluation.result_files import SequenceResult

__all__ = ["BENCHMARK_KINDS", "BenchmarkKind", "BenchmarkResult", "Results", "Scores"]

BenchmarkKind = Literal["ope", "vot", "vot_multistart", "vos"]  # a benchmark config's ``kind``
BENCHMARK_KINDS: tuple[str, ...] = ("ope", "vot", "vot_multistart", "vos")
SequenceRow = dict[str, float | int]  # one sequence's numbers by metrics.json name


@dataclass(frozen=True)
class Scores:
    """Scores of a set of sequences: metric values, curves and counts, each by its name.

    ``values``: success_auc, precision_20, norm_precision_20, ao, sr50, sr75, eao, accuracy,
    robustness, failures, (VOS) jf_mean, j_mean, j_recall, j_decay, f_mean, f_recall, f_decay
    (those the protocol has); ``curves``: success (21,) or (101,), precision (51,),
    norm_precision (51,), eao (L,) (metrics.json names them ``<name>_curve``);
    ``counts``: scored_frames, num_sequences, num_frames, repaired_frames, num_runs, num_objects.
    """

    values: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> Scores:
        """Split a metric's summary (``{"success_auc": 0.6, "success_curve": [...], ...}``):
        lists are curves (``_curve`` dropped), ints counts, the rest values."""
        values, curves, counts = {}, {}, {}
        for key, v in summary.items():
            if isinstance(v, list):
                curves[key.removesuffix("_curve")] = v
            elif isinstance(v, int) and not isinstance(v, bool):
                counts[key] = v
            else:
                values[key] = v
        return cls(values=values, curves=curves, counts=counts)

    def get(self, key: str) -> float | int | None:
        """A value or a count by its metrics.json name; None when this protocol has none."""
        return self.values[key] if key in self.values else self.counts.get(key)

    def scalars(self) -> dict[str, float | int]:
        """Values then counts, by name (the numbers a logger records)."""
        return {**self.values, **self.counts}

    def to_json(self, eao_interval: tuple[int, int] | None = None) -> dict[str, Any]:
        """metrics.json form: values, ``<name>_curve`` lists, ``eao_interval`` if given, counts."""
        out: dict[str, Any] = dict(self.values)
        out |= {f"{name}_curve": list(c) for name, c in self.curves.items()}
        if eao_interval is not None:
            out["eao_interval"] = [int(eao_interval[0]), int(eao_interval[1])]
        return out | self.counts


@dataclass(frozen=True)
class BenchmarkResult:
    """One tracker on one benchmark.

    ``kind`` is the experiment (``ope``, reset-based ``vot``, anchor-based ``vot_multistart``,
    semi-supervised video object segmentation ``vos``), ``protocol`` the scoring rules (``otb``,
    ``got10k``, ``vot2018-legacy``, ``vot2020-anchor``, ``davis2017``...). ``fps`` is OPE's
    tracking speed (frames 1..N-1 over their summed tracker time; NaN when unknown), VOS's
    object-frames per second, None for VOT. VOS ``sequences`` rows are objects (``<video>_<id>``).
    ``eao_interval`` is the EAO's sequence-length range (VOT only).
    ``trajectories`` holds the tracked boxes when a runner was asked to keep them (never written).
    """

    kind: BenchmarkKind
    protocol: str
    overall: Scores
    sequences: dict[str, SequenceRow] = field(default_factory=dict)
    attributes: dict[str, Scores] = field(default_factory=dict)
    fps: float | None = None
    eao_interval: tuple[int, int] | None = None
    benchmark: str = ""
    tracker: str = ""
    trajectories: dict[str, SequenceResult] | None = field(default=None, repr=False)

    def value(self, key: str) -> float | int | None:
        """An overall number by its metrics.json name (a value, a count or ``fps``), else None."""
        return self.fps if key == "fps" else self.overall.get(key)

    def headline(self) -> tuple[str, float]:
        """(name, value) of the benchmark's headline score, higher is better: J&F for VOS, EAO
        for VOT, AO for GOT-10k's protocol, else success AUC (NaN when the protocol lacks it)."""
        if self.kind == "vos":
            name = "jf_mean"
        elif self.kind in ("vot", "vot_multistart"):
            name = "eao"
        else:
            name = "ao" if "ao" in self.overall.values else "success_auc"
        value = self.overall.values.get(name)
        return name, math.nan if value is None else float(value)

    def scalars(self) -> dict[str, float | int]:
        """Overall values, counts and (OPE, VOS) fps, by name, finite or not."""
        fps = {"fps": self.fps} if self.kind in ("ope", "vos") else {}
        return self.overall.scalars() | fps

    def robustness_fraction(self) -> float:
        """Robustness in [0, 1] for an AR plot: anchor-based R as is, reset-based failures per
        100 frames divided by 100 (capped at 1)."""
        r = float(self.overall.values.get("robustness", math.nan))
        return min(1.0, r / (1 if self.kind == "vot_multistart" else 100))

    def to_json(self) -> dict[str, Any]:
        """The metrics.json entry: protocol, fps (OPE, VOS), overall, sequences, attributes."""
        out: dict[str, Any] = {"protocol": self.protocol}
        interval = self.eao_interval if self.kind == "vot_multistart" else None
        overall = self.overall.to_json(eao_interval=interval)
        if self.kind in ("ope", "vos"):
            out["fps"] = self.fps
            overall["fps"] = self.fps
        out["overall"] = overall
        out["sequences"] = {name: dict(row) for name, row in self.sequences.items()}
        if self.attributes:
            out["attributes"] = {code: s.to_json() for code, s in self.attributes.items()}
        return out


Results = dict[str, dict[str, BenchmarkResult]]  # {benchmark: {tracker: result}}, as metrics.json
