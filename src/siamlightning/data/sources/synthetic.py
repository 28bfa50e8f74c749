"""Synthetic tracking videos: the embedded default dataset, rendered in memory (no files on disk).

Each sequence is a pure function of ``(seed, index)`` and the options ``length``, ``width``,
``height``, ``difficulty``: sequence ``k`` of seed ``s`` is the same whatever ``num_sequences`` is.
Its parameters (trajectories, appearance, camera, lighting) are drawn at construction (~2 ms);
any frame ``i`` is then drawn from them alone, so frames can be read in any order.

Content: a textured target (ellipse, rounded rectangle or polygon) moving smoothly across a
cluttered, panning and zooming background, changing scale (0.6-1.6x) and aspect, rotating in
some sequences; illumination drift, motion blur when fast, partial and full occlusion, leaving
the view and coming back, and 1-3 look-alike distractors. ``difficulty`` (0 = clean motion
only, 1 = default, >1 harder) scales how often and how strongly these nuisances occur.

Conventions:
- Continuous pixel coordinates: pixel ``(r, c)`` covers ``[c, c+1) x [r, r+1)``; boxes are
  ``x, y, w, h`` with the right edge at ``x + w``.
- Every shape spans the unit square ``[-1, 1]^2`` of its own frame; ``polygons`` (N, 8) are that
  square's corners ``(-1,-1), (1,-1), (1,1), (-1,1)`` in the image: the rotated rectangle.
- ``boxes`` (N, 4): axis-aligned bounds of the whole (unoccluded) shape, clipped to the image;
  NaN when no target pixel is visible.
- ``renderer.mask(i)`` (H, W) bool: pixels whose centre lies inside the shape, minus occluders
  (the frame border clips it too).
- Flags: ``absent`` no visible pixel; ``occluded`` an occluder hides some in-frame target pixel;
  ``out_of_view`` the shape reaches beyond the frame. ``meta["visible_ratio"]`` (N,) is visible
  pixels over all shape pixels (outside the frame included).
- Depth order: background < distractors < target < occluders. Frame 0 always shows the whole
  target, in view and unoccluded.
- ``split``: ``train`` (or None) uses indices ``0..num_sequences-1``; ``val`` and ``test`` add
  1_000_000 and 2_000_000 so that splits never share a sequence.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.sources._synthetic_render import (
    _CANVASES,  # noqa: F401  (re-exported: tests clear it)
    SyntheticRenderer,
    _fixed,
    _Layer,
    _outlines,
    _perturb,
    _shape,
    _tex_key,
)

__all__ = ["SyntheticRenderer", "load", "make_sequence"]

CACHE = False  # open_dataset does not cache this index by default (see SourceReader)

_SPLITS = {None: 0, "train": 0, "val": 1_000_000, "test": 2_000_000}
_CORNERS = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


def _wave(rng: np.random.Generator, k: int, lo: float, hi: float) -> np.ndarray:
    """(3, k) random sinusoids: angular frequency, phase, weight (weights sum to 1)."""
    return np.stack(
        [2 * np.pi / rng.uniform(lo, hi, k), rng.uniform(0, 2 * np.pi, k), rng.dirichlet([1] * k)]
    )


def _eval(p: np.ndarray, t: np.ndarray, speed: float = 1.0) -> np.ndarray:
    """Evaluate a `_wave` at times ``t`` (N,) -> (N,) values in [-1, 1]."""
    return (p[2][:, None] * np.sin(p[0][:, None] * speed * t[None] + p[1][:, None])).sum(0)


def _geom(cx, cy, hw, hh, theta) -> np.ndarray:
    """Stack per-frame geometry into (N, 6) rows: cx, cy, hw, hh, cos, sin."""
    n = len(np.atleast_1d(cx))
    cols = [np.broadcast_to(np.asarray(v, np.float64), (n,)) for v in (cx, cy, hw, hh, theta)]
    return np.stack([*cols[:4], np.cos(cols[4]), np.sin(cols[4])], 1)


def _deform(rng, t, size, asp, dd, rotates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half width, half height and angle (N,) with scale 0.6-1.6x, aspect drift, rotation."""
    scale = np.exp(rng.uniform(0.15, 0.3 + 0.3 * dd) * _eval(_wave(rng, 2, 60, 300), t))
    scale = np.clip(scale, 0.6, 1.6)
    aspect = asp * np.exp(0.2 * dd * _eval(_wave(rng, 2, 40, 200), t))
    amp = rng.uniform(0.5, 1.5) if rotates else 0.05 * dd
    theta = _eval(_wave(rng, 2, 50, 250), t) * amp + (rng.uniform(-np.pi, np.pi) if rotates else 0)
    return 0.5 * size * np.sqrt(aspect) * scale, 0.5 * size / np.sqrt(aspect) * scale, theta


