"""Per-sequence error tolerance for readers of large training sets.

A training mix should not lose a whole dataset to one broken annotation file: with
``strict=False`` a reader builds every sequence through `build_sequences`, which drops the ones
whose files raise `DataError` and warns once with the count and the first few ``file:line``
messages. Evaluation keeps ``strict=True`` (the default): a benchmark must not silently shrink.

``siamlightning-prep check`` loads inside `collect_problems`: every reader then records each
sequence's `DataError` (the sequences a tolerant load skips) and each dataset-level one it can
step past (`tolerate`: e.g. a ``list.txt`` line naming a missing folder), and goes on, so one
run reports every problem of a dataset.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from siamlightning.data.core.sequences import Sequence
from siamlightning.data.sources._text import read_lines
from siamlightning.errors import DataError

__all__ = ["LoadProblems", "build_sequences", "collect_problems", "listed_folders", "tolerate"]

T = TypeVar("T")


@dataclass
class LoadProblems:
    """What a load inside `collect_problems` stepped past."""

    skipped: list[DataError] = field(default_factory=list)  # one per sequence left out
    dataset: list[DataError] = field(default_factory=list)  # list/root-level problems


_COLLECT: ContextVar[LoadProblems | None] = ContextVar("siamlightning_load_problems", default=None)


@contextmanager
def collect_problems() -> Iterator[LoadProblems]:
    """Within: readers record `DataError`s in the yielded `LoadProblems` and go on."""
    found = LoadProblems()
    token = _COLLECT.set(found)
    try:
        yield found
    finally:
        _COLLECT.reset(token)


def tolerate(error: DataError) -> None:
    """Record a dataset-level ``error`` inside `collect_problems` (the caller steps past
    it); raise it otherwise."""
    found = _COLLECT.get()
    if found is None:
        raise error
    found.dataset.append(error)


def listed_folders(lst: Path, base: Path) -> list[str]:
    """The sequence names a ``list.txt`` gives (blank lines skipped); a line naming no folder
    under ``base`` is a `DataError` with its line (`tolerate`d inside `collect_problems`)."""
    names = []
    for k, s in enumerate(s.strip() for s in read_lines(lst)):
        if s and not (base / s).is_dir():
            msg = f"sequence folder {base / s} does not exist"
            tolerate(DataError(msg, path=lst, line=k + 1))
        elif s:
            names.append(s)
    return names


def build_sequences(
    items: Iterable[T], build: Callable[[T], Sequence], *, strict: bool, source: str
) -> list[Sequence]:
    """``[build(item) for item in items]``; with ``strict=False`` a `DataError` drops that item
    (one warning per call: count and first 3 messages, each naming its file and line); inside
    `collect_problems` every such error is recorded there instead, whatever ``strict``."""
    found = _COLLECT.get()
    if strict and found is None:
        return [build(item) for item in items]
    out: list[Sequence] = []
    errors: list[str] = []
    for item in items:
        try:
            out.append(build(item))
        except DataError as exc:
            errors.append(str(exc))
            if found is not None:
                found.skipped.append(exc)
    if errors and found is None:
        first = "; ".join(errors[:3])
        warnings.warn(
            f"{source}: skipped {len(errors)} sequence(s) with unreadable annotations "
            f"(strict=False; first: {first})",
            stacklevel=3,
        )
    return out
