"""How `CompactIndex` stores sequences as flat arrays (``encode``) and rebuilds one (``decode``).

Arrays (S sequences, F frames in all), by file name:

- ``offsets`` (S + 1,) int64; ``boxes`` (F, 4) float32 when that is exact, else float64;
  ``flags`` (F,) uint8 bits `ABSENT`, `OCCLUDED`, `OUT_OF_VIEW`, `VISIBLE`;
  ``visible_ratio`` (F,) float32 when any sequence has ``meta["visible_ratio"]`` (1.0 elsewhere)
  and ``visible_ratio.has`` (S,) bool: which sequences have one; ``image_size`` (S, 2) float64
  width, height from ``meta`` (NaN where not given).
- strings as ``<key>.blob`` (bytes, uint8) + ``<key>.off`` (int64): ``names``, ``meta`` (one JSON
  document per sequence).
- paths (``frames``, ``masks``), per sequence: ``kind`` -1 none / 0 listed / 1 pattern, ``dir``
  (an id into the unique ``dirs`` strings) and either ``tpl`` + ``start`` + ``step`` (the names are
  ``tpl % (start + i * step)``: ``%08d.jpg`` from 1 for GOT-10k, ``%d.jpg`` from 0 for
  TrackingNet, a literal name for one-frame sequences) or ``first`` (the sequence's first entry in
  the ``names`` strings). Patterns are checked against every path when encoding.
- ragged per-sequence arrays (``polygons`` and every numpy array in ``meta``): ``<key>``
  (rows of all sequences concatenated), ``<key>.start`` and ``<key>.count`` (S,) int64
  (start -1: the sequence has none). A meta array is a JSON marker naming its column.

Meta values may be None, bool, int, float (NaN too), str, list, tuple, dict, `pathlib.Path`,
numpy scalars and numpy arrays of any non-object dtype; anything else raises `TypeError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from collections.abc import Sequence as SeqLike
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from siamlightning.data.core.sequences import FrameList, Sequence, meta_image_size

FORMAT = 1
ABSENT, OCCLUDED, OUT_OF_VIEW, VISIBLE = 1, 2, 4, 8
_NUM = re.compile(r"^(.*?)(\d+)(\D*)$")
_TUPLE, _COL, _NP, _PATH, _DICT = "\0tuple", "\0col", "\0np", "\0path", "\0dict"


class _Strings:
    """Builds a string table: bytes blob + offsets; ``unique`` tables return the id of a repeat."""

    def __init__(self, unique: bool = False) -> None:
        self.parts: list[bytes] = []
        self.ids: dict[str, int] | None = {} if unique else None

    def add(self, s: str) -> int:
        if self.ids is not None and s in self.ids:
            return self.ids[s]
        self.parts.append(s.encode("utf-8", "surrogatepass"))
        if self.ids is not None:
            self.ids[s] = len(self.parts) - 1
        return len(self.parts) - 1

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        lens = np.fromiter(map(len, self.parts), dtype=np.int64, count=len(self.parts))
        off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        return {f"{key}.blob": np.frombuffer(b"".join(self.parts), np.uint8), f"{key}.off": off}


def get_str(a: dict[str, np.ndarray], key: str, i: int) -> str:
    """Entry ``i`` of string table ``key``."""
    off = a[f"{key}.off"]
    return a[f"{key}.blob"][off[i] : off[i + 1]].tobytes().decode("utf-8", "surrogatepass")


def _pattern(paths: SeqLike[str], d: str) -> tuple[str, int, int] | None:
    """(name template, start, step) when ``paths`` are ``d + tpl % (start + i * step)``."""
    cut = len(d)
    m = _NUM.match(paths[0][cut:])
    if m is None:
        return None
    pre, digits, suf = m.groups()
    start, step = int(digits), 1
    if len(paths) > 1:
        m2 = _NUM.match(paths[1][cut:]) if paths[1].startswith(d) else None
        if m2 is None or m2.group(1) != pre or m2.group(3) != suf or m2.group(2) == digits:
            return None
        step = int(m2.group(2)) - start
    field = f"%0{len(digits)}d" if len(digits) > 1 and digits[0] == "0" else "%d"
    tpl = pre.replace("%", "%%") + field + suf.replace("%", "%%")
    full = d.replace("%", "%%") + tpl
    if [full % (start + k * step) for k in range(len(paths))] != list(paths):
        return None
    return tpl, start, step


class _Paths:
    """Builds the arrays of one path column (``frames`` or ``masks``), see the module doc."""

    def __init__(self) -> None:
        self.cols: dict[str, list[int]] = {k: [] for k in ("kind", "dir", "tpl", "start", "step")}
        self.cols["first"] = []
        self.dirs, self.tpls, self.names = _Strings(True), _Strings(True), _Strings()
        self.count = 0

    def add(self, paths: SeqLike[str] | None) -> None:
        first = paths[0] if paths else ""
        d = first[: first.rfind("/") + 1]
        pat = _pattern(paths, d) if paths else None
        kind, tpl, start, step, row = -1, 0, 0, 0, -1
        if pat is not None:
            kind, tpl, start, step = 1, self.tpls.add(pat[0]), pat[1], pat[2]
        elif paths is not None:
            if not all(p.startswith(d) for p in paths):
                d = ""
            kind, row = 0, self.count
            for p in paths:
                self.names.add(p[len(d) :])
            self.count += len(paths)
        for key, v in zip(self.cols, (kind, self.dirs.add(d), tpl, start, step, row)):
            self.cols[key].append(v)

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        out = {f"{key}.{k}": np.asarray(v, dtype=np.int64) for k, v in self.cols.items()}
        out[f"{key}.kind"] = out[f"{key}.kind"].astype(np.int8)
        for sub, table in (("dirs", self.dirs), ("tpls", self.tpls), ("names", self.names)):
            out.update(table.arrays(f"{key}.{sub}"))
        return out


def _get_paths(a: dict[str, np.ndarray], key: str, k: int, n: int) -> Any:
    kind = int(a[f"{key}.kind"][k])
    if kind < 0:
        return None
    d = get_str(a, f"{key}.dirs", int(a[f"{key}.dir"][k]))
    if kind == 1:
        tpl = d.replace("%", "%%") + get_str(a, f"{key}.tpls", int(a[f"{key}.tpl"][k]))
        return FrameList(tpl, int(a[f"{key}.start"][k]), int(a[f"{key}.step"][k]), n)
    first, off = int(a[f"{key}.first"][k]), a[f"{key}.names.off"]
    rel = (off[first : first + n + 1] - off[first]).tolist()
    raw = a[f"{key}.names.blob"][off[first] : off[first + n]].tobytes()
    return [d + raw[rel[i] : rel[i + 1]].decode("utf-8", "surrogatepass") for i in range(n)]


class _Ragged:
    """Per-sequence arrays of one dtype and trailing shape, concatenated."""

    def __init__(self, num_sequences: int) -> None:
        self.parts: list[np.ndarray] = []
        self.start = np.full(num_sequences, -1, dtype=np.int64)
        self.count = np.zeros(num_sequences, dtype=np.int64)
        self.total = 0

    def add(self, k: int, arr: np.ndarray) -> None:
        self.parts.append(arr)
        self.start[k], self.count[k] = self.total, len(arr)
        self.total += len(arr)

    def arrays(self, key: str, dtype: np.dtype, tail: tuple[int, ...]) -> dict[str, np.ndarray]:
        data = np.concatenate(self.parts) if self.parts else np.zeros((0, *tail))
        data = data.astype(dtype, copy=False)  # concatenate makes byte order native
        return {key: data, f"{key}.start": self.start, f"{key}.count": self.count}


def _get_ragged(a: dict[str, np.ndarray], key: str, k: int) -> np.ndarray | None:
    s = int(a[f"{key}.start"][k])
    return None if s < 0 else np.array(a[key][s : s + int(a[f"{key}.count"][k])])


class _MetaEncoder:
    """Meta dicts -> JSON text, with every numpy array moved into a ragged column."""

    def __init__(self, num_sequences: int) -> None:
        self.num_sequences = num_sequences
        self.columns: dict[tuple[str, str, tuple[int, ...]], tuple[int, _Ragged]] = {}
        self.k = 0

    def __call__(self, k: int, meta: dict[str, Any]) -> str:
        self.k = k
        return json.dumps(self._enc(meta, ()), separators=(",", ":"))

    def _enc(self, v: Any, path: tuple) -> Any:
        if isinstance(v, np.ndarray) and not v.dtype.hasobject:
            flat = v.reshape(1) if v.ndim == 0 else v
            col = (json.dumps(path), v.dtype.str, flat.shape[1:])
            if col not in self.columns:
                self.columns[col] = (len(self.columns), _Ragged(self.num_sequences))
            cid, ragged = self.columns[col]
            if ragged.start[self.k] >= 0:  # the same path twice: cannot happen in one dict
                raise TypeError(f"meta{list(path)}: two arrays in one column")
            ragged.add(self.k, flat)
            return {_COL: [cid, int(v.ndim == 0)]}
        if isinstance(v, np.generic) and v.dtype.kind in "biuf":
            return {_NP: [v.dtype.str, v.item()]}
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, PurePath):
            return {_PATH: str(v)}
        if isinstance(v, (list, tuple)):
            items = [self._enc(x, (*path, i)) for i, x in enumerate(v)]
            return items if isinstance(v, list) else {_TUPLE: items}
        if isinstance(v, dict):
            if all(isinstance(key, str) and not key.startswith("\0") for key in v):
                return {key: self._enc(x, (*path, key)) for key, x in v.items()}
            pairs = [
                [self._enc(key, path), self._enc(x, (*path, str(key)))] for key, x in v.items()
            ]
            return {_DICT: pairs}
        raise TypeError(f"meta{list(path)}: a {type(v).__name__} cannot be stored in an index")

    def arrays(self) -> tuple[dict[str, np.ndarray], list[list[Any]]]:
        out: dict[str, np.ndarray] = {}
        specs = []
        for (path, dtype, tail), (cid, ragged) in self.columns.items():
            out.update(ragged.arrays(f"col{cid}", np.dtype(dtype), tail))
            specs.append([path, dtype, list(tail)])
        return out, specs


def _decode(v: Any, column: Callable[[int, bool], Any]) -> Any:
    if isinstance(v, list):
        return [_decode(x, column) for x in v]
    if not isinstance(v, dict):
        return v
    if len(v) == 1:
        ((key, x),) = v.items()
        if key == _COL:
            return column(x[0], bool(x[1]))
        if key == _TUPLE:
            return tuple(_decode(i, column) for i in x)
        if key == _NP:
            return np.dtype(x[0]).type(x[1])
        if key == _PATH:
            return Path(x)
        if key == _DICT:
            return {_decode(k, column): _decode(i, column) for k, i in x}
    return {key: _decode(x, column) for key, x in v.items()}


def encode(sequences: SeqLike[Sequence]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Sequences -> (arrays by file name, header); `TypeError` for what cannot be stored."""
    num = len(sequences)
    names, metas, frames, masks = _Strings(), _Strings(), _Paths(), _Paths()
    enc, polygons = _MetaEncoder(num), _Ragged(num)
    boxes, flags, ratios = [np.zeros((0, 4))], [np.zeros(0, np.uint8)], []
    for k, s in enumerate(sequences):
        if s.renderer is not None:
            raise TypeError(f"sequence {s.name!r} draws its frames in memory: not storable")
        n = len(s)
        names.add(s.name)
        frames.add(list(s.frames))
        masks.add(None if s.masks is None else list(s.masks))
        boxes.append(s.boxes)
        bits = s.absent * ABSENT | s.occluded * OCCLUDED | s.out_of_view * OUT_OF_VIEW
        flags.append((bits | s.visible * VISIBLE).astype(np.uint8))
        r = s.meta.get("visible_ratio")
        ratios.append(None if r is None else np.asarray(r, np.float32).reshape(-1))
        if ratios[-1] is not None and len(ratios[-1]) != n:
            raise ValueError(f"sequence {s.name!r}: visible_ratio has {len(r)} of {n} entries")
        if s.polygons is not None:
            polygons.add(k, s.polygons)
        metas.add(enc(k, s.meta))
    lens = np.array([len(f) for f in flags[1:]], dtype=np.int64)
    box = np.concatenate(boxes).astype(np.float64)
    b32 = box.astype(np.float32)
    arrays = {
        "offsets": np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
        "boxes": b32 if np.array_equal(b32, box, equal_nan=True) else box,
        "flags": np.concatenate(flags),
    }
    if any(r is not None for r in ratios):
        ones = [np.ones(n, np.float32) if r is None else r for n, r in zip(lens, ratios)]
        arrays["visible_ratio"] = np.concatenate([np.zeros(0, np.float32), *ones])
        arrays["visible_ratio.has"] = np.array([r is not None for r in ratios], dtype=bool)
    arrays.update(names.arrays("names"))
    arrays.update(metas.arrays("meta"))
    arrays.update(frames.arrays("frames"))
    arrays.update(masks.arrays("masks"))
    arrays.update(polygons.arrays("polygons", np.dtype(np.float64), (8,)))
    sizes = [meta_image_size(s.meta) for s in sequences]
    arrays["image_size"] = np.array(sizes, dtype=np.float64).reshape(num, 2)
    cols, specs = enc.arrays()
    arrays.update(cols)
    header = {"format": FORMAT, "num_sequences": num, "num_frames": int(lens.sum())}
    return arrays, {**header, "columns": specs}


