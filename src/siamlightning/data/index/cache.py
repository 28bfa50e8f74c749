"""Index caches: a dataset parsed once, saved as a `CompactIndex`, re-opened while still valid.

Location: ``$SIAMLIGHTNING_CACHE_DIR``, else ``$XDG_CACHE_HOME/siamlightning``, else
``~/.cache/siamlightning``; each cache is the folder ``index/<source>-<identity>-<state>``.
``identity`` hashes what was asked for (source, resolved root, split, reader options, the
reader's ``VERSION`` and the storage format); ``state`` hashes the modification times (ns) and
sizes of the root, its immediate children, the files the reader lists through its optional
``cache_files(root, split, **options)`` and any option naming an existing file (e.g. a
``list_file``). No frame file is ever looked at, so the check costs a few dozen ``stat`` calls.
A change deeper in the tree that touches none of these (an annotation file edited in place) is
seen only when the reader lists that file in ``cache_files``; ``siamlightning-prep index``
rebuilds on demand. A rebuild removes the caches of older states of the same identity.

Builds are atomic (temp folder + rename) and serialised per identity with a lock file, so DDP
ranks starting together parse the dataset once. A missing, partial or corrupt cache folder is
rebuilt with a warning; a dataset that cannot be stored (e.g. synthetic sequences that draw
their frames in memory) is returned as read, uncached.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from siamlightning.data.core.sequences import SequenceIndex
from siamlightning.data.index import codec as index_codec
from siamlightning.data.index.compact import CompactIndex
from siamlightning.errors import IndexCacheError

__all__ = ["CacheInfo", "cache_dir", "cache_key", "load_cached"]


def cache_dir() -> Path:
    """The user cache folder (see the module doc)."""
    if os.environ.get("SIAMLIGHTNING_CACHE_DIR"):
        return Path(os.environ["SIAMLIGHTNING_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "siamlightning"


@dataclass
class CacheInfo:
    """What `load_cached` did: the folder, a hit or a build, and how long it took (seconds)."""

    folder: Path | None
    hit: bool
    build_s: float = 0.0
    load_s: float = 0.0
    disk_bytes: int = 0


def _stat(p: Path) -> list[Any]:
    try:
        st = p.stat()
    except OSError:
        return [str(p), None, None]
    return [str(p), st.st_mtime_ns, st.st_size]


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def cache_key(
    module: ModuleType, source: str, root: Path, split: str | None, options: dict[str, Any]
) -> tuple[str, str]:
    """(identity, state) hex digests of a dataset read (see the module doc)."""
    root = Path(root).resolve()
    opts = {k: options[k] for k in sorted(options)}
    identity = _digest(
        {
            "format": index_codec.FORMAT,
            "source": source,
            "version": getattr(module, "VERSION", 0),
            "root": str(root),
            "split": split,
            "options": opts,
        }
    )
    stats = [_stat(root)]
    if root.is_dir():
        with os.scandir(root) as it:
            stats += [_stat(Path(e.path)) for e in sorted(it, key=lambda e: e.name)]
    listed = getattr(module, "cache_files", None)
    if listed is not None:
        stats += [_stat(Path(p)) for p in listed(root, split, **options)]
    for v in opts.values():
        if isinstance(v, (str, Path)) and len(str(v)) < 4096 and Path(v).is_file():
            stats.append(_stat(Path(v)))
    return identity, _digest([identity, stats])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (no lock where the file system has none)."""
    try:
        import fcntl

        f = open(path, "a+b")
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(f, fcntl.LOCK_EX)
        yield
    finally:
        f.close()


def _open(folder: Path, state: str) -> CompactIndex | None:
    """The cache in ``folder`` if it is complete and of ``state``; a broken one is removed."""
    if not folder.exists():
        return None
    try:
        index = CompactIndex.open(folder)
        if index._h.get("state") != state:
            raise IndexCacheError("cache key mismatch", path=folder)
        return index
    except IndexCacheError as exc:
        warnings.warn(f"index cache is broken, rebuilding it: {exc}", stacklevel=3)
        shutil.rmtree(folder, ignore_errors=True)
        return None


def _disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


def load_cached(
    module: ModuleType,
    source: str,
    root: Path,
    split: str | None,
    options: dict[str, Any],
    *,
    directory: str | Path | None = None,
    rebuild: bool = False,
) -> tuple[SequenceIndex, CacheInfo]:
    """``module.load(root, split, **options)`` through the cache in ``directory``/index."""
    base = Path(directory).expanduser() if directory is not None else cache_dir()
    base = base / "index"
    identity, state = cache_key(module, source, root, split, options)
    stem = f"{source}-{identity[:12]}"
    folder = base / f"{stem}-{state[:12]}"
    t0 = time.perf_counter()
    if not rebuild and (hit := _open(folder, state)) is not None:
        return hit, CacheInfo(folder, True, 0.0, time.perf_counter() - t0, _disk_bytes(folder))
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        warnings.warn(
            f"cannot create the index cache folder {base} ({exc}): not cached", stacklevel=2
        )
        return module.load(root, split=split, **options), CacheInfo(None, False)
    with _locked(base / f"{stem}.lock"):
        if not rebuild and (hit := _open(folder, state)) is not None:  # built by another process
            return hit, CacheInfo(folder, True, 0.0, time.perf_counter() - t0, _disk_bytes(folder))
        index = module.load(root, split=split, **options)
        try:
            compact = CompactIndex.from_index(index)
            compact.save(folder, state=state, identity=identity, source=source, split=split)
        except (TypeError, ValueError, OSError) as exc:
            if not any(s.renderer is not None for s in index):
                warnings.warn(f"{source}: index not cached ({exc})", stacklevel=2)
            return index, CacheInfo(None, False, time.perf_counter() - t0)
        for old in base.glob(f"{stem}-*"):  # older states of the same dataset
            if old != folder and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    out = CompactIndex.open(folder)
    return out, CacheInfo(folder, False, build_s, time.perf_counter() - t1, _disk_bytes(folder))