def _extent(hw, hh, theta) -> tuple[np.ndarray, np.ndarray]:
    """Half extents (N,) of the axis-aligned bounds of a rotated rectangle."""
    c, s = np.abs(np.cos(theta)), np.abs(np.sin(theta))
    return c * hw + s * hh, s * hw + c * hh


def _path(rng, t, centre, amp, speed, budget=None) -> np.ndarray:
    """Smooth path (N, 2) around ``centre``, per-axis amplitude, mean speed ~``speed`` px/frame.

    With ``budget`` (2,), phases are redrawn until the start lies within it of ``centre``.
    """
    amp = np.asarray(amp, np.float64)
    for _ in range(32):
        p = [_wave(rng, 3, 60, 260), _wave(rng, 3, 60, 260)]
        if budget is None or all(abs(amp[a] * _eval(p[a], t[:1])[0]) <= budget[a] for a in (0, 1)):
            break
    else:
        amp = np.minimum(amp, budget)

    def xy(f: float) -> np.ndarray:
        return np.stack([centre[a] + amp[a] * _eval(p[a], t, f) for a in (0, 1)], 1)

    v = np.hypot(*np.diff(xy(1.0), axis=0).T).mean() if len(t) > 1 else 0.0
    return xy(float(np.clip(speed / v, 0.25, 3.0)) if v > 1e-6 else 1.0)


def _blur(xy: np.ndarray, exposure: float, cap: float) -> np.ndarray:
    """(N, 2) motion-blur length (px) and direction (deg) from a path (N, 2)."""
    vel = np.gradient(xy, axis=0) if len(xy) > 1 else np.zeros_like(xy)
    length = np.minimum(exposure * np.hypot(vel[:, 0], vel[:, 1]), cap)
    return np.stack([length, np.degrees(np.arctan2(vel[:, 1], vel[:, 0])) % 180], 1)


class _Scene:
    """Shared draws of one sequence: frame size, time axis, difficulty and the target's motion."""

    def __init__(self, rng: np.random.Generator, n: int, w: int, h: int, d: float) -> None:
        self.rng, self.n, self.w, self.h, self.d = rng, n, w, h, d
        self.dd, self.unit, self.t = min(d, 1.0), min(w, h) / 240, np.arange(n, dtype=np.float64)


def _target(sc: _Scene) -> tuple[_Layer, dict[str, Any]]:
    """The target layer, in full view at frame 0, plus the draws distractors imitate."""
    rng, t, w, h, dd = sc.rng, sc.t, sc.w, sc.h, sc.dd
    kind, tex = int(rng.integers(0, 3)), _tex_key(rng)
    size, asp = rng.uniform(24, 56) * sc.unit, np.exp(rng.uniform(-0.45, 0.45))
    rotates = rng.random() < 0.4 * dd
    hw, hh, theta = _deform(rng, t, size, asp, dd, rotates)
    ex, ey = _extent(hw, hh, theta)
    amp = np.maximum([w / 2 - ex.max() - 1, h / 2 - ey.max() - 1], 0) * rng.uniform(0.75, 1.0, 2)
    if rng.random() < 0.25 * dd:  # leaves the view along one axis and comes back
        a = int(rng.integers(2))
        amp[a] = (w, h)[a] / 2 + (ex, ey)[a].max() * rng.uniform(0.6, 1.5)
    speed = rng.uniform(1.5, 4.5) * sc.unit * (0.6 + 0.4 * min(sc.d, 2.0))
    start = np.maximum([w / 2 - ex[0] - 1, h / 2 - ey[0] - 1], 0)
    xy = _path(rng, t, (w / 2, h / 2), amp, speed, budget=start)
    exposure = rng.uniform(0.4, 1.0) * dd if rng.random() < 0.6 * dd else 0.0
    geom = _geom(xy[:, 0], xy[:, 1], hw, hh, theta)
    layer = _Layer(
        _shape(rng, kind), tex, geom, np.ones(sc.n, bool), _blur(xy, exposure, 12 * sc.unit)
    )
    info = {
        "kind": kind,
        "size": size,
        "asp": asp,
        "rotates": rotates,
        "speed": speed,
        "exposure": exposure,
        "xy": xy,
        "ext": np.stack([ex, ey], 1),
    }
    return layer, info


