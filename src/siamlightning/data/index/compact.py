"""`CompactIndex`: a whole dataset as a few flat arrays, saved as ``.npy`` files and memory-mapped.

A `SequenceIndex` holds one Python `Sequence` (lists of frame paths, dicts, small arrays) per
video; for GOT-10k that is 10k objects and 1.5 M path strings, copied into every DataLoader worker.
A `CompactIndex` holds the same data as flat arrays (`frame_table()` returns views of them) and
builds a real `Sequence` only when one is asked for. Opened from a folder (`CompactIndex.open`),
the arrays are read-only memory maps: DataLoader workers (fork or spawn) share the OS page cache,
and a pickle holds only the folder path. The encoding (paths as ``dir + printf pattern``, meta
as JSON with per-frame arrays in columns) lives in `siamlightning.data.index.codec`.

Every `SequenceIndex` method works the same on a `CompactIndex`, and ``CompactIndex.from_index(ix)``
round-trips exactly: names, frames, boxes, polygons, masks, flags and ``meta`` (types included).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from collections.abc import Sequence as SeqLike
from pathlib import Path
from typing import Any

import numpy as np

from siamlightning.data.core.sequences import FrameTable, Sequence, SequenceIndex, shard_owners
from siamlightning.data.index import codec
from siamlightning.errors import DataError, IndexCacheError

__all__ = ["CompactIndex"]


def _gather(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat frame rows of sequences ``rows`` (F',) and their new offsets (S' + 1,)."""
    lo, lens = offsets[rows], offsets[rows + 1] - offsets[rows]
    new = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    flat = np.repeat(lo - new[:-1], lens) + np.arange(new[-1], dtype=np.int64)
    return flat, new


