"""A process-wide cache of decoded frames for processes that read the same frames again (the
trials of a tracking hyper-parameter search run one after another in one process).

Off by default. `enable_frame_cache(max_bytes)` turns it on: `Sequence.read_frame` then keeps
each decoded frame (read-only) until ``max_bytes`` are held and serves later reads of the same
frame from memory. When full it keeps what it holds and caches nothing more: a benchmark is read
front to back, so least-recently-used eviction would throw out every frame before its next read
(a hit rate of 0 on a benchmark larger than the cache); filling once gives ``max_bytes / total``.

A frame is keyed by its file path with the file's size and modification time (an image replaced
on disk is read again), or by its renderer's ``cache_key`` and frame number (synthetic videos).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable

import numpy as np

__all__ = ["FrameCache", "disable_frame_cache", "enable_frame_cache", "file_key", "frame_cache"]


class FrameCache:
    """Decoded frames by key, filled until ``max_bytes`` are held; counts hits and misses."""

    def __init__(self, *, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"frame cache size must be > 0 bytes, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self.nbytes = 0
        self.hits = self.misses = 0
        self._frames: dict[Hashable, np.ndarray] = {}

    def get(self, key: Hashable, load: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached frame of ``key`` (read-only), else ``load()`` kept while room is left."""
        frame = self._frames.get(key)
        if frame is not None:
            self.hits += 1
            return frame
        self.misses += 1
        frame = load()
        if self.nbytes + frame.nbytes <= self.max_bytes:
            frame.flags.writeable = False  # shared by every later reader: nobody may draw on it
            self._frames[key] = frame
            self.nbytes += frame.nbytes
        return frame

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        """Drop every frame (the counts stay)."""
        self._frames.clear()
        self.nbytes = 0

    def stats(self) -> dict[str, int]:
        """frames, bytes held, the bound, hits and misses so far."""
        return {
            "frames": len(self),
            "bytes": self.nbytes,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
        }


_ACTIVE: FrameCache | None = None


def enable_frame_cache(max_bytes: int) -> FrameCache:
    """Turn the process-wide cache on (or resize it: an active cache keeps its frames when the
    bound is unchanged, else starts empty) and return it."""
    global _ACTIVE
    if _ACTIVE is None or _ACTIVE.max_bytes != int(max_bytes):
        _ACTIVE = FrameCache(max_bytes=max_bytes)
    return _ACTIVE


def disable_frame_cache() -> None:
    """Turn the cache off and free its frames."""
    global _ACTIVE
    _ACTIVE = None


def frame_cache() -> FrameCache | None:
    """The active cache, or None."""
    return _ACTIVE


def file_key(path: str) -> Hashable:
    """A frame file's cache key: path, size and modification time (ns)."""
    st = os.stat(path)
    return (path, st.st_size, st.st_mtime_ns)