def _distractors(sc: _Scene, tex: tuple, info: dict[str, Any]) -> list[_Layer]:
    """0-3 look-alikes of the target (same shape family, nearby texture), clear of it at frame 0."""
    rng, t, w, h, out = sc.rng, sc.t, sc.w, sc.h, []
    for _ in range(int(rng.integers(1, 4)) if rng.random() < min(1.0, 0.9 * sc.d) else 0):
        size = info["size"] * rng.uniform(0.75, 1.3)
        asp = info["asp"] * np.exp(rng.uniform(-0.2, 0.2))
        hw, hh, theta = _deform(rng, t, size, asp, sc.dd, info["rotates"])
        gap = np.stack(_extent(hw, hh, theta), 1)[0] + info["ext"][0] + 2
        for _ in range(16):
            centre, amp = rng.uniform(0.25, 0.75, 2) * (w, h), rng.uniform(0.2, 0.45, 2) * (w, h)
            xy = _path(rng, t, centre, amp, info["speed"] * rng.uniform(0.6, 1.4))
            if (np.abs(xy[0] - info["xy"][0]) > gap).any():
                break
        geom = _geom(xy[:, 0], xy[:, 1], hw, hh, theta)
        blur = _blur(xy, info["exposure"], 12 * sc.unit)
        out.append(
            _Layer(_shape(rng, info["kind"]), _perturb(rng, tex), geom, np.ones(sc.n, bool), blur)
        )
    return out


