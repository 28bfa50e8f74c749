"""Partial JPEG decoding: only the MCU rows and columns that a crop needs from a crop-cache file.

`build_crop_cache` writes baseline JPEGs with a restart marker after every MCU; `decode_region`
cuts such a file down to the MCUs covering a box and decodes those alone.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from siamlightning.errors import FrameReadError


def _restart_layout(raw: bytes) -> tuple[int, int, int, int, int, int] | None:
    """(SOF offset, scan start, width, height, MCU width, MCU height) of a baseline JPEG with a
    restart marker after every MCU and one interleaved scan; None for any other JPEG."""
    if raw[:2] != b"\xff\xd8":
        return None
    p, sof, dri = 2, None, 0
    while p + 4 <= len(raw):
        if raw[p] != 0xFF:
            return None
        m, ln = raw[p + 1], int.from_bytes(raw[p + 2 : p + 4], "big")
        if m in (0xC0, 0xC1):
            nc = raw[p + 9]
            hs = [raw[p + 11 + 3 * i] >> 4 for i in range(nc)]
            vs = [raw[p + 11 + 3 * i] & 15 for i in range(nc)]
            mw, mh = (8, 8) if nc == 1 else (8 * max(hs), 8 * max(vs))
            h, w = (
                int.from_bytes(raw[p + 5 : p + 7], "big"),
                int.from_bytes(raw[p + 7 : p + 9], "big"),
            )
            sof = (p, w, h, mw, mh, nc)
        elif 0xC2 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            return None  # progressive, lossless or arithmetic coding
        elif m == 0xDD:
            dri = int.from_bytes(raw[p + 4 : p + 6], "big")
        elif m == 0xDA:
            if sof is None or dri != 1 or raw[p + 4] != sof[5]:
                return None
            return sof[0], p + 2 + ln, sof[1], sof[2], sof[3], sof[4]
        p += 2 + ln
    return None


def _decode(buf: bytes | np.ndarray, path: str | Path) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_COLOR_RGB)
    if img is None or img.size == 0:
        raise FrameReadError("cannot be decoded as an image (corrupt or truncated?)", path=path)
    return img


def decode_region(path: str | Path, box: tuple[int, int, int, int]) -> tuple[np.ndarray, int, int]:
    """Decode at least pixels ``box`` = (x0, y0, x1, y1) of an image file: (H', W', 3) RGB uint8
    and the (x, y) of its top-left pixel in the image.

    A JPEG with a restart marker after every MCU (what `build_crop_cache` writes) is cut down to
    the MCU rows and columns covering ``box`` (markers renumbered, SOF size patched) and only
    those are decoded; their pixels equal a full decode's except within 2 px of the cut (chroma
    upsampling). Any other file is decoded whole (origin 0, 0).
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise FrameReadError(f"cannot read crop file ({exc.strerror})", path=path) from None
    lay = _restart_layout(raw)
    if lay is None or raw[-2:] != b"\xff\xd9":
        return _decode(raw, path), 0, 0
    sof, start, w, h, mw, mh = lay
    cols, rows = -(-w // mw), -(-h // mh)
    x0, y0 = min(max(int(box[0]), 0), w - 1), min(max(int(box[1]), 0), h - 1)
    x1, y1 = max(min(int(box[2]), w), x0 + 1), max(min(int(box[3]), h), y0 + 1)
    c0, r0, c1, r1 = x0 // mw, y0 // mh, -(-x1 // mw), -(-y1 // mh)
    if (c1 - c0) * (r1 - r0) == cols * rows:
        return _decode(raw, path), 0, 0
    scan = np.frombuffer(raw, np.uint8, offset=start)
    marks = np.flatnonzero((scan[:-1] == 0xFF) & ((scan[1:] & 0xF8) == 0xD0))
    if len(marks) != cols * rows - 1:
        return _decode(raw, path), 0, 0
    ends = np.append(marks, len(scan) - 2) + start
    starts = np.concatenate([[0], marks + 2]) + start
    head = bytearray(raw[:start])
    nh, nw = min(r1 * mh, h) - r0 * mh, min(c1 * mw, w) - c0 * mw
    head[sof + 5 : sof + 9] = nh.to_bytes(2, "big") + nw.to_bytes(2, "big")
    body = b"\xff\xd0".join(
        raw[starts[r * cols + c0] : ends[r * cols + c1 - 1]] for r in range(r0, r1)
    )
    out = np.frombuffer(bytes(head) + body + b"\xff\xd9", np.uint8).copy()
    new = np.flatnonzero((out[start:-1] == 0xFF) & ((out[start + 1 :] & 0xF8) == 0xD0))
    out[start + new + 1] = 0xD0 + (np.arange(len(new)) % 8)
    return _decode(out, path), c0 * mw, r0 * mh
