"""Per-sequence error tolerance for readers of large training sets.

A training mix should not lose a whole dataset to one broken annotation file: with
``strict=False`` a reader builds every sequence through `build_sequences`, which drops the ones
whose files raise `DataError` and warns once with the count and the first few ``file:line``
messages. Evaluation keeps ``strict=True`` (the default): a benchmark must not silently shrink.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import TypeVar

from siamlightning.data.sequences import Sequence
from siamlightning.errors import DataError

__all__ = ["build_sequences"]

T = TypeVar("T")


def build_sequences(
    items: Iterable[T], build: Callable[[T], Sequence], *, strict: bool, source: str
) -> list[Sequence]:
    """``[build(item) for item in items]``; with ``strict=False`` a `DataError` drops that item
    (one warning per call: count and first 3 messages, each naming its file and line)."""
    if strict:
        return [build(item) for item in items]
    out: list[Sequence] = []
    errors: list[str] = []
    for item in items:
        try:
            out.append(build(item))
        except DataError as exc:
            errors.append(str(exc))
    if errors:
        first = "; ".join(errors[:3])
        warnings.warn(
            f"{source}: skipped {len(errors)} sequence(s) with unreadable annotations "
            f"(strict=False; first: {first})",
            stacklevel=3,
        )
    return out
