"""Score VOT reset-based trajectories (``baseline/<seq>/<seq>_NNN.txt``) of any tracker."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.errors import DataError
from siamlightning.evaluation.result import BenchmarkResult, Scores
from siamlightning.evaluation.result_folder import ResultFolder, check_results_folder
from siamlightning.metrics.vot_eao import eao_curve, eao_interval, eao_score
from siamlightning.metrics.vot_reset import ar_summary, pysot_groundtruth, read_runs


def _groundtruth(seq: Sequence, variant: str) -> list[np.ndarray]:
    if variant == "pysot":  # pysot rasterises a rectangle GT line as such (x..x+w)
        return pysot_groundtruth(seq.boxes, seq.polygons)
    regions = seq.polygons if seq.polygons is not None else seq.boxes
    return [np.asarray(r, dtype=np.float64) for r in regions]


def runs_dir(folder: str | Path) -> Path:
    """The folder of per-sequence run folders: ``folder/baseline`` when present, else ``folder``;
    `DataError` when ``folder`` does not exist or is empty."""
    base = check_results_folder(folder)
    return base / "baseline" if (base / "baseline").is_dir() else base


def sequence_runs_dir(listing: ResultFolder, name: str) -> Path:
    """``<runs_dir>/<name>`` (``listing`` of the `runs_dir`) whatever the case and ``-``/``_``
    spelling of its folder name; `DataError` when missing or present twice."""
    found = listing.sequence_dir(name, parents=("",))
    if found is None:
        raise DataError(f"no trajectories for sequence {name!r}", path=listing.folder / name)
    return found


def score_vot_folder(
    folder: str | Path,
    index: SequenceIndex,
    *,
    year: int | str = 2018,
    variant: str = "legacy",
    interval: tuple[int, int] | None = None,
) -> BenchmarkResult:
    """EAO, accuracy and robustness of the trajectories under ``folder`` (or its ``baseline/``)
    -> a `BenchmarkResult` of kind ``vot`` (its ``eao_interval``: ``interval`` or the year's)."""
    listing = ResultFolder(runs_dir(folder))
    eao_o, eao_c, ar_o, ar_c = [], [], [], []
    per_seq: dict[str, dict[str, float]] = {}
    # pysot's toolkit walks sequences sorted by name; its EAO weights come from the last one
    for seq in sorted(index, key=lambda s: s.name) if variant == "pysot" else index:
        run_dir = sequence_runs_dir(listing, seq.name)
        files = [f for _, f in sorted(listing.runs(seq.name).items())] or None
        gt, size = _groundtruth(seq, variant), seq.image_size()
        kw = {"variant": variant, "files": files}
        o, c = read_runs(run_dir, gt, size, purpose="eao", **kw)
        oa, ca = read_runs(run_dir, gt, size, purpose="ar", **kw)
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
    interval = interval or eao_interval(year)
    overall = Scores(
        values={
            "eao": float(eao_score(curve, interval, variant=variant)),
            "accuracy": float(ar["accuracy"]),
            "robustness": float(ar["robustness"]),
            "failures": float(ar["average_failures"]),
        },
        curves={"eao": np.asarray(curve).tolist()},
        counts={"num_sequences": len(index)},
    )
    return BenchmarkResult(
        kind="vot",
        protocol=f"vot{year}-{variant}",
        overall=overall,
        sequences=per_seq,
        eao_interval=(int(interval[0]), int(interval[1])),
    )
