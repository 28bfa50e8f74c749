"""Reports: ``metrics.json`` (plain JSON, NaN as null) and the fixed-width console tables of
both CLIs (`results_table`)."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamlightning.evaluation.result import BenchmarkResult, Results

__all__ = [
    "folder_labels",
    "format_table",
    "results_table",
    "table_value",
    "to_jsonable",
    "write_metrics_json",
]

DEFAULT_COLUMNS = ("success_auc", "precision_20", "fps")


def to_jsonable(obj: Any) -> Any:
    """Tensors, arrays, NumPy scalars, paths and results (``to_json()``) -> plain JSON values;
    NaN and ±inf -> None."""
    if hasattr(obj, "to_json"):
        obj = obj.to_json()
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()] if obj.ndim else to_jsonable(obj.item())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return {k: to_jsonable(getattr(obj, k)) for k in obj.__dataclass_fields__}
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")


def write_metrics_json(path: str | Path, report: Results | Mapping[str, Any]) -> None:
    """Write ``{benchmark: {tracker: BenchmarkResult}}`` (or plain data) as indented JSON
    (tensors/arrays as numbers or lists, NaN as null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(report), indent=2, allow_nan=False)
    path.write_text(text + "\n")


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, torch.Tensor | np.ndarray | np.generic) and np.size(value) == 1:
        value = np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value).item()
    if value is None:
        return "-"
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "-"
    return str(value)


def format_table(
    rows: Mapping[str, Mapping[str, Any]],
    columns: Sequence[str] = DEFAULT_COLUMNS,
    *,
    index_name: str = "name",
    digits: int = 3,
) -> str:
    """Fixed-width table: one line per row name, one column per key (missing or NaN as ``-``)."""
    header = [index_name, *columns]
    body = [[str(k)] + [_cell(v.get(c), digits) for c in columns] for k, v in rows.items()]
    widths = [max(len(r[j]) for r in [header, *body]) for j in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in body)])


def folder_labels(folders: Sequence[str | Path]) -> list[str]:
    """Distinct table labels of result folders: each one's shortest path suffix that no other
    folder shares (``runs/a/res``, ``runs/b/res`` -> ``a/res``, ``b/res``); a folder given twice
    gets `` (2)``."""
    parts = [Path(f).parts for f in folders]
    labels = []
    for i, p in enumerate(parts):
        others = [q for j, q in enumerate(parts) if j != i and q != p]
        k = 1
        while k < len(p) and any(q[-k:] == p[-k:] for q in others):
            k += 1
        labels.append(Path(*p[-k:]).as_posix() if p else str(folders[i]))
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            labels[i] = f"{label} ({seen[label]})"
    return labels


def table_value(result: BenchmarkResult, column: str, *, hide_fps: bool = False) -> Any:
    """A table cell's number of a `BenchmarkResult`: ``sequences`` is num_sequences, ``fps`` NaN
    when ``hide_fps``, any other column the overall number of that name (None when absent)."""
    if column == "sequences":
        return result.value("num_sequences")
    if column == "fps" and hide_fps:
        return float("nan")
    return result.value(column)


def results_table(
    results: Results,
    columns: Sequence[str],
    *,
    only_filled: bool = False,
    no_speed: Collection[str] = (),
    failed: Mapping[str, str] | None = None,
    failed_benchmark: str = "",
) -> str:
    """The console table of ``{benchmark: {tracker: result}}``, one ``<bench>/<tracker>`` row each.

    ``only_filled`` keeps the columns some row has a number for; trackers in ``no_speed`` (a
    static box) show no fps; ``failed`` (``{tracker: reason}``) adds a row per tracker that could
    not be scored on ``failed_benchmark`` and a ``status`` column."""
    rows: dict[str, dict[str, Any]] = {
        f"{b}/{t}": {c: table_value(r, c, hide_fps=t in no_speed) for c in columns}
        for b, by_tracker in results.items()
        for t, r in by_tracker.items()
    }
    used = list(columns)
    if only_filled:
        used = [c for c in columns if any(row.get(c) is not None for row in rows.values())]
    if failed:
        rows = {k: {**v, "status": "ok"} for k, v in rows.items()}
        bench = failed_benchmark
        rows |= {f"{bench}/{t}": {"status": f"FAILED: {why}"} for t, why in failed.items()}
        used.append("status")
    return format_table(rows, columns=used)
