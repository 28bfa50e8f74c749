"""Index caches: location, hits and misses (mtimes, VERSION, listed files), corrupt caches."""

from __future__ import annotations

import os
import types
from pathlib import Path

import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.index.cache import cache_dir, load_cached
from siamlightning.data.index.compact import CompactIndex
from siamlightning.data.sources import got10k
from siamlightning.data.tools.writers import write_got10k


class Reader(types.ModuleType):
    """A fake source module: reads ``<root>/*.txt`` (one sequence each), counts its reads."""

    def __init__(self) -> None:
        super().__init__("fake")
        self.reads = 0

    def load(self, root: Path, split: str | None = None, **options: object) -> SequenceIndex:
        self.reads += 1
        seqs = []
        for f in sorted(Path(root).glob("*.txt")):
            n = int(f.read_text())
            frames = [str(f.parent / f.stem / f"{i:04d}.jpg") for i in range(n)]
            meta = {"file": str(f), "options": dict(options)}
            seqs.append(Sequence(f.stem, frames, np.ones((n, 4)) * n, meta=meta))
        return SequenceIndex(seqs, name="fake", root=str(root))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    for name, n in (("a", 3), ("b", 5)):
        (root / f"{name}.txt").write_text(str(n))
    return root


def _bump(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def test_cache_location_follows_the_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SIAMLIGHTNING_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "siamlightning"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "siamlightning"
    monkeypatch.setenv("SIAMLIGHTNING_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"


def test_hits_and_misses(data: Path, tmp_path: Path) -> None:
    mod, cdir = Reader(), tmp_path / "cache"
    ix, info = load_cached(mod, "fake", data, None, {}, directory=cdir)
    assert isinstance(ix, CompactIndex) and not info.hit and mod.reads == 1
    assert ix.names == ["a", "b"] and ix.num_frames == 8 and info.folder.parent == cdir / "index"
    assert info.disk_bytes > 0 and info.folder.name.startswith("fake-")
    ix2, info2 = load_cached(mod, "fake", data, None, {}, directory=cdir)
    assert info2.hit and mod.reads == 1 and info2.folder == info.folder
    assert ix2["b"].boxes[0, 0] == 5
    (data / "b.txt").write_text("6")  # an immediate child of the root changes
    _bump(data / "b.txt")
    ix3, info3 = load_cached(mod, "fake", data, None, {}, directory=cdir)
    assert not info3.hit and mod.reads == 2 and ix3.num_frames == 9
    assert not info.folder.exists()  # the stale state was removed
    mod.VERSION = 2  # a new reader version
    assert not load_cached(mod, "fake", data, None, {}, directory=cdir)[1].hit
    assert load_cached(mod, "fake", data, None, {}, directory=cdir)[1].hit and mod.reads == 3
    # options and splits are part of the key; an option naming a file adds its mtime
    lst = tmp_path / "list.txt"
    lst.write_text("a\n")
    ixo, infoo = load_cached(mod, "fake", data, "train", {"list_file": str(lst)}, directory=cdir)
    assert not infoo.hit and ixo[0].meta["options"] == {"list_file": str(lst)}
    assert load_cached(mod, "fake", data, None, {}, directory=cdir)[1].hit  # both kept
    _bump(lst)
    assert not load_cached(mod, "fake", data, "train", {"list_file": str(lst)}, directory=cdir)[
        1
    ].hit
    assert load_cached(mod, "fake", data, None, {}, directory=cdir, rebuild=True)[1].hit is False
    assert mod.reads == 6


def test_files_listed_by_the_reader_are_watched(data: Path, tmp_path: Path) -> None:
    deep = data / "sub" / "deeper.txt"
    deep.parent.mkdir()
    deep.write_text("x")
    mod = Reader()
    load_cached(mod, "fake", data, None, {}, directory=tmp_path)
    _bump(deep)  # two levels down: not seen unless listed
    assert load_cached(mod, "fake", data, None, {}, directory=tmp_path)[1].hit
    mod.cache_files = lambda root, split, **o: [Path(root) / "sub" / "deeper.txt"]
    load_cached(mod, "fake", data, None, {}, directory=tmp_path)
    _bump(deep)
    assert not load_cached(mod, "fake", data, None, {}, directory=tmp_path)[1].hit


@pytest.mark.parametrize("damage", ["truncate", "delete", "meta"])
def test_corrupt_cache_is_rebuilt_with_a_warning(data: Path, tmp_path: Path, damage: str) -> None:
    mod = Reader()
    info = load_cached(mod, "fake", data, None, {}, directory=tmp_path)[1]
    target = info.folder / ("boxes.npy" if damage != "meta" else "meta.json")
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "delete":
        target.unlink()
    else:
        target.write_text("{not json")
    with pytest.warns(UserWarning, match="index cache is broken, rebuilding"):
        again, info2 = load_cached(mod, "fake", data, None, {}, directory=tmp_path)
    assert not info2.hit and mod.reads == 2 and again.num_frames == 8
    assert load_cached(mod, "fake", data, None, {}, directory=tmp_path)[1].hit


def test_interrupted_build_leaves_nothing(data: Path, tmp_path: Path, monkeypatch) -> None:
    calls = []

    def failing_save(path: Path, arr: np.ndarray, **kw: object) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(KeyboardInterrupt):
        load_cached(Reader(), "fake", data, None, {}, directory=tmp_path)
    assert [p.suffix for p in (tmp_path / "index").iterdir()] == [".lock"]


def test_uncacheable_datasets_come_back_as_read(data: Path, tmp_path: Path) -> None:
    mod = Reader()
    plain = mod.load

    def with_a_set(root: Path, split: str | None = None, **o: object) -> SequenceIndex:
        ix = plain(root, split, **o)
        ix[0].meta["bad"] = {1, 2}
        return ix

    mod.load = with_a_set
    with pytest.warns(UserWarning, match="not cached"):
        ix, info = load_cached(mod, "fake", data, None, {}, directory=tmp_path)
    assert type(ix) is SequenceIndex and info.folder is None


def test_open_dataset_cache_policy(tmp_path: Path, monkeypatch) -> None:
    synth = open_dataset("synthetic", None, seed=5, num_sequences=2, length=4, width=32, height=32)
    root = write_got10k(synth, tmp_path / "GOT", split="val")
    monkeypatch.setenv("SIAMLIGHTNING_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setattr(got10k, "CACHE", False)
    assert type(open_dataset("got10k", root, "val")) is SequenceIndex  # no CACHE = True
    assert not (tmp_path / "c").exists()
    cached = open_dataset("got10k", root, "val", cache=True)
    assert isinstance(cached, CompactIndex) and cached.folder.parent == tmp_path / "c" / "index"
    monkeypatch.setattr(got10k, "CACHE", True, raising=False)
    assert isinstance(open_dataset("got10k", root, "val"), CompactIndex)
    assert type(open_dataset("got10k", root, "val", cache=False)) is SequenceIndex
    other = open_dataset("got10k", root, "val", cache=str(tmp_path / "d"))
    assert other.folder.parent == tmp_path / "d" / "index" and other.names == cached.names
    synth2 = open_dataset("synthetic", None, num_sequences=1, length=3, cache=True)
    assert type(synth2) is SequenceIndex  # nothing on disk to key on
