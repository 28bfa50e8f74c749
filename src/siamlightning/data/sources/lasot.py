"""LaSOT (and LaSOT_ext): ``<root>/<class>/<class>-<k>/`` or a flat ``<root>/<class>-<k>/``.

Each sequence folder holds ``groundtruth.txt`` (``x,y,w,h`` per frame, comma separated),
``full_occlusion.txt`` and ``out_of_view.txt`` (a single comma-separated line of 0/1 per frame;
missing files read as all zeros), ``nlp.txt`` (the language description -> ``meta["nlp"]``) and
``img/00000001.jpg...`` (names built from the line count; the first and last must exist, extra
images are ignored as for ``monkey-17``).

Absent frames: ``absent = full_occlusion | out_of_view`` (pytracking's ``target_visible``);
``occluded`` = full occlusion, ``out_of_view`` = out of view. Their boxes are NaN, per the
package contract, although the file holds ``0,0,0,0`` there. That loses nothing: the LaSOT
toolkit removes absent frames before scoring, and the ``"lasot"`` OPE protocol reproduces its
only use of those rows (a bad prediction there is repaired because the GT row is not NaN) from
the absent flags. `raw_boxes` gives the rows as in the file: when an absent row is not
``0,0,0,0``, the file's rows are kept in ``meta["raw_boxes"]`` (N, 4); otherwise they are rebuilt.

Splits: ``None`` every sequence found; ``"test"`` the official 280 (`LASOT_TEST`, from the
toolkit's ``testing_set.txt`` = got10k-toolkit's ``lasot.json``; all must be present);
``"train"`` the other sequences of the 70 LaSOT classes (1120 when complete); ``"extension"``
every sequence found (LaSOT_ext's 150 as distributed).

Attributes: ``attributes=<dir>`` names the LaSOT evaluation toolkit's ``annos/att`` folder
(``<seq>.txt``: 14 comma-separated 0/1 flags in the toolkit's order `LASOT_ATTRIBUTES`);
``meta["attributes"]`` then lists the codes set for each sequence (per-attribute plots use them).
Without the option, ``<root>/att`` is used when it exists.
"""

from __future__ import annotations

from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._tolerant import build_sequences
from siamlightning.data.sources.otb import read_otb_boxes
from siamlightning.errors import DataError

__all__ = [
    "LASOT_ATTRIBUTES",
    "LASOT_TEST",
    "load",
    "raw_boxes",
    "read_attributes",
    "read_flag_line",
]

#: The toolkit's attribute codes, in the column order of ``annos/att/<seq>.txt``.
LASOT_ATTRIBUTES: dict[str, str] = {
    "IV": "Illumination Variation",
    "POC": "Partial Occlusion",
    "DEF": "Deformation",
    "MB": "Motion Blur",
    "CM": "Camera Motion",
    "ROT": "Rotation",
    "BC": "Background Clutter",
    "VC": "Viewpoint Change",
    "SV": "Scale Variation",
    "FOC": "Full Occlusion",
    "FM": "Fast Motion",
    "OV": "Out-of-View",
    "LR": "Low Resolution",
    "ARC": "Aspect Ratio Change",
}

