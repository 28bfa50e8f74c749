"""Result-file layouts of the official toolkits and of pysot / pytracking, both ways.

OPE-style layouts all hold one ``x,y,w,h`` line per frame; they differ in where the file lives:

| layout | file of sequence ``s`` (run ``k``) |
|---|---|
| ``otb`` (also LaSOT, UAV, NfS, pytracking, pysot OPE) | ``<dir>/s.txt`` |
| ``got10k`` | ``<dir>/s/s_00k.txt`` and ``<dir>/s/s_time.txt`` |
| ``vot`` (reset-based, box trajectories) | ``<dir>/baseline/s/s_00k.txt`` |

A sequence's file is found whatever its case and ``-``/``_``/``.`` spelling (pysot writes OTB's
``Jogging-1`` as ``jogging_1.txt``, got10k's toolkit as ``Jogging.1.txt``): see
`siamlightning.evaluation.result_folder`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.evaluation.result_folder import (
    ResultFolder,
    check_results_folder,
    single_target_alias,
)
from siamlightning.evaluation.results import (
    SequenceResult,
    read_ope_result,
    read_times,
    write_ope_result,
    write_times,
)

LAYOUTS = ("otb", "got10k", "vot")


def candidates(folder: Path, name: str, run: int = 1) -> list[Path]:
    """Every path a result file of sequence ``name`` may have, in the order they are tried."""
    k = f"{run:03d}"
    pysot = name.lower().replace("-", "_")
    return [
        folder / f"{name}.txt",
        folder / name / f"{name}_{k}.txt",
        folder / "baseline" / name / f"{name}_{k}.txt",
        folder / "longterm" / name / f"{name}_{k}.txt",
        folder / f"{pysot}.txt",
    ]


def find_result_file(folder: str | Path, name: str, run: int = 1) -> Path:
    """The result file of sequence ``name`` in any known layout, whatever its case and
    ``-``/``_``/``.`` spelling; `DataError` when the folder is missing or empty, or the file is
    missing or twice."""
    return ResultFolder(check_results_folder(folder)).file(name, run)


def detect_layout(folder: str | Path) -> str:
    """Guess a result layout: ``vot`` (baseline/), ``got10k`` (per-sequence dirs) or ``otb``."""
    folder = Path(folder)
    if (folder / "baseline").is_dir() or (folder / "longterm").is_dir():
        return "vot"
    if any(p.is_dir() and (p / f"{p.name}_001.txt").is_file() for p in folder.iterdir()):
        return "got10k"
    return "otb"


def write_result(
    folder: str | Path,
    name: str,
    boxes: np.ndarray,
    *,
    layout: str = "otb",
    run: int = 1,
    times: np.ndarray | None = None,
) -> Path:
    """Write one run's boxes (N, 4) of sequence ``name`` in ``layout``; returns the box file."""
    folder = Path(folder)
    if layout == "otb":
        path = folder / f"{name}.txt"
        if times is not None:
            write_times(folder / "times" / f"{name}_time.txt", times)
    elif layout == "got10k":
        path = folder / name / f"{name}_{run:03d}.txt"
        if times is not None:
            write_times(folder / name / f"{name}_time.txt", times)
    elif layout == "vot":
        path = folder / "baseline" / name / f"{name}_{run:03d}.txt"
    else:
        raise ValueError(f"unknown result layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    write_ope_result(path, boxes)
    return path


def write_trackingnet_submission(folder: str | Path, results: Mapping[str, np.ndarray]) -> Path:
    """TrackingNet server submission: ``<seq>.txt`` files zipped flat into ``<folder>.zip``."""
    folder = Path(folder)
    for name, boxes in results.items():
        write_ope_result(folder / f"{name}.txt", boxes)
    archive = folder.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(results):
            z.write(folder / f"{name}.txt", arcname=f"{name}.txt")
    return archive


def _times_file(box: Path, name: str) -> Path | None:
    """``name``: the sequence as the box file spells it (its stem, or its run folder's name)."""
    for p in (box.parent / "times" / f"{name}_time.txt", box.parent / f"{name}_time.txt"):
        if p.is_file():
            return p
    return None


def read_results(
    folder: str | Path, index: SequenceIndex, run: int = 1, *, repeats: bool = True
) -> dict[str, SequenceResult]:
    """Read run ``run`` of every sequence of ``index`` from ``folder`` in any OPE-style layout.

    With ``repeats`` (and ``run=1``), the further runs of a numbered layout (``<seq>_002.txt``,
    ``_003``... next to ``<seq>_001.txt``, as GOT-10k's toolkit writes them) are read too, up to
    the first missing number, into `SequenceResult.repeats`: scoring pools them like the toolkit.
    """
    listing = ResultFolder(check_results_folder(folder))
    names = [seq.name for seq in index]
    out: dict[str, SequenceResult] = {}
    for seq in index:
        box = listing.file(seq.name, run, alias=single_target_alias(seq.name, names))
        boxes = read_ope_result(box, expected_len=len(seq))
        nested = box.parent != listing.folder
        tf = _times_file(box, box.parent.name if nested else box.stem)
        times = read_times(tf, expected_len=len(seq)) if tf else np.full(len(seq), np.nan)
        more: list[np.ndarray] = []
        if repeats and run == 1 and nested:
            numbered, k = listing.runs(seq.name), 2
            while (nxt := numbered.get(k)) is not None:
                more.append(read_ope_result(nxt, expected_len=len(seq)))
                k += 1
        out[seq.name] = SequenceResult(
            name=seq.name, boxes=boxes, times=times, uid=seq.uid, repeats=tuple(more)
        )
    return out
