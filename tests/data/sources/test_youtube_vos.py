"""YouTube-VOS reader and the palette-PNG helpers: exact boxes, sparse ids, per-object masks."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from siamlightning.data import open_dataset
from siamlightning.data.core.masks import read_object_mask, read_palette_png
from siamlightning.data.pairs.dataset import PairDataset
from siamlightning.data.pairs.sampling import PairSampler
from siamlightning.data.sources._palette import label_stats, scan_pngs
from siamlightning.data.sources.youtube_vos import load
from siamlightning.errors import DataError

H, W = 24, 32
_JPEG = cv2.imencode(".jpg", np.full((H, W, 3), 90, np.uint8))[1].tobytes()
_PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [7] * (252 * 3)


def encode_png(labels: np.ndarray, palette: list[int], bits: int = 8) -> bytes:
    """A palette PNG written by hand (no Pillow): IHDR colour type 3, filter 0 rows."""
    h, w = labels.shape
    rows = labels.astype(np.uint8)
    if bits < 8:
        per = 8 // bits
        padded = np.zeros((h, -(-w // per) * per), np.uint8)
        padded[:, :w] = rows
        groups = padded.reshape(h, -1, per)
        rows = np.zeros(groups.shape[:2], np.uint8)
        for k in range(per):
            rows |= groups[..., k] << (8 - bits * (k + 1))
    raw = b"".join(b"\x00" + r.tobytes() for r in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, bits, 3, 0, 0, 0)
    plte = bytes(palette[: 3 * (1 << bits)])
    return b"\x89PNG\r\n\x1a\n" + b"".join(
        [chunk(b"IHDR", ihdr), chunk(b"PLTE", plte), chunk(b"IDAT", zlib.compress(raw)),
         chunk(b"IEND", b"")]
    )  # fmt: skip


def write_png(path: Path, labels: np.ndarray) -> None:
    """A palette PNG as the datasets ship them (Pillow, mode P)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette(_PALETTE)
    im.save(path)


def labels_of(objects: dict[int, tuple[int, int, int, int]]) -> np.ndarray:
    """Id image (H, W) with object id filling rows r0..r1, cols c0..c1 (inclusive)."""
    a = np.zeros((H, W), np.uint8)
    for oid, (r0, r1, c0, c1) in objects.items():
        a[r0 : r1 + 1, c0 : c1 + 1] = oid
    return a


# video -> frame -> objects in its PNG; object 2 of vid_a is listed at 10 but has no pixels there
_A = {
    5: {1: (2, 5, 3, 9), 2: (10, 12, 20, 30)},
    10: {1: (3, 6, 4, 10)},
    15: {1: (2, 5, 3, 9), 2: (1, 1, 0, 0)},
}
_B = {0: {3: (0, 23, 0, 31)}, 5: {3: (4, 4, 6, 6)}}  # fmt: skip
_META = {
    "videos": {
        "vid_a": {"objects": {
            "1": {"category": "person", "frames": ["00015", "00005", "00010"]},
            "2": {"category": "dog", "frames": ["00005", "00010", "00015"]},
        }},
        "vid_b": {"objects": {"3": {"category": "cat", "frames": ["00000", "00005", "00010"]}}},
    }
}  # fmt: skip


@pytest.fixture
def ytvos(tmp_path: Path) -> Path:
    """A 2-video YouTube-VOS year folder; vid_b's listed frame 00010 has a JPEG but no PNG."""
    root = tmp_path / "2018"
    for vid, frames, last in (("vid_a", _A, 15), ("vid_b", _B, 10)):
        for f, objs in frames.items():
            write_png(root / "train" / "Annotations" / vid / f"{f:05d}.png", labels_of(objs))
        for f in range(min(frames), last + 1):
            for sub, step in (("train", 5), ("train_all_frames", 1)):
                d = root / sub / "JPEGImages" / vid
                d.mkdir(parents=True, exist_ok=True)
                if f % step == 0:
                    (d / f"{f:05d}.jpg").write_bytes(_JPEG)
    (root / "train" / "meta.json").write_text(json.dumps(_META))
    return root


