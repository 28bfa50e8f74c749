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

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from siamlightning.data.sequences import Sequence, SequenceIndex

__all__ = ["SyntheticRenderer", "load", "make_sequence"]

_T = 64  # texture side in pixels
_SPLITS = {None: 0, "train": 0, "val": 1_000_000, "test": 2_000_000}
_GRID = (np.mgrid[0:_T, 0:_T].astype(np.float32) + 0.5) / _T - 0.5  # texture y, x in [-0.5, 0.5]
_CORNERS = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])


@dataclass(frozen=True)
class _Layer:
    """One moving shape: outline (K, 2) in [-1, 1]^2, texture key, per-frame geometry."""

    shape: np.ndarray  # (K, 2)
    tex: tuple  # key for _texture()
    geom: np.ndarray  # (N, 6): cx, cy, half width, half height, cos(theta), sin(theta)
    active: np.ndarray  # (N,) bool
    blur: np.ndarray | None = None  # (N, 2): motion-blur length (px) and angle (deg)


def _outlines(shape: np.ndarray, g: np.ndarray) -> np.ndarray:
    """(N, K, 2) image-space outlines of ``shape`` (K, 2) under geometry rows ``g`` (N, 6)."""
    lx, ly = shape[None, :, 0] * g[:, 2:3], shape[None, :, 1] * g[:, 3:4]
    x = g[:, 0:1] + g[:, 4:5] * lx - g[:, 5:6] * ly
    y = g[:, 1:2] + g[:, 5:6] * lx + g[:, 4:5] * ly
    return np.stack([x, y], axis=-1)


def _fixed(pts: np.ndarray) -> np.ndarray:
    """Outline (K, 2) to cv2.fillPoly fixed point (shift 4), sampling at pixel centres."""
    return np.round((pts - 0.5) * 16.0).astype(np.int32)


def _wave(rng: np.random.Generator, k: int, lo: float, hi: float) -> np.ndarray:
    """(3, k) random sinusoids: angular frequency, phase, weight (weights sum to 1)."""
    return np.stack(
        [2 * np.pi / rng.uniform(lo, hi, k), rng.uniform(0, 2 * np.pi, k), rng.dirichlet([1] * k)]
    )


def _eval(p: np.ndarray, t: np.ndarray, speed: float = 1.0) -> np.ndarray:
    """Evaluate a `_wave` at times ``t`` (N,) -> (N,) values in [-1, 1]."""
    return (p[2][:, None] * np.sin(p[0][:, None] * speed * t[None] + p[1][:, None])).sum(0)


def _shape(rng: np.random.Generator, kind: int) -> np.ndarray:
    """(K, 2) closed outline spanning exactly [-1, 1]^2: ellipse, rounded rectangle or polygon."""
    if kind == 0:
        a = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        return np.stack([np.cos(a), np.sin(a)], 1)
    if kind == 1:
        r, pts = rng.uniform(0.15, 0.5), []
        for q, (sx, sy) in enumerate(((1, 1), (-1, 1), (-1, -1), (1, -1))):
            a = np.linspace(q * np.pi / 2, (q + 1) * np.pi / 2, 6)
            pts.append(np.stack([sx * (1 - r) + r * np.cos(a), sy * (1 - r) + r * np.sin(a)], 1))
        return np.concatenate(pts)
    n = int(rng.integers(5, 9))
    a = 2 * np.pi * (np.arange(n) + rng.uniform(-0.3, 0.3, n)) / n
    pts = rng.uniform(0.7, 1.0, n)[:, None] * np.stack([np.cos(a), np.sin(a)], 1)
    lo, hi = pts.min(0), pts.max(0)
    return 2 * (pts - lo) / (hi - lo) - 1


def _tex_key(rng: np.random.Generator) -> tuple:
    """A random texture: (pattern, 9 palette values, frequency, angle, seed)."""
    pal = tuple(float(v) for v in rng.uniform(0, 255, 9))
    return (
        int(rng.integers(0, 4)),
        pal,
        rng.uniform(2.5, 7),
        rng.uniform(0, np.pi),
        int(rng.integers(2**31)),
    )


def _perturb(rng: np.random.Generator, key: tuple) -> tuple:
    """A look-alike of texture ``key``: same pattern, nearby colours, frequency and angle."""
    pal = tuple(float(np.clip(v + rng.normal(0, 28), 0, 255)) for v in key[1])
    return (
        key[0],
        pal,
        key[2] * rng.uniform(0.8, 1.25),
        key[3] + rng.normal(0, 0.35),
        int(rng.integers(2**31)),
    )