def _occluders(sc: _Scene, info: dict[str, Any]) -> list[_Layer]:
    """Occluders crossing the target's path (never at frame 0); ~30% big enough to hide it."""
    rng, t, n, unit, xy = sc.rng, sc.t, sc.n, sc.unit, info["xy"]
    vel, out = (np.gradient(xy, axis=0) if n > 1 else np.zeros_like(xy)), []
    for _ in range(min(4, int(rng.poisson(0.7 * sc.d * max(n, 50) / 100))) if n >= 8 else 0):
        full, tc = rng.random() < 0.3, int(rng.integers(max(2, n // 7), n))
        st = info["ext"][tc].max()
        ohw, ohh = st * (rng.uniform(1.25, 1.7, 2) if full else rng.uniform(0.35, 0.9, 2))
        # a full occluder hides the target for ~2-8 frames, a partial one sweeps across it
        rel = 2 * (min(ohw, ohh) - st) / rng.uniform(2, 8) if full else rng.uniform(2.5, 6)
        rel = max(rel, 0.5 * unit) if full else rel * unit
        ang, off = rng.uniform(0, 2 * np.pi), 0.0 if full else rng.uniform(-0.7, 0.7) * st
        okind, oth = (1, 0.0) if full else (int(rng.integers(0, 3)), rng.uniform(-np.pi, np.pi))
        direction, perp = (
            np.array([np.cos(ang), np.sin(ang)]),
            np.array([-np.sin(ang), np.cos(ang)]),
        )
        p = xy[tc] + off * perp + (t - tc)[:, None] * (vel[tc] + rel * direction)
        span = min(int(np.ceil(1.6 * (max(ohw, ohh) + st) / rel)) + 2, max(10, n // 4))
        active = (t >= max(1, tc - span)) & (t <= tc + span)
        geom = _geom(p[:, 0], p[:, 1], ohw, ohh, oth)
        out.append(_Layer(_shape(rng, okind), _tex_key(rng), geom, active))
    return out


def _camera_light(sc: _Scene) -> tuple[np.ndarray, np.ndarray]:
    """Frame-to-canvas maps (N, 2, 3) of a slowly panning, zooming camera; gain/bias (N, 2, 3)."""
    rng, t, w, h, dd = sc.rng, sc.t, sc.w, sc.h, sc.dd
    k, cw, ch = 0.3 + 0.7 * dd, round(1.6 * w), round(1.6 * h)
    z = 1 + 0.1 * k * _eval(_wave(rng, 2, 100, 400), t)
    pan = [c / 2 + 0.17 * s * k * _eval(_wave(rng, 2, 150, 600), t) for c, s in ((cw, w), (ch, h))]
    cam = np.zeros((sc.n, 2, 3))
    cam[:, 0, 0] = cam[:, 1, 1] = 1 / z
    cam[:, 0, 2], cam[:, 1, 2] = pan[0] - w / (2 * z), pan[1] - h / (2 * z)
    tint = np.stack([_eval(_wave(rng, 2, 80, 300), t) for _ in range(3)], 1)
    gain = np.exp(0.25 * dd * _eval(_wave(rng, 2, 50, 300), t)[:, None] + 0.06 * dd * tint)
    bias = np.repeat(25 * dd * _eval(_wave(rng, 2, 50, 300), t)[:, None], 3, 1)
    return cam, np.stack([gain, bias], 1)


def _build(seed: int, index: int, n: int, w: int, h: int, d: float) -> SyntheticRenderer:
    """Draw every parameter of one sequence from ``(seed, index)``."""
    sc = _Scene(np.random.default_rng([seed, index, 7]), n, w, h, d)
    target, info = _target(sc)
    distractors = _distractors(sc, target.tex, info)
    layers = [*distractors, target, *_occluders(sc, info)]
    cam, lut = _camera_light(sc)
    canvas, clutter = (round(1.6 * w), round(1.6 * h)), round(0.6 + 0.6 * sc.dd, 3)
    return SyntheticRenderer(
        seed=seed,
        index=index,
        size=(w, h),
        canvas=canvas,
        clutter=clutter,
        camera=cam,
        lut=lut,
        layers=layers,
        target=len(distractors),
        cache_key=("synthetic", seed, index, n, w, h, d),
    )


def _annotate(layers: list[_Layer], target: int, w: int, h: int) -> dict[str, np.ndarray]:
    """Boxes (N, 4), polygons (N, 8), flags and visible ratio (N,) of the target layer."""
    tl = layers[target]
    n = len(tl.geom)
    v = _outlines(tl.shape, tl.geom)
    lo, hi = v.min(1), v.max(1)
    oov = (lo < 0).any(1) | (hi[:, 0] > w) | (hi[:, 1] > h)
    occs = [(lyr, _outlines(lyr.shape, lyr.geom)) for lyr in layers[target + 1 :]]
    hits = [lyr.active & (ov.min(1) < hi).all(1) & (ov.max(1) > lo).all(1) for lyr, ov in occs]
    ratio, occluded = np.ones(n), np.zeros(n, bool)
    for i in np.flatnonzero(oov | np.any(hits, 0)) if hits else np.flatnonzero(oov):
        o = np.floor(lo[i]).astype(int) - 1
        sz = np.ceil(hi[i]).astype(int) + 2 - o
        m = np.zeros((sz[1], sz[0]), np.uint8)
        cv2.fillPoly(m, [_fixed(v[i]) - 16 * o], 1, cv2.LINE_8, 4)
        full = max(int(np.count_nonzero(m)), 1)
        sx = slice(max(0, -o[0]), max(0, min(sz[0], w - o[0])))
        sy = slice(max(0, -o[1]), max(0, min(sz[1], h - o[1])))
        before = np.count_nonzero(m[sy, sx])
        for (_, ov), hit in zip(occs, hits):
            if hit[i]:
                cv2.fillPoly(m, [_fixed(ov[i]) - 16 * o], 0, cv2.LINE_8, 4)
        vis = np.count_nonzero(m[sy, sx])
        ratio[i], occluded[i] = vis / full, vis < before
    absent = ratio <= 0
    lo, hi = np.clip(lo, 0, (w, h)), np.clip(hi, 0, (w, h))
    boxes = np.concatenate([lo, hi - lo], 1)
    polygons = _outlines(_CORNERS, tl.geom).reshape(n, 8)
    boxes[absent], polygons[absent] = np.nan, np.nan
    return {
        "boxes": boxes,
        "polygons": polygons,
        "absent": absent,
        "occluded": occluded,
        "out_of_view": oov,
        "visible_ratio": ratio,
    }


def make_sequence(
    seed: int,
    index: int,
    *,
    length: int = 100,
    width: int = 320,
    height: int = 240,
    difficulty: float = 1.0,
) -> Sequence:
    """Synthetic sequence ``index`` of ``seed``: frames (height, width, 3), boxes (length, 4)."""
    if seed < 0 or index < 0:
        raise ValueError(f"synthetic: seed and index must be >= 0, got seed={seed}, index={index}")
    if length < 1 or width < 32 or height < 32 or difficulty < 0:
        raise ValueError(
            f"synthetic: need length >= 1, width and height >= 32, difficulty >= 0; got "
            f"length={length}, width={width}, height={height}, difficulty={difficulty}"
        )
    seed, index, length, width, height = int(seed), int(index), int(length), int(width), int(height)
    renderer = _build(seed, index, length, width, height, float(difficulty))
    ann = _annotate(renderer.layers, renderer.target, width, height)
    meta: dict[str, Any] = {
        "width": width,
        "height": height,
        "seed": seed,
        "index": index,
        "difficulty": float(difficulty),
        "has_masks": True,
        "visible_ratio": ann.pop("visible_ratio"),
    }
    frames = [f"synthetic://s{seed}/{index:05d}/{i:06d}" for i in range(length)]
    return Sequence(f"synth_s{seed}_{index:05d}", frames, meta=meta, renderer=renderer, **ann)


def load(
    root: Any = None,
    split: str | None = None,
    *,
    seed: int = 0,
    num_sequences: int = 32,
    length: int = 100,
    width: int = 320,
    height: int = 240,
    difficulty: float = 1.0,
) -> SequenceIndex:
    """``num_sequences`` synthetic sequences of ``seed`` (``root`` is ignored); see module doc."""
    if split not in _SPLITS:
        raise ValueError(f"synthetic: unknown split {split!r}; expected train, val or test")
    first = _SPLITS[split]
    seqs = [
        make_sequence(
            seed, first + k, length=length, width=width, height=height, difficulty=difficulty
        )
        for k in range(num_sequences)
    ]
    return SequenceIndex(seqs, name="synthetic")
