"""Rendering half of the synthetic source: textures, background, noise and `SyntheticRenderer`.

Parameters come from `siamlightning.data.sources.synthetic`, which documents the conventions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from siamlightning.data.core.frame_cache import FrameCache

__all__ = ["SyntheticRenderer"]

_T = 64  # texture side in pixels
_GRID = (np.mgrid[0:_T, 0:_T].astype(np.float32) + 0.5) / _T - 0.5  # texture y, x in [-0.5, 0.5]


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


# A sequence's background canvas is most of a frame's cost (~13 of ~17 ms at 320 x 240, with its
# textures), and training pairs visit the sequences at random: every canvas is kept, per
# process, up to this bound (256 training sequences of 320 x 240: 512 x 384 canvases, 151 MB;
# an LRU of 48 missed on nearly every pair, the loader ran at 0.14 s per batch of 8, now 0.05 s)
_CANVAS_BYTES = 256 << 20
_CANVASES = FrameCache(max_bytes=_CANVAS_BYTES)


def _canvas(seed: int, index: int, w: int, h: int, clutter: float) -> np.ndarray:
    """Cluttered background canvas (h, w, 3) uint8, read-only: `_draw_canvas`, kept in
    `_CANVASES` while room is left."""
    key = (seed, index, w, h, clutter)
    return _CANVASES.get(key, lambda: _draw_canvas(seed, index, w, h, clutter))


def _draw_canvas(seed: int, index: int, w: int, h: int, clutter: float) -> np.ndarray:
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
        cache_key: tuple | None = None,
    ) -> None:
        self.seed, self.index, self.size = seed, index, size  # size: (W, H)
        # what determines every frame (`data.core.frame_cache`); None: frames are not cached
        self.cache_key = cache_key
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