_TEST = """
airplane-1,9,13,15 basketball-1,6,7,11 bear-2,4,6,17 bicycle-2,7,9,18 bird-2,3,15,17
boat-3,4,12,17 book-3,10,11,19 bottle-1,12,14,18 bus-2,5,17,19 car-2,6,9,17 cat-1,3,18,20
cattle-2,7,12,13 chameleon-3,6,11,20 coin-3,6,7,18 crab-3,6,12,18 crocodile-3,4,10,14
cup-1,4,7,17 deer-4,8,10,14 dog-1,7,15,19 drone-2,7,13,15 electricfan-1,10,18,20
elephant-1,12,16,18 flag-2,3,5,9 fox-2,3,5,20 frog-3,4,9,20 gametarget-1,2,7,13
gecko-1,5,16,19 giraffe-2,10,13,15 goldfish-3,7,8,10 gorilla-4,6,9,13 guitar-3,8,10,16
hand-2,3,9,16 hat-1,2,5,18 helmet-5,11,13,19 hippo-1,7,9,20 horse-1,4,12,15
kangaroo-2,5,11,14 kite-4,6,10,15 leopard-1,7,16,20 licenseplate-6,12,13,15 lion-1,5,12,20
lizard-1,3,6,13 microphone-2,6,14,16 monkey-3,4,9,17 motorcycle-1,3,9,18 mouse-1,8,9,17
person-1,5,10,12 pig-2,10,13,18 pool-3,7,12,15 rabbit-10,13,17,19 racing-10,15,16,20
robot-1,5,8,19 rubicCube-1,6,14,19 sepia-6,8,13,16 shark-2,3,5,6 sheep-3,5,7,9
skateboard-3,8,16,19 spider-14,16,18,20 squirrel-8,11,13,19 surfboard-4,5,8,12
swing-10,14,17,20 tank-6,9,14,16 tiger-4,6,12,18 train-1,7,11,20 truck-3,6,7,16
turtle-5,8,9,16 umbrella-2,9,17,19 volleyball-1,13,18,19 yoyo-7,15,17,19 zebra-10,14,16,17
"""
_CLASSES = {e.split("-")[0]: [int(k) for k in e.split("-")[1].split(",")] for e in _TEST.split()}
LASOT_TEST: frozenset[str] = frozenset(f"{c}-{k}" for c, ks in _CLASSES.items() for k in ks)
"""The 280 sequences of LaSOT's test set (protocol II)."""
_SPLITS = (None, "train", "test", "extension")

#: Bumped when the parsed output changes (the index cache keys on it); CACHE: training-size
#: dataset, cached by `open_dataset` (class folders are stat'ed: added videos are noticed).
VERSION = 1
CACHE = True


def cache_files(root: str | Path, split: str | None = None, **options: Any) -> list[Path]:
    """Class folders (their mtimes change when a video folder is added or removed)."""
    base = Path(root)
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def read_flag_line(path: str | Path, n: int) -> np.ndarray:
    """A LaSOT flag file (one comma-separated line of ``n`` 0/1 values) -> (n,) bool."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read flag file ({exc})", path=p) from None
    parts = [s.strip() for s in text.replace("\n", ",").split(",")] if text else []
    if len(parts) != n or any(s not in ("0", "1") for s in parts):
        bad = next((s for s in parts if s not in ("0", "1")), None)
        what = f"a value {bad!r}" if bad is not None else f"{len(parts)} values"
        raise DataError(f"expected {n} comma-separated 0/1 flags, got {what}", path=p, line=1)
    return np.array(parts) == "1"


def raw_boxes(sequence: Sequence) -> np.ndarray:
    """The LaSOT ``groundtruth.txt`` rows (N, 4): ``meta["raw_boxes"]``, else 0 where absent."""
    if "raw_boxes" in sequence.meta:
        return np.asarray(sequence.meta["raw_boxes"])
    return np.where(sequence.absent[:, None], 0.0, sequence.boxes)


def _sequence(folder: Path) -> Sequence:
    ann = folder / "groundtruth.txt"
    raw = read_otb_boxes(ann)
    n = len(raw)
    flags = {}
    for key in ("full_occlusion", "out_of_view"):
        f = folder / f"{key}.txt"
        flags[key] = read_flag_line(f, n) if f.is_file() else np.zeros(n, dtype=bool)
    absent = flags["full_occlusion"] | flags["out_of_view"]
    img = folder / "img"
    frames = [str(img / f"{i:08d}.jpg") for i in range(1, n + 1)]
    for f in frames[:1] + frames[-1:]:
        if not Path(f).is_file():
            raise DataError(f"frame missing: {n} annotation lines need img/ frames 1..{n}", path=f)
    meta: dict[str, Any] = {"annotation_file": str(ann), "folder": str(folder)}
    meta["class"] = folder.name.rsplit("-", 1)[0]
    if (folder / "nlp.txt").is_file():
        meta["nlp"] = (folder / "nlp.txt").read_text(encoding="utf-8", errors="replace").strip()
    if (raw[absent] != 0).any():
        meta["raw_boxes"] = raw.copy()
    boxes = np.where(absent[:, None], np.nan, raw)
    return Sequence(
        folder.name,
        frames,
        boxes,
        absent=absent,
        occluded=flags["full_occlusion"],
        out_of_view=flags["out_of_view"],
        meta=meta,
    )


def _find(base: Path) -> dict[str, Path]:
    """Sequence name -> folder, for nested (<class>/<class>-<k>) and flat roots alike."""
    found: dict[str, Path] = {}
    for d in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if (d / "groundtruth.txt").is_file():
            found[d.name] = d
            continue
        for s in sorted(p for p in d.iterdir() if p.is_dir()):
            if (s / "groundtruth.txt").is_file():
                found.setdefault(s.name, s)
    return found


def read_attributes(path: str | Path) -> list[str]:
    """A toolkit ``att/<seq>.txt`` (14 comma-separated 0/1 flags) -> the codes that are set."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig").strip()
    except FileNotFoundError:
        raise DataError("attribute file does not exist", path=p) from None
    fields = [f.strip() for f in text.replace("\n", ",").split(",") if f.strip()]
    codes = list(LASOT_ATTRIBUTES)
    if len(fields) != len(codes) or any(f not in ("0", "1") for f in fields):
        raise DataError(
            f"expected {len(codes)} comma-separated 0/1 flags ({', '.join(codes)}), got {text!r}",
            path=p,
            line=1,
        )
    return [c for c, f in zip(codes, fields, strict=True) if f == "1"]


