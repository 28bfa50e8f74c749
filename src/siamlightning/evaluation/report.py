"""Reports: ``metrics.json`` (plain JSON, NaN as null) and a fixed-width console table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["folder_labels", "format_table", "to_jsonable", "write_metrics_json"]

DEFAULT_COLUMNS = ("success_auc", "precision_20", "fps")


def to_jsonable(obj: Any) -> Any:
    """Tensors, arrays, NumPy scalars and paths -> plain JSON values; NaN and ±inf -> None."""
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


def write_metrics_json(path: str | Path, report: Mapping[str, Any]) -> None:
    """Write ``report`` as indented JSON (tensors/arrays as numbers or lists, NaN as null)."""
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
