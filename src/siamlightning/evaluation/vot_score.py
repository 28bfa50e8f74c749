"""Score VOT reset-based trajectories (``baseline/<seq>/<seq>_NNN.txt``) of any tracker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError
from siamlightning.metrics.vot import ar_summary, read_runs
from siamlightning.metrics.vot_eao import eao_curve, eao_interval, eao_score


def _groundtruth(seq: Sequence) -> list[np.ndarray]:
    regions = seq.polygons if seq.polygons is not None else seq.boxes
    return [np.asarray(r, dtype=np.float64) for r in regions]


def runs_dir(folder: str | Path) -> Path:
    """The folder of per-sequence run folders: ``folder/baseline`` when present, else ``folder``;
    FileNotFoundError when it does not exist."""
    base = Path(folder)
    if (base / "baseline").is_dir():
        base = base / "baseline"
    if not base.is_dir():
        raise FileNotFoundError(f"VOT results folder {base} does not exist")
    return base


def score_vot_folder(
    folder: str | Path,
    index: SequenceIndex,
    *,
    year: int | str = 2018,
    variant: str = "legacy",
    interval: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """EAO, accuracy and robustness of the trajectories under ``folder`` (or its ``baseline/``)."""
    base = runs_dir(folder)
    eao_o, eao_c, ar_o, ar_c = [], [], [], []
    per_seq: dict[str, dict[str, float]] = {}
    for seq in index:
        run_dir = base / seq.name
        if not run_dir.is_dir():
            raise DataError(f"no trajectories for sequence {seq.name!r}", path=run_dir)
        gt, size = _groundtruth(seq), seq.image_size()
        o, c = read_runs(run_dir, gt, size, purpose="eao", variant=variant)
        oa, ca = read_runs(run_dir, gt, size, purpose="ar", variant=variant)
        eao_o.append(o)
        eao_c.append(c)
        ar_o.append(oa)
        ar_c.append(ca)
        one = ar_summary([oa], [ca], variant=variant)
        per_seq[seq.name] = {
            "accuracy": one["accuracy"],
            "failures": one["average_failures"],
            "runs": int(o.shape[0]),
        }
    curve = eao_curve(eao_o, eao_c, variant=variant)
    ar = ar_summary(ar_o, ar_c, variant=variant)
    overall = {
        "eao": float(eao_score(curve, interval or eao_interval(year), variant=variant)),
        "accuracy": float(ar["accuracy"]),
        "robustness": float(ar["robustness"]),
        "failures": float(ar["average_failures"]),
        "eao_curve": np.asarray(curve).tolist(),
        "num_sequences": len(index),
    }
    return {"protocol": f"vot{year}-{variant}", "overall": overall, "sequences": per_seq}