def test_palette_png_decodes_indices_not_colours(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for bits in (8, 4, 2):
        labels = rng.integers(0, 1 << bits, (9, 13)).astype(np.uint8)
        p = tmp_path / f"p{bits}.png"
        p.write_bytes(encode_png(labels, _PALETTE, bits))
        np.testing.assert_array_equal(read_palette_png(p), labels)
        assert read_object_mask(p, 2).sum() == (labels == 2).sum()
        assert read_object_mask(p, None).sum() == (labels > 0).sum()
    colour = cv2.imread(str(tmp_path / "p8.png"), cv2.IMREAD_UNCHANGED)
    assert colour.shape == (9, 13, 3)  # why OpenCV cannot be used: it expands the palette
    binary = np.where(labels_of({1: (2, 4, 5, 8)}) > 0, 255, 0).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "gray.png"), binary)  # DAVIS 2016 style 0/255 grayscale
    np.testing.assert_array_equal(read_palette_png(tmp_path / "gray.png"), binary)
    cv2.imwrite(str(tmp_path / "rgb.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match=r"rgb\.png: expected a palette"):
        read_palette_png(tmp_path / "rgb.png")
    (tmp_path / "bad.png").write_bytes(encode_png(labels, _PALETTE)[:60])
    with pytest.raises(DataError, match=r"bad\.png: cannot decode annotation PNG"):
        read_palette_png(tmp_path / "bad.png")
    with pytest.raises(DataError, match=r"nope\.png: annotation PNG does not exist"):
        read_palette_png(tmp_path / "nope.png")


def _oracle(labels: np.ndarray, oid: int) -> list[float]:
    r, c = np.nonzero(labels == oid)
    return [c.min(), r.min(), c.max() - c.min() + 1, r.max() - r.min() + 1]


def test_label_stats_matches_per_object_oracle(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    for trial in range(20):
        labels = np.zeros((30, 40), np.uint8)
        for oid in rng.choice(np.arange(1, 256), int(rng.integers(0, 5)), replace=False):
            r, c = rng.integers(0, 30), rng.integers(0, 40)
            labels[r : r + rng.integers(1, 9), c : c + rng.integers(1, 12)] = oid
        s = label_stats(labels)
        ids = np.unique(labels[labels > 0])
        assert s.ids.tolist() == ids.tolist() and s.shape == (30, 40)
        for k, oid in enumerate(ids):
            assert s.boxes[k].tolist() == _oracle(labels, oid), trial
            assert s.counts[k] == (labels == oid).sum()
        merged = label_stats(labels, merge=True)
        if ids.size:
            assert merged.boxes[0].tolist() == _oracle((labels > 0).astype(np.uint8), 1)
            assert merged.counts[0] == (labels > 0).sum()
        box, n = s.lookup(256 if not ids.size else 0)
        assert n == 0 and np.isnan(box).all()
    paths = []
    for k in range(6):
        paths.append(tmp_path / f"{k}.png")
        write_png(paths[-1], labels_of({1 + k % 3: (k, k + 3, 2 * k, 2 * k + 5)}))
    serial, threaded = scan_pngs(paths, workers=0), scan_pngs(paths, workers=3)
    assert [s.boxes.tolist() for s in serial] == [s.boxes.tolist() for s in threaded]
    assert serial[4].ids.tolist() == [2] and serial[4].boxes[0].tolist() == [8, 4, 6, 4]


def test_train_split_boxes_absent_frames_and_masks(ytvos: Path) -> None:
    with pytest.warns(UserWarning, match=r"1 annotation PNG\(s\) listed .*vid_b/00010.png"):
        index = open_dataset("youtube_vos", ytvos)
    assert index.names == ["vid_a-1", "vid_a-2", "vid_b-3"] and index.name == "youtube_vos"
    a1, a2, b3 = index
    assert a1.meta["frame_ids"].tolist() == [5, 10, 15]  # sorted numerically, not from 0
    assert [Path(f).name for f in a1.frames] == ["00005.jpg", "00010.jpg", "00015.jpg"]
    assert a1.boxes.tolist() == [[3, 2, 7, 4], [4, 3, 7, 4], [3, 2, 7, 4]]
    assert a2.boxes[0].tolist() == [20, 10, 11, 3] and a2.boxes[2].tolist() == [0, 1, 1, 1]
    assert np.isnan(a2.boxes[1]).all() and a2.absent.tolist() == [False, True, False]
    assert a2.meta["pixels"].tolist() == [33, 0, 1]
    assert b3.meta["frame_ids"].tolist() == [0, 5] and b3.boxes.tolist() == [
        [0, 0, 32, 24],
        [6, 4, 1, 1],
    ]
    assert (a2.meta["category"], a2.meta["video"], a2.meta["object_id"]) == ("dog", "vid_a", 2)
    assert (a2.meta["width"], a2.meta["height"], a2.meta["mask_id"]) == (32, 24, 2)
    assert a2.masks[0] == a1.masks[0]  # one PNG for both objects ...
    assert read_object_mask(a2.masks[0], a2.meta["mask_id"]).sum() == 33  # ... read per object
    assert read_object_mask(a1.masks[0], a1.meta["mask_id"]).sum() == 28
    assert a1.read_mask(0).sum() == 28 and a2.read_mask(0).sum() == 33  # Sequence.read_mask too


def test_all_frames_and_valid_first_frame_only(ytvos: Path) -> None:
    with pytest.warns(UserWarning):
        index = load(ytvos, all_frames=True, workers=2)
    a1, a2, b3 = index
    assert len(a1) == 11 and a1.meta["frame_ids"].tolist() == list(range(5, 16))
    assert "train_all_frames" in a1.frames[1] and a1.masks[1] == ""
    annotated = np.isfinite(a1.boxes).all(axis=1)
    assert np.flatnonzero(annotated).tolist() == [0, 5, 10]
    assert a1.boxes[5].tolist() == [4, 3, 7, 4] and np.flatnonzero(a2.visible).tolist() == [0, 10]
    assert len(b3) == 11 and np.flatnonzero(b3.visible).tolist() == [0, 5]
    valid = ytvos / "valid"
    valid.mkdir()
    (valid / "JPEGImages").symlink_to(ytvos / "train" / "JPEGImages")
    write_png(valid / "Annotations" / "vid_a" / "00005.png", labels_of(_A[5]))
    write_png(valid / "Annotations" / "vid_a" / "00010.png", labels_of({3: (0, 1, 0, 1)}))
    meta = {"videos": {"vid_a": {"objects": {
        "1": {"frames": ["00005", "00010"]}, "3": {"frames": ["00010", "00015"]}}}}}  # fmt: skip
    (valid / "meta.json").write_text(json.dumps(meta))
    v1, v3 = load(ytvos, "valid")
    assert v1.meta["first_frame_only"] and v1.meta["category"] is None
    assert len(v1) == 3 and v1.boxes[0].tolist() == [3, 2, 7, 4] and np.isnan(v1.boxes[1:]).all()
    assert len(v3) == 2 and v3.boxes[0].tolist() == [0, 0, 2, 2] and v3.masks[1] == ""


def test_bad_input_names_the_file(ytvos: Path) -> None:
    with pytest.raises(DataError, match=r"vid_b/00010.png: annotation PNG listed in"):
        load(ytvos, strict=True)
    assert load(ytvos, videos=["vid_a"]).names == ["vid_a-1", "vid_a-2"]
    with pytest.raises(DataError, match=r"no video\(s\) \['zzz'\]"):
        load(ytvos, videos=["zzz"])
    jpg = ytvos / "train" / "JPEGImages" / "vid_a" / "00010.jpg"
    jpg.unlink()
    with pytest.raises(DataError, match=r"vid_a/00010.png: annotation without its frame: .*00010"):
        load(ytvos, videos=["vid_a"])
    jpg.write_bytes(_JPEG)
    png = ytvos / "train" / "Annotations" / "vid_a" / "00015.png"
    png.write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"vid_a/00015.png: cannot decode annotation PNG"):
        load(ytvos, videos=["vid_a"])
    meta = ytvos / "train" / "meta.json"
    meta.write_text('{"videos": {\n  "vid_a": {"objects": {"1": {"frames": [}}}}')
    with pytest.raises(DataError, match=r"meta\.json:2: invalid JSON"):
        load(ytvos)
    (ytvos / "train" / "Annotations").rename(ytvos / "train" / "Annot")
    with pytest.raises(DataError, match="train/Annotations: folder does not exist"):
        load(ytvos)
    with pytest.raises(DataError, match="not a YouTube-VOS year folder"):
        load(ytvos.parent)
    with pytest.raises(ValueError, match="no split 'val'"):
        load(ytvos, "val")


def test_pair_dataset_draws_a_pair(ytvos: Path) -> None:
    with pytest.warns(UserWarning):
        index = load(ytvos)
    ds = PairDataset(sources=[index], sampler=PairSampler(frame_range=3), masks=True)
    for k in range(6):
        sample = ds[(0, 0, k)]
        assert sample["template"].shape == (3, 127, 127) and sample["search"].dtype == torch.uint8
        assert torch.isfinite(sample["search_box"]).all() and int(sample["skipped"]) == 0
        # the object's palette id only, warped with the search crop: its box is the search box
        assert bool(sample["has_mask"])
        ys, xs = np.nonzero(sample["search_mask"][0].numpy())
        got = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
        np.testing.assert_allclose(got, sample["search_box"].numpy(), atol=0.6)
