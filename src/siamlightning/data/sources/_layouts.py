"""What each benchmark's folder looks like on disk, and which layout a given folder holds.

`open_dataset` asks `wrong_root_hint` when a root yields no sequence (or a reader fails on it), so
a wrong ``root=`` says what was expected, which layout the folder really holds ("this looks like
a GOT-10k tree") and which child folder was probably meant ("did you mean <root>/OTB100?").
Detection only looks at a handful of names (a few ``stat`` calls), never reads annotations.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["EXPECTED", "LABELS", "detect_layout", "empty_root_message", "wrong_root_hint"]

LABELS = {
    "otb": "OTB",
    "vot": "VOT",
    "got10k": "GOT-10k",
    "lasot": "LaSOT",
    "uav": "UAV123",
    "nfs": "NfS",
    "trackingnet": "TrackingNet",
}
EXPECTED = {
    "otb": "<Seq>/groundtruth_rect.txt and <Seq>/img/0001.jpg",
    "vot": "list.txt and <seq>/groundtruth.txt with frames in <seq>/color/00000001.jpg",
    "got10k": "<split>/list.txt and <split>/<seq>/groundtruth.txt with <seq>/00000001.jpg",
    "lasot": "<class>/<class>-<k>/groundtruth.txt and <class>/<class>-<k>/img/00000001.jpg",
    "uav": "anno/UAV123/<seq>.txt and data_seq/UAV123/<seq>/000001.jpg",
    "nfs": "<seq>/30/<seq>.txt and <seq>/30/<seq>/00001.jpg",
    "trackingnet": "TRAIN_<k>/anno/<seq>.txt and TRAIN_<k>/frames/<seq>/0.jpg",
}
_PEEK = 20  # child folders looked at per level


def _children(folder: Path) -> list[Path]:
    try:
        kids = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    except OSError:
        return []
    return kids[:_PEEK]


def _otb(d: Path) -> bool:
    def seq(s: Path) -> bool:
        return (s / "img").is_dir() and any(s.glob("groundtruth_rect*.txt"))

    return seq(d) or any(seq(c) for c in _children(d))


def _got_split(d: Path) -> bool:
    kids = _children(d)
    return (d / "list.txt").is_file() and any(
        (c / "groundtruth.txt").is_file() and (c / "absence.label").is_file() for c in kids
    )


def _got10k(d: Path) -> bool:
    return _got_split(d) or any(_got_split(d / s) for s in ("train", "val", "test"))


def _vot(d: Path) -> bool:
    return (d / "list.txt").is_file() and any(
        (c / "groundtruth.txt").is_file() and ((c / "color").is_dir() or (c / "sequence").is_file())
        for c in _children(d)
    )


def _lasot(d: Path) -> bool:
    def seq(s: Path) -> bool:
        return (s / "groundtruth.txt").is_file() and (s / "full_occlusion.txt").is_file()

    return any(seq(c) or any(seq(g) for g in _children(c)) for c in _children(d))


def _uav(d: Path) -> bool:
    return (d / "anno").is_dir() and (d / "data_seq").is_dir()


def _nfs(d: Path) -> bool:
    return any((c / "30" / f"{c.name}.txt").is_file() for c in _children(d)) or (
        (d / "anno").is_dir() and (d / "sequences").is_dir()
    )


def _trackingnet(d: Path) -> bool:
    return any(c.name.startswith("TRAIN_") or c.name == "TEST" for c in _children(d))


_DETECT: dict[str, Callable[[Path], bool]] = {
    "got10k": _got10k,  # before vot: both have list.txt and <seq>/groundtruth.txt
    "vot": _vot,
    "otb": _otb,
    "lasot": _lasot,
    "uav": _uav,
    "nfs": _nfs,
    "trackingnet": _trackingnet,
}


def detect_layout(folder: str | Path) -> str | None:
    """The benchmark layout ``folder`` holds (a key of `LABELS`), or None if none is seen."""
    d = Path(folder)
    return next((name for name, looks in _DETECT.items() if looks(d)), None)


def _a(label: str) -> str:
    return f"an {label}" if label[0] in "AEIONF" else f"a {label}"


def wrong_root_hint(name: str, root: str | Path) -> str:
    """What a ``root`` that gave no ``name`` sequences holds instead, as a sentence ('' if no
    layout is seen): another benchmark's tree, or a child folder holding ``name``'s layout."""
    d = Path(root)
    label = LABELS.get(name, name)
    found = detect_layout(d)
    if found is not None and found != name:
        return f"this looks like {_a(LABELS[found])} tree, not {label} (source {found!r})"
    if found == name:
        return ""
    for child in _children(d):
        if detect_layout(child) == name:
            return f"did you mean {child}?"
    for child in _children(d):
        other = detect_layout(child)
        if other is not None:
            return f"{child} looks like {_a(LABELS[other])} tree, not {label}"
    return ""


def empty_root_message(name: str, root: str | Path) -> str:
    """The message of a ``root`` in which the ``name`` reader found no sequence."""
    label = LABELS.get(name, name)
    expected = EXPECTED.get(name)
    msg = f"no {label} sequences found in this folder"
    if expected:
        msg += f"; the {label} layout expects {expected} below it"
    hint = wrong_root_hint(name, root)
    return f"{msg}; {hint}" if hint else msg
