"""Find each sequence's result file in a results folder as other toolkits name them.

Toolkits spell a sequence's file differently: OTB's ``Human4-2`` is ``Human4-2.txt`` (the OTB
toolkit), ``human4_2.txt`` (pysot), ``Human4_2.txt`` (pytracking), ``Jogging.1.txt`` (got10k's
toolkit, which names a video's only annotated target by the video: ``Human4.txt``, see
`single_target_alias`); ``BlurBody`` may be ``blurBody.txt``. A name is matched by its
`name_key` (casefolded, ``-``, ``_`` and ``.`` the same) against one listing of the folder, so
every spelling is found and two files of the same sequence are an error naming both.

Layouts tried, in this order (the first one holding the sequence wins):

| layout | file of sequence ``s``, run ``k`` |
|---|---|
| flat (OTB, LaSOT, UAV, NfS, pysot, pytracking) | ``<dir>/s.txt`` |
| GOT-10k | ``<dir>/s/s_00k.txt`` |
| VOT reset-based | ``<dir>/baseline/s/s_00k.txt`` (``longterm/`` too) |
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from siamlightning.errors import DataError

__all__ = ["NESTED", "ResultFolder", "check_results_folder", "name_key", "single_target_alias"]

NESTED = ("", "baseline", "longterm")  # parents of per-sequence run folders, in the order tried
_RUN = re.compile(r"^(?P<stem>.+)_(?P<run>\d{3})\.txt$", re.IGNORECASE)
_TARGET = re.compile(r"^(?P<video>.+)[-_.]\d$")  # OTB's one-target-of-a-video names: Human4-2


def name_key(name: str) -> str:
    """A sequence or file name as toolkits vary it: casefolded, ``-`` and ``.`` read as ``_``."""
    return name.casefold().replace("-", "_").replace(".", "_")


def single_target_alias(name: str, names: Iterable[str]) -> str | None:
    """``Human4`` for OTB's ``Human4-2`` when no other of ``names`` is that video or one of its
    targets (got10k's toolkit names a video's only annotated target by the video); else None."""
    m = _TARGET.match(name)
    if m is None:
        return None
    video = name_key(m["video"])
    for other in names:
        o = _TARGET.match(other)
        if other != name and video in (name_key(other), o and name_key(o["video"])):
            return None
    return m["video"]


def check_results_folder(folder: str | Path) -> Path:
    """``folder`` as a Path; `DataError` when it is missing, a file, or holds nothing."""
    p = Path(folder)
    if not p.exists():
        raise DataError("results folder does not exist", path=p)
    if not p.is_dir():
        raise DataError("results folder is a file, not a folder of result files", path=p)
    if not any(q for q in p.iterdir() if not q.name.startswith(".")):
        raise DataError(
            "results folder is empty (expected <seq>.txt, <seq>/<seq>_001.txt or "
            "baseline/<seq>/<seq>_001.txt result files)",
            path=p,
        )
    return p


def _by_key(paths: Iterable[Path], key_of: str = "stem") -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = defaultdict(list)
    for p in paths:
        out[name_key(p.stem if key_of == "stem" else p.name)].append(p)
    return out


def _one(hits: list[Path], name: str, what: str, folder: Path) -> Path | None:
    if len(hits) > 1:
        names = " and ".join(str(h.relative_to(folder)) for h in sorted(hits))
        raise DataError(
            f"{len(hits)} {what} match sequence {name!r}: {names} (names are matched ignoring "
            "case and '-'/'_'/'.'); keep one",
            path=folder,
        )
    return hits[0] if hits else None


class ResultFolder:
    """One listing of a results folder; `file` and `runs` find a sequence's result files.

    Callers given a folder by the user pass it through `check_results_folder` first."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataError("results folder does not exist", path=self.folder)
        entries = sorted(self.folder.iterdir())
        self._flat = _by_key(p for p in entries if p.suffix.lower() == ".txt" and p.is_file())
        self._dirs: dict[str, dict[str, list[Path]]] = {}
        for sub in NESTED:
            parent = self.folder / sub if sub else self.folder
            if parent.is_dir():
                subdirs = (d for d in sorted(parent.iterdir()) if d.is_dir())
                self._dirs[sub] = _by_key(subdirs, key_of="name")

    def sequence_dir(self, name: str, parents: Iterable[str] = NESTED) -> Path | None:
        """The per-sequence run folder of ``name`` under the first of ``parents`` holding one."""
        for sub in parents:
            hits = self._dirs.get(sub, {}).get(name_key(name), [])
            hit = _one(hits, name, "folders", self.folder)
            if hit is not None:
                return hit
        return None

    def runs(self, name: str) -> dict[int, Path]:
        """``{run number: file}`` of ``name``'s ``<s>_00k.txt`` files in its run folder (or {})."""
        d = self.sequence_dir(name)
        if d is None:
            return {}
        found: dict[int, list[Path]] = defaultdict(list)
        for p in sorted(d.iterdir()):
            m = _RUN.match(p.name)
            if m and name_key(m["stem"]) == name_key(name) and p.is_file():
                found[int(m["run"])].append(p)
        return {k: _one(v, name, f"run {k} files", self.folder) for k, v in found.items()}  # type: ignore[misc]

    def file(self, name: str, run: int = 1, *, alias: str | None = None) -> Path:
        """The result file of run ``run`` of sequence ``name`` (else of ``alias``, another name
        toolkits give it); `DataError` when none or two."""
        for candidate in (name, alias) if alias else (name,):
            flat = _one(self._flat.get(name_key(candidate), []), name, "files", self.folder)
            if flat is not None:  # a flat layout holds one run per folder, whatever ``run`` asks
                return flat
            nested = self.runs(candidate).get(run)
            if nested is not None:
                return nested
        raise DataError(self._missing(name, run), path=self.folder)

    def _missing(self, name: str, run: int) -> str:
        k = f"{run:03d}"
        tried = f"{name}.txt, {name}/{name}_{k}.txt, baseline/{name}/{name}_{k}.txt"
        msg = f"no result file for sequence {name!r} (tried {tried}, any case, '-', '_' or '.')"
        skip = {"baseline", "longterm", "times"}
        here = {
            k: v[0]
            for by in (self._flat, *self._dirs.values())
            for k, v in by.items()
            if k not in skip
        }
        near = difflib.get_close_matches(name_key(name), list(here), n=1)
        return msg + (f"; closest here: {here[near[0]].relative_to(self.folder)}" if near else "")