def _in_train(name: str) -> bool:
    cls, _, k = name.rpartition("-")
    return cls in _CLASSES and k.isdigit() and 1 <= int(k) <= 20 and name not in LASOT_TEST


def load(
    root: str | Path,
    split: str | None = None,
    *,
    sequences: SeqLike[str] | None = None,
    attributes: str | Path | None = None,
    strict: bool = True,
) -> SequenceIndex:
    """Read a LaSOT (or LaSOT_ext) root into a `SequenceIndex` sorted by sequence name.

    ``strict=False`` (training mixes) drops sequences whose files raise `DataError`, with
    one warning naming the first files and lines, instead of failing the whole dataset.
    """
    if split not in _SPLITS:
        raise ValueError(f"lasot: no split {split!r}; use None, 'train', 'test' or 'extension'")
    if root is None:
        raise ValueError("lasot: root (the folder of class or sequence folders) is required")
    base = Path(root)
    if not base.is_dir():
        raise DataError("LaSOT root folder does not exist", path=base)
    found = _find(base)
    if not found:
        raise DataError(
            "not a LaSOT root: no <class>/<class>-<k>/groundtruth.txt or <class>-<k>/"
            "groundtruth.txt below it",
            path=base,
        )
    names = sorted(found)
    if split == "test":
        missing = sorted(LASOT_TEST - set(found))
        if missing and sequences is None:
            raise DataError(
                f"{len(missing)} of the 280 LaSOT test sequences are missing (e.g. "
                f"{missing[:3]}); pass sequences=[...] to read a subset",
                path=base,
            )
        names = sorted(LASOT_TEST)
    elif split == "train":
        names = [n for n in names if _in_train(n)]
    if sequences is not None:
        wanted = [sequences] if isinstance(sequences, str) else list(sequences)
        missing = [w for w in wanted if w not in found or w not in names]
        if missing:
            raise DataError(f"no sequence(s) {missing} in split {split!r}", path=base)
        names = wanted
    seqs = build_sequences([found[n] for n in names], _sequence, strict=strict, source="lasot")
    att_dir = Path(attributes) if attributes is not None else base / "att"
    if attributes is not None and not att_dir.is_dir():
        raise DataError("LaSOT attribute folder does not exist", path=att_dir)
    if att_dir.is_dir():
        for seq in seqs:
            seq.meta["attributes"] = read_attributes(att_dir / f"{seq.name}.txt")
    return SequenceIndex(seqs, name="lasot", root=str(base))