@lru_cache(maxsize=1024)
def _texture(key: tuple) -> np.ndarray:
    """Texture (64, 64, 3) uint8 for a `_tex_key`."""
    pattern, pal, freq, angle, seed = key
    rng = np.random.default_rng(seed)
    yy, xx = _GRID
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    if pattern == 0:  # three-colour stripes
        idx = np.floor(u * freq).astype(int) % 3
    elif pattern == 1:  # checker with a central dot
        idx = (np.floor(u * freq) + np.floor(v * freq)).astype(int) % 2
        idx[np.hypot(u, v) < 0.12] = 2
    elif pattern == 2:  # rings
        idx = np.floor(np.hypot(u, 1.4 * v) * freq * 1.5).astype(int) % 3
    else:  # blobs
        idx = np.zeros((_T, _T), int)
        for k in range(7):
            c, r = rng.uniform(-0.45, 0.45, 2), rng.uniform(0.06, 0.2)
            idx[np.hypot(xx - c[0], yy - c[1]) < r] = 1 + k % 2
    img = np.asarray(pal, np.float32).reshape(3, 3)[idx] + 40 * u[..., None]
    img += 6 * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


@lru_cache(maxsize=48)
def _canvas(seed: int, index: int, w: int, h: int, clutter: float) -> np.ndarray:
    """Cluttered background canvas (h, w, 3) uint8: multi-scale colour noise plus shapes."""
    rng = np.random.default_rng([seed, index, 11])
    base = rng.uniform(60, 190, 3)
    img = np.zeros((1, 1, 3), np.float32)
    for cell, amp in ((48, 110.0), (12, 60.0), (4, 20.0)):  # coarse-to-fine colour noise
        size = (w // cell + 2, h // cell + 2)
        img = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
        lum, chroma = rng.random((2, size[1], size[0], 3), dtype=np.float32)
        img += amp * (0.6 * lum[..., :1] + 0.4 * chroma - 0.5)  # mostly luminance
    img = np.clip(img + base.astype(np.float32), 0, 255).astype(np.uint8)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    unit = min(w, h) / 380
    for _ in range(int(clutter * w * h / 3500)):
        rgb = base + rng.normal(0, 45) + rng.normal(0, 30, 3)
        col = tuple(min(max(int(c), 0), 255) for c in rgb)
        kind, x, y = int(rng.choice(5, p=[0.32, 0.26, 0.15, 0.22, 0.05])), *rng.integers(0, (w, h))
        a, b = (int(v) for v in rng.integers(3, 36, 2) * unit + 1)
        if kind == 0:
            cv2.ellipse(img, (x, y), (a, b), float(rng.uniform(0, 180)), 0, 360, col, -1)
        elif kind == 1:
            cv2.rectangle(img, (x, y), (x + 2 * a, y + 2 * b), col, -1)
        elif kind == 2:  # a band of parallel stripes
            d = rng.normal(size=2) * 3 * a
            for k in range(int(rng.integers(3, 8))):
                p = (x + k * b // 2, y - k * a // 3)
                cv2.line(img, p, (int(p[0] + d[0]), int(p[1] + d[1])), col, int(rng.integers(1, 5)))
        elif kind == 3:
            cv2.fillPoly(img, [(_shape(rng, 2) * (a, b) + (x, y)).astype(np.int32)], col)
        else:  # a textured patch
            tex, s = _texture(_tex_key(rng)), 2 * max(a, b) / _T
            m = np.array([[s, 0, x], [0, s, y]], np.float64)
            cv2.warpAffine(tex, m, (w, h), img, cv2.INTER_LINEAR, cv2.BORDER_TRANSPARENT)
    img = cv2.GaussianBlur(img, (5, 5), 1.0)
    img.setflags(write=False)
    return img


@lru_cache(maxsize=8)
def _noise(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed sensor-noise tiles (h+64, w+64, 3) uint8: positive and negative parts."""
    n = np.random.default_rng(12345).normal(0, 2.0, (h + 64, w + 64, 3))
    return np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)


@lru_cache(maxsize=256)
def _line_kernel(length: int, angle: int) -> np.ndarray:
    """Normalised (L, L) float32 motion-blur kernel: a line of ``length`` px at ``angle`` deg."""
    k = np.zeros((length, length), np.float32)
    c, r = (length - 1) / 2, (length - 1) / 2
    dx, dy = r * np.cos(np.deg2rad(angle)), r * np.sin(np.deg2rad(angle))
    p0, p1 = (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy))
    cv2.line(k, p0, p1, 1.0, 1)
    return k / k.sum()


def _draw(img: np.ndarray, layer: _Layer, i: int) -> None:
    """Composite ``layer`` at frame ``i`` into ``img`` (H, W, 3) uint8 in place."""
    pts = _outlines(layer.shape, layer.geom[i : i + 1])[0]
    cx, cy, hw, hh, c, s = layer.geom[i]
    blur = 0 if layer.blur is None else int(layer.blur[i, 0] + 0.5)
    pad = blur + 1
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - pad, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + pad, img.shape[1])
    y1 = min(int(np.ceil(pts[:, 1].max())) + pad, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    a = np.array([[c * hw, -s * hh], [s * hw, c * hh]])
    m = np.empty((2, 3))
    m[:, :2] = a * (2 / _T)
    m[:, 2] = a.sum(1) * (1 / _T - 1) + (cx - 0.5 - x0, cy - 0.5 - y0)
    patch = cv2.warpAffine(
        _texture(layer.tex),
        m,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(alpha, [_fixed(pts) - 16 * np.array([x0, y0])], 255, cv2.LINE_8, 4)
    roi = img[y0:y1, x0:x1]
    if blur < 2:
        np.copyto(roi, patch, where=alpha[..., None] > 0)
        return
    k = _line_kernel(blur | 1, int(layer.blur[i, 1]) // 10 * 10)
    af = cv2.filter2D(alpha, cv2.CV_32F, k) * (1 / 255)
    pm = cv2.filter2D(patch.astype(np.float32) * (alpha[..., None] * (1 / 255)), -1, k)
    roi[:] = np.clip(roi * (1 - af[..., None]) + pm + 0.5, 0, 255).astype(np.uint8)


class SyntheticRenderer:
    """Draws frames (H, W, 3) uint8 and target masks (H, W) bool of one synthetic sequence."""

    def __init__(
        self,
        *,
        seed: int,
        index: int,
        size: tuple[int, int],
        canvas: tuple[int, int],
        clutter: float,
        camera: np.ndarray,
        lut: np.ndarray,
        layers: list[_Layer],
        target: int,
    ) -> None:
        self.seed, self.index, self.size = seed, index, size  # size: (W, H)
        self.canvas, self.clutter = canvas, clutter  # background canvas (W, H) and density
        self.camera = camera  # (N, 2, 3) frame -> canvas affine maps
        self.lut = lut  # (N, 2, 3) per-channel gain and bias
        self.layers, self.target = layers, target  # back to front; layers[target] is the target

    def __len__(self) -> int:
        return len(self.camera)

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as RGB uint8 (H, W, 3)."""
        w, h = self.size
        canvas = _canvas(self.seed, self.index, *self.canvas, self.clutter)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        img = cv2.warpAffine(
            canvas, self.camera[i], (w, h), flags=flags, borderMode=cv2.BORDER_REFLECT_101
        )
        for layer in self.layers:
            if layer.active[i]:
                _draw(img, layer, i)
        gain, bias = self.lut[i]
        lut = np.clip(np.arange(256.0)[:, None] * gain + bias + 0.5, 0, 255).astype(np.uint8)
        img = cv2.LUT(img, lut.reshape(256, 1, 3))
        pos, neg = _noise(w, h)
        oy, ox = (i * 37 + self.index * 11) % 64, (i * 23 + self.index * 7) % 64
        cv2.add(img, pos[oy : oy + h, ox : ox + w], dst=img)
        cv2.subtract(img, neg[oy : oy + h, ox : ox + w], dst=img)
        return img

    def mask(self, i: int) -> np.ndarray:
        """Visible target pixels of frame ``i`` as bool (H, W): occluders removed."""
        w, h = self.size
        m = np.zeros((h, w), np.uint8)
        for k, layer in enumerate(self.layers[self.target :]):
            if layer.active[i]:
                pts = _fixed(_outlines(layer.shape, layer.geom[i : i + 1])[0])
                cv2.fillPoly(m, [pts], 0 if k else 1, cv2.LINE_8, 4)
        return m.astype(bool)


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
    **kw: Any,
) -> SequenceIndex:
    """``num_sequences`` synthetic sequences of ``seed`` (``root`` is ignored); see module doc."""
    if kw:
        warnings.warn(f"synthetic: ignoring unknown option(s) {sorted(kw)}", stacklevel=2)
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