class CompactIndex(SequenceIndex):
    """A `SequenceIndex` stored as flat (optionally memory-mapped) arrays; see the module doc."""

    def __init__(
        self,
        arrays: dict[str, np.ndarray],
        header: dict[str, Any],
        *,
        folder: Path | None = None,
        rows: np.ndarray | None = None,
    ) -> None:
        self._a, self._h, self.folder = arrays, header, folder
        self._rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.name: str = header["name"]
        self.root: str | None = header["root"]
        self._by_name: dict[str, int] | None = None  # type: ignore[assignment]
        self._names: list[str] | None = None
        self._table: FrameTable | None = None

    # -- construction, storage -------------------------------------------------------------
    @classmethod
    def from_index(cls, index: SequenceIndex) -> CompactIndex:
        """Encode every sequence of ``index`` (in memory; `save` writes it to a folder)."""
        if isinstance(index, CompactIndex) and index._rows is None:
            return index
        arrays, header = codec.encode(list(index))
        header.update(name=index.name, root=index.root)
        return cls(arrays, header)

    @classmethod
    def open(cls, folder: str | Path) -> CompactIndex:
        """Memory-map a folder written by `save`; `IndexCacheError` if it is partial or corrupt."""
        folder = Path(folder)
        try:
            header = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise IndexCacheError("not a saved index (no meta.json)", path=folder) from None
        except (OSError, ValueError) as exc:
            raise IndexCacheError(f"unreadable meta.json ({exc})", path=folder) from None
        if header.get("format") != codec.FORMAT:
            msg = f"index format {header.get('format')!r}, this version reads {codec.FORMAT}"
            raise IndexCacheError(msg, path=folder)
        arrays = {}
        if not isinstance(header.get("arrays"), dict):
            raise IndexCacheError("meta.json lists no arrays", path=folder)
        for key, (dtype, shape) in header["arrays"].items():
            path = folder / f"{key}.npy"
            try:
                arr = np.load(path, mmap_mode="r" if np.prod(shape) else None, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise IndexCacheError(f"unreadable array ({exc})", path=path) from None
            if arr.dtype.str != dtype or list(arr.shape) != list(shape):
                msg = f"expected {dtype} {tuple(shape)}, found {arr.dtype.str} {arr.shape}"
                raise IndexCacheError(msg, path=path)
            arrays[key] = np.asarray(arr)  # a plain ndarray view of the memory map
        try:
            codec.validate(arrays, header)
        except (KeyError, ValueError) as exc:
            raise IndexCacheError(f"inconsistent index ({exc})", path=folder) from None
        return cls(arrays, header, folder=folder)

    def save(self, folder: str | Path, **info: Any) -> Path:
        """Write to ``folder`` atomically (temp folder + rename); ``info`` goes to meta.json."""
        if self._rows is not None:
            return CompactIndex.from_index(self).save(folder, **info)
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
        old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
        try:
            for key, arr in self._a.items():
                np.save(tmp / f"{key}.npy", np.ascontiguousarray(arr), allow_pickle=False)
            header = {**self._h, "name": self.name, "root": self.root, **info}
            header["arrays"] = {k: [a.dtype.str, list(a.shape)] for k, a in self._a.items()}
            header["build_id"] = uuid.uuid4().hex
            (tmp / "meta.json").write_text(json.dumps(header, indent=1), encoding="utf-8")
            if folder.exists():
                folder.rename(old)
            tmp.rename(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return folder

    def __reduce__(self) -> tuple:
        if self.folder is not None:  # a worker re-opens the memory map: the pickle is tiny
            state = (str(self.folder), self._h.get("build_id"), self._rows, self.name, self.root)
            return _reopen, state
        return _restore, (self._a, self._h, self._rows, self.name, self.root)

    def to_index(self) -> SequenceIndex:
        """An ordinary `SequenceIndex` of every `Sequence` (builds them all)."""
        return SequenceIndex(list(self), name=self.name, root=self.root)

    # -- the SequenceIndex interface ---------------------------------------------------------
    def _stored(self) -> np.ndarray:
        """Stored row of each sequence of this (possibly selected) index, (S,) int64."""
        if self._rows is None:
            return np.arange(self._h["num_sequences"], dtype=np.int64)
        return self._rows

    def _row(self, k: int) -> int:
        n = len(self)
        if not -n <= k < n:
            raise IndexError(f"dataset {self.name!r} has {n} sequences, asked for {k}")
        k %= n
        return k if self._rows is None else int(self._rows[k])

    def _lookup(self) -> dict[str, int]:
        if self._by_name is None:
            self._by_name = {s: k for k, s in enumerate(self.names)}
        return self._by_name

    def __len__(self) -> int:
        return self._h["num_sequences"] if self._rows is None else len(self._rows)

    def __iter__(self) -> Iterator[Sequence]:
        return (self[k] for k in range(len(self)))

    def __getitem__(self, key: int | str | slice) -> Any:  # Sequence (list for a slice)
        if isinstance(key, str):
            if key not in self._lookup():
                raise KeyError(f"dataset {self.name!r} has no sequence {key!r}")
            key = self._lookup()[key]
        if isinstance(key, slice):
            return [self[k] for k in range(*key.indices(len(self)))]
        return codec.decode_sequence(self._a, self._h, self._row(int(key)))

    def __contains__(self, key: object) -> bool:
        return key in self._lookup()

    def __repr__(self) -> str:
        where = f", folder={str(self.folder)!r}" if self.folder is not None else ""
        return (
            f"CompactIndex(name={self.name!r}, sequences={len(self)}, "
            f"frames={self.num_frames}{where})"
        )

    @property
    def sequences(self) -> list[Sequence]:  # type: ignore[override]
        """Every `Sequence` as a list (builds them all: iterate or index instead)."""
        return list(self)

    @property
    def names(self) -> list[str]:
        """Sequence names in order."""
        if self._names is None:
            self._names = [codec.get_str(self._a, "names", int(r)) for r in self._stored()]
        return list(self._names)

    @property
    def num_frames(self) -> int:
        """Total number of frames over all sequences."""
        off = self._a["offsets"]
        if self._rows is None:
            return int(off[-1])
        return int((off[self._rows + 1] - off[self._rows]).sum())

    def frame_table(self) -> FrameTable:
        """Every frame's box and visibility as flat arrays (views of the stored arrays)."""
        if self._table is None:
            a = self._a
            ratio = a.get("visible_ratio")
            size = a["image_size"] if self._rows is None else a["image_size"][self._rows]
            if self._rows is None:
                off, boxes, flags = a["offsets"], a["boxes"], a["flags"]
            else:
                flat, off = _gather(a["offsets"], self._rows)
                boxes, flags = a["boxes"][flat], a["flags"][flat]
                has = ratio is not None and bool(a["visible_ratio.has"][self._rows].any())
                ratio = ratio[flat] if has else None  # as SequenceIndex: None when none has one
            visible = (flags & codec.VISIBLE) != 0
            self._table = FrameTable(off, boxes, visible, ratio, size)
        return self._table

    def select(self, names: SeqLike[str]) -> CompactIndex:
        """A new index holding only ``names`` (in that order); shares the stored arrays."""
        lookup, pos = self._lookup(), []
        for n in names:
            if n not in lookup:
                raise KeyError(f"dataset {self.name!r} has no sequence {n!r}")
            pos.append(lookup[n])
        if len(set(pos)) != len(pos):
            dup = next(n for k, n in enumerate(names) if pos.index(pos[k]) != k)
            raise DataError(f"dataset {self.name!r}: duplicate sequence name {dup!r}")
        return self._subset(self._stored()[np.asarray(pos, dtype=np.int64)])

    def shard(self, rank: int, world_size: int) -> CompactIndex:
        """Sequences of rank ``rank`` of ``world_size``, exactly as `SequenceIndex.shard`."""
        if world_size <= 1:
            return self
        rows = self._stored()
        off = self._a["offsets"]
        owner = shard_owners(off[rows + 1] - off[rows], world_size)
        return self._subset(rows[owner == rank])

    def _subset(self, rows: np.ndarray) -> CompactIndex:
        out = CompactIndex(self._a, self._h, folder=self.folder, rows=rows)
        out.name, out.root = self.name, self.root
        return out


def _restore(
    arrays: dict[str, np.ndarray],
    header: dict[str, Any],
    rows: np.ndarray | None,
    name: str,
    root: str | None,
) -> CompactIndex:
    out = CompactIndex(arrays, header, rows=rows)
    out.name, out.root = name, root
    return out


def _reopen(
    folder: str, build_id: str | None, rows: np.ndarray | None, name: str, root: str | None
) -> CompactIndex:
    index = CompactIndex.open(folder)
    if index._h.get("build_id") != build_id:
        raise IndexCacheError(
            "the index cache was rebuilt after this index was pickled (a worker re-opens it): "
            "build the cache before starting the run, not during it",
            path=folder,
        )
    out = index if rows is None else index._subset(rows)
    out.name, out.root = name, root
    return out