def decode_sequence(a: dict[str, np.ndarray], header: dict[str, Any], k: int) -> Sequence:
    """Stored sequence ``k`` as a new `Sequence` (its arrays are copies; frames may be lazy)."""
    lo, hi = int(a["offsets"][k]), int(a["offsets"][k + 1])
    flags = a["flags"][lo:hi]

    def column(cid: int, scalar: bool) -> np.ndarray | None:
        arr = _get_ragged(a, f"col{cid}", k)
        return arr.reshape(()) if scalar and arr is not None else arr

    return Sequence(
        get_str(a, "names", k),
        _get_paths(a, "frames", k, hi - lo),
        np.array(a["boxes"][lo:hi], dtype=np.float64),
        _get_ragged(a, "polygons", k),
        _get_paths(a, "masks", k, hi - lo),
        absent=(flags & ABSENT) != 0,
        occluded=(flags & OCCLUDED) != 0,
        out_of_view=(flags & OUT_OF_VIEW) != 0,
        meta=_decode(json.loads(get_str(a, "meta", k)), column),
    )


def validate(a: dict[str, np.ndarray], header: dict[str, Any]) -> None:
    """Cheap consistency checks of loaded arrays; `ValueError` naming the first mismatch."""
    num, frames = header["num_sequences"], header["num_frames"]
    want = {"offsets": (num + 1,), "boxes": (frames, 4), "flags": (frames,), "image_size": (num, 2)}
    want.update({f"{key}.off": (num + 1,) for key in ("names", "meta")})
    want.update({f"{key}.kind": (num,) for key in ("frames", "masks")})
    if "visible_ratio" in a:
        want.update({"visible_ratio": (frames,), "visible_ratio.has": (num,)})
    for key, shape in want.items():
        if a[key].shape != shape:
            raise ValueError(f"{key} has shape {a[key].shape}, expected {shape}")
    if num and (int(a["offsets"][0]) != 0 or int(a["offsets"][-1]) != frames):
        raise ValueError(f"offsets run {a['offsets'][0]}..{a['offsets'][-1]}, not 0..{frames}")
