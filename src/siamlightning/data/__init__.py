"""Datasets: the data model, the readers of each layout, and the training pair pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources import SourceReader, available_sources, check_options, reader
from siamlightning.data.sources._layouts import empty_root_message, wrong_root_hint
from siamlightning.errors import DataError

__all__ = ["Sequence", "SequenceIndex", "available_sources", "open_dataset"]


def open_dataset(
    name: str,
    root: str | Path | None = None,
    split: str | None = None,
    *,
    cache: bool | str | Path | None = None,
    **options: Any,
) -> SequenceIndex:
    """Read dataset ``name`` (a source module) from its top folder ``root`` as distributed.

    ``cache``: None (default) uses the index cache (`siamlightning.data.index.cache`) for
    sources whose module sets ``CACHE = True`` (the large training sets); True caches any
    source read from ``root``; False never; a str/Path caches under that folder instead of the
    user cache folder. A cached dataset comes back as a memory-mapped `CompactIndex`, which
    behaves as a `SequenceIndex`. Sources without ``root`` (synthetic) are never cached.
    ``options``: the reader's (`siamlightning.data.sources.reader_options`); any other key is a
    `ConfigError` naming the closest accepted one.
    """
    module = reader(name)
    check_options(name, module, options)
    if root is not None:
        root = Path(root).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"dataset {name!r}: root folder {root} does not exist")
    if root is None:
        return module.load(root, split=split, **options)
    try:
        index = _load(module, name, root, split, cache, options)
    except DataError as exc:  # a reader failing on another benchmark's tree says so
        hint = wrong_root_hint(name, root)
        if hint:
            exc.args = (f"{exc.args[0]}; {hint}", *exc.args[1:])
        raise
    if len(index) == 0:
        raise DataError(empty_root_message(name, root), path=root)
    return index


def _load(
    module: SourceReader,
    name: str,
    root: Path,
    split: str | None,
    cache: Any,
    options: dict[str, Any],
) -> SequenceIndex:
    use = module.CACHE if cache is None else cache is not False
    if not use:
        return module.load(root, split=split, **options)
    from siamlightning.data.index.cache import load_cached

    directory = cache if isinstance(cache, (str, Path)) else None
    return load_cached(module, name, root, split, options, directory=directory)[0]
