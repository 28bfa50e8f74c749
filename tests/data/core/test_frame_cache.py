"""The process-wide frame cache: hits, its bound, read-only frames, changed files read again."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.core.frame_cache import disable_frame_cache, enable_frame_cache
from siamlightning.data.core.sequences import Sequence


@pytest.fixture(autouse=True)
def _no_cache_after():
    yield
    disable_frame_cache()


def _synthetic():
    opts = {"seed": 5, "num_sequences": 1, "length": 6, "width": 64, "height": 48}
    return open_dataset("synthetic", None, None, cache=False, **opts)[0]


def test_synthetic_frames_equal_and_counted_until_the_bound() -> None:
    plain = [_synthetic().read_frame(i) for i in range(6)]
    cache = enable_frame_cache(3 * 64 * 48 * 3)  # room for 3 frames
    for _ in range(2):  # a new index each pass, as each trial opens its benchmark
        seq = _synthetic()
        for i in range(6):
            assert np.array_equal(seq.read_frame(i), plain[i])
    assert cache.stats() == {"frames": 3, "bytes": 3 * 64 * 48 * 3, "max_bytes": 3 * 64 * 48 * 3,
                             "hits": 3, "misses": 9}  # fmt: skip
    with pytest.raises(ValueError, match="read-only"):
        _synthetic().read_frame(0)[0, 0, 0] = 1


def test_a_frame_file_rewritten_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "0001.jpg"
    img = np.full((8, 8, 3), 40, np.uint8)
    cv2.imwrite(str(path), img)
    seq = Sequence(name="s", frames=[str(path)], boxes=np.array([[1.0, 1, 4, 4]]))
    cache = enable_frame_cache(1 << 20)
    first = seq.read_frame(0)
    assert seq.read_frame(0) is first
    cv2.imwrite(str(path), np.full((8, 8, 3), 200, np.uint8))
    import os

    os.utime(path, ns=(1, 10**18))  # a new modification time even within the clock's tick
    assert seq.read_frame(0).mean() > 150 and cache.stats()["misses"] == 2


def test_a_missing_frame_is_the_same_frame_read_error_with_the_cache_on(tmp_path: Path) -> None:
    from siamlightning.errors import FrameReadError

    seq = Sequence(name="s", frames=[str(tmp_path / "gone.jpg")], boxes=np.array([[1.0, 1, 4, 4]]))
    enable_frame_cache(1 << 20)
    with pytest.raises(FrameReadError, match=r"gone\.jpg: frame file does not exist"):
        seq.read_frame(0)
