"""On-disk layouts, one public module each; every such module is a `SourceReader`.

`reader(name)` imports the module and checks the contract once, when a source is opened; the
options a reader accepts are its ``load`` signature (`reader_options`), so `check_options` turns
a misspelt option into a `ConfigError` before anything is read (a typo must not train on the
wrong data).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.errors import ConfigError

__all__ = ["SourceReader", "available_sources", "check_options", "reader", "reader_options"]


class SourceReader(Protocol):
    """A dataset reader: a module of `siamlightning.data.sources` with ``load`` and ``CACHE``.

    ``load(root, split=None, *, <options>)``: the dataset under ``root`` as distributed (None for
    a generated source) as a `SequenceIndex`; every option is keyword-only with a default and
    there is no ``**kwargs``. A reader that can leave out a broken sequence (with one warning)
    instead of failing takes ``strict: bool``. ``CACHE``: whether `open_dataset` keeps the parsed
    index in the index cache by default (the large training sets). Optional, read by the index
    cache: ``VERSION`` (bump when the parsed index changes) and ``cache_files(root, split,
    **options)`` (files whose change invalidates it).
    """

    CACHE: bool

    def load(self, root: Path | None, split: str | None = None, **options: Any) -> SequenceIndex:
        """Read the dataset under ``root`` (``split`` as the benchmark names it)."""
        ...


def available_sources() -> list[str]:
    """Names accepted by `open_dataset` (one per public module of this package)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def _contract_errors(module: ModuleType) -> list[str]:
    """What ``module`` lacks to be a `SourceReader` (empty when it is one)."""
    problems = []
    if not isinstance(getattr(module, "CACHE", None), bool):
        problems.append("a CACHE = True/False flag")
    load = getattr(module, "load", None)
    if not callable(load):
        return [*problems, "a load(root, split=None, *, <options>) function"]
    params = list(inspect.signature(load).parameters.values())
    head = [(p.name, p.kind) for p in params[:2]]
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    if head != [("root", positional), ("split", positional)] or params[1].default is not None:
        problems.append("load's first parameters root, split=None")
    for p in params[2:]:
        if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.default is inspect.Parameter.empty:
            problems.append(f"load option {p.name!r} keyword-only with a default (no *args/**kw)")
    return problems


def reader(name: str) -> SourceReader:
    """The reader module of source ``name``, checked against `SourceReader`.

    Raises `ConfigError` for an unknown name and TypeError for a module breaking the contract.
    """
    names = available_sources()
    if name not in names:
        raise ConfigError(f"unknown dataset source {name!r}; available: {', '.join(names)}")
    module = importlib.import_module(f"{__name__}.{name}")
    problems = _contract_errors(module)
    if problems:
        raise TypeError(f"{module.__name__} is not a SourceReader: it needs {'; '.join(problems)}")
    return cast(SourceReader, module)


def reader_options(source: SourceReader) -> dict[str, Any]:
    """The options ``source.load`` accepts, each with its default (keyword-only parameters)."""
    params = inspect.signature(source.load).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def check_options(name: str, source: SourceReader, options: dict[str, Any]) -> None:
    """Raise `ConfigError` naming each option of ``options`` that source ``name`` does not
    accept, its closest accepted spelling and every accepted option."""
    accepted = sorted(reader_options(source))
    bad = sorted(set(options) - set(accepted))
    if not bad:
        return
    parts = []
    for key in bad:
        close = difflib.get_close_matches(key, accepted, n=1)
        parts.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise ConfigError(
        f"data source {name!r}: unknown option{'s' if len(bad) > 1 else ''} {', '.join(parts)}; "
        f"{name} accepts: {', '.join(accepted) or 'no options'}"
    )
