"""Send benchmark reports to Lightning loggers: scalars to every logger, plots and per-sequence
tables to W&B (`WandbLogger`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from siamlightning.evaluation.result import BenchmarkResult, Results

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger

__all__ = ["flat_scalars", "log_reports"]


def _scalar(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def flat_scalars(results: Results, prefix: str = "eval") -> dict[str, float]:
    """``{benchmark: {tracker: result}}`` -> ``{"<prefix>/<bench>/<tracker>/<key>": value}``
    for the finite overall numbers and ``.../attr/<CODE>/<key>`` for per-attribute ones."""
    out: dict[str, float] = {}
    for bench, by_tracker in results.items():
        for tracker, res in by_tracker.items():
            base = f"{prefix}/{bench}/{tracker}"
            out |= {f"{base}/{k}": v for k, v in res.scalars().items() if _scalar(v)}
            for code, scores in res.attributes.items():
                values = scores.scalars().items()
                out |= {f"{base}/attr/{code}/{k}": v for k, v in values if _scalar(v)}
    return out


def _sequence_rows(res: BenchmarkResult) -> tuple[list[str], list[list[Any]]]:
    seqs = res.sequences
    keys = sorted({k for v in seqs.values() for k, x in v.items() if _scalar(x) or x is None})
    rows = [[name] + [seqs[name].get(k) for k in keys] for name in sorted(seqs)]
    return ["sequence", *keys], rows


def log_reports(
    loggers: Iterable[Logger],
    results: Results,
    plots: Sequence[str | Path] = (),
    *,
    prefix: str = "eval",
) -> None:
    """Log scalars to every logger; on W&B also the plot PNGs and one per-sequence table per
    benchmark and tracker (``<prefix>/<bench>/<tracker>/sequences``)."""
    loggers = list(loggers)
    if not loggers:
        return
    # Lightning is imported only when there is a logger: a 5 s import `siamlightning-eval` skips
    from lightning.pytorch.loggers import WandbLogger

    scalars = flat_scalars(results, prefix)
    for lg in loggers:
        if scalars:
            lg.log_metrics(scalars)
        if not isinstance(lg, WandbLogger):
            continue
        if plots:
            lg.log_image(f"{prefix}/plots", [str(p) for p in plots])
        for bench, by_tracker in results.items():
            for tracker, res in by_tracker.items():
                columns, rows = _sequence_rows(res)
                if rows:
                    lg.log_table(f"{prefix}/{bench}/{tracker}/sequences", columns, rows)
