"""Masks through the pair pipeline: the sample contract, rng draws, alignment, bad mask files."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from siamlightning.data import open_dataset
from siamlightning.data.core.sequences import Sequence, SequenceIndex
from siamlightning.data.pairs import augment
from siamlightning.data.pairs.dataset import CropJitter, PairDataset
from siamlightning.data.pairs.sampling import PairSampler

X = 255
MASK_KEYS = {"search_mask", "has_mask"}


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return float((a & b).sum() / max((a | b).sum(), 1))


def _mask_box(mask: np.ndarray) -> np.ndarray:
    """x, y, w, h of the nonzero pixels of (H, W) (continuous: pixel i covers [i, i + 1))."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()], float)


def _pairs(sources, **kw) -> PairDataset:
    return PairDataset(
        sources=sources,
        sampler=PairSampler(frame_range=10, neg_prob=kw.pop("neg_prob", 0.3)),
        search_size=X,
        template_jitter=CropJitter(4, 0.05),
        search_jitter=CropJitter(64, 0.18),
        gray_prob=0.25,
        augment_z=augment.Photometric(color="pca"),
        augment_x=augment.Photometric(color="pca", blur_prob=0.2),
        **kw,
    )


@pytest.fixture(scope="module")
def mixed() -> list[SequenceIndex]:
    """Synthetic sequences with masks, and the same sequences declared mask-less."""
    with_masks = open_dataset("synthetic", None, seed=5, num_sequences=3, length=24)
    no_masks = SequenceIndex(
        [dataclasses.replace(s, meta={**s.meta, "has_masks": False}) for s in with_masks],
        name="plain",
    )
    return [with_masks, no_masks]


def test_masks_add_two_keys_and_take_no_rng_draw(mixed):
    """Same key, same pair, boxes and pixels with or without masks; has_mask only for positive
    pairs of a source with masks; the mask box is the target box; default collate works."""
    plain, masked = _pairs(mixed), _pairs(mixed, masks=True)
    samples, seen = [], set()
    for i in range(32):
        a, b = plain[(0, 0, i)], masked[(0, 0, i)]
        assert set(b) - set(a) == MASK_KEYS and not MASK_KEYS & set(a)
        for k, v in a.items():
            assert k == "skip_note" or torch.equal(v, b[k]), k
        m, has = b["search_mask"], b["has_mask"]
        assert m.shape == (1, X, X) and m.dtype == torch.uint8 and int(m.max()) <= 1
        assert has.dtype == torch.bool and has.shape == ()
        expect = not bool(b["negative"]) and int(b["source"]) == 0
        assert bool(has) == expect
        seen.add((bool(b["negative"]), int(b["source"])))
        if expect:
            # inside the target box, up to the renderer's 1.5 frame px (its masks are the drawn
            # pixels, boundary pixels included), and covering much of it (occluders cut it)
            x0, y0, w, h = b["search_box"].numpy()
            tol = 1.5 * w / masked.pairs.box(*masked.spec((0, 0, i)).x)[2] + 0.5
            mx0, my0, mw, mh = _mask_box(m[0].numpy())
            assert mx0 > x0 - tol and my0 > y0 - tol
            assert mx0 + mw < x0 + w + tol and my0 + mh < y0 + h + tol
            assert int(m.sum()) > 0.3 * w * h
        else:
            assert int(m.sum()) == 0
        samples.append(b)
    assert {(False, 0), (False, 1), (True, 0)} <= seen  # every case was drawn
    batch = default_collate(samples[:8])
    assert batch["search_mask"].shape == (8, 1, X, X) and batch["has_mask"].shape == (8,)
    assert batch["has_mask"].dtype == torch.bool


BG, FG = (30, 40, 60), (220, 190, 70)  # flat background, coloured rectangle (RGB)


class _Rectangle:
    """Frames (120, 160, 3): a coloured rectangle moving over a flat background; its mask."""

    def __init__(self, n: int) -> None:
        self.rects = [(20 + 7 * i, 30 + 5 * i, 36 + i, 28) for i in range(n)]  # x, y, w, h

    def frame(self, i: int) -> np.ndarray:
        img = np.empty((120, 160, 3), np.uint8)
        img[:] = BG
        img[self.mask(i)] = FG
        return img

    def mask(self, i: int) -> np.ndarray:
        x, y, w, h = self.rects[i]
        m = np.zeros((120, 160), bool)
        m[y : y + h, x : x + w] = True
        return m


def test_image_and_mask_stay_aligned_through_the_pipeline():
    """With crop jitter, gray and colour noise on, the search mask is the coloured region of the
    search crop and its box is ``search_box``. (Blur is image-only, as SiamMask's, so it is off.)"""
    r = _Rectangle(8)
    boxes = np.array(r.rects, float)
    seq = Sequence("rect", [f"r{i}" for i in range(8)], boxes, meta={"has_masks": True}, renderer=r)
    ds = PairDataset(
        sources=[SequenceIndex([seq], name="rect")],
        sampler=PairSampler(frame_range=8),
        search_size=X,
        search_jitter=CropJitter(64, 0.18),
        gray_prob=0.5,
        augment_z=augment.Photometric(color="pca"),
        augment_x=augment.Photometric(color="pca"),
        masks=True,
    )
    ious, grays, masks = [], 0, []
    kernel = np.ones((5, 5), np.uint8)
    for i in range(24):
        s = ds[(0, 0, i)]
        x = s["search"].numpy().astype(float)
        grays += bool(np.std(x[0] - x[1]) < 3)  # colour noise shifts gray channels uniformly
        mask = s["search_mask"][0].numpy()
        # the two colours after gray / colour noise, read away from the edges; the coloured
        # region is where the image is nearer the rectangle's colour
        level = x.sum(axis=0)
        fg = np.median(level[cv2.erode(mask, kernel) > 0])
        bg = np.median(level[cv2.dilate(mask, kernel) == 0])
        coloured = level > (fg + bg) / 2
        ious.append(_iou(coloured, mask))
        np.testing.assert_allclose(_mask_box(mask), s["search_box"].numpy(), atol=1.0)
        masks.append(mask)
    # measured: min 0.984 (a whole edge row at bilinear weight 0.502), mean 0.9993; 10 of 24 gray
    assert min(ious) > 0.98 and 6 < grays < 18
    assert bool(s["has_mask"]) and not bool(s["negative"])
    # the check can fail: a mask 3 px off, or another sample's, does not match
    assert _iou(np.roll(masks[-1], 3, axis=1), masks[-1]) < 0.95
    assert _iou(masks[0], masks[1]) < 0.9


@pytest.fixture
def bad_masks(tmp_path: Path) -> SequenceIndex:
    """8 frames with binary mask PNGs: frame 1's is deleted, frame 2 has none, frame 3's is
    corrupt, frame 4's has another size."""
    r = _Rectangle(8)
    frames, masks = [], []
    for i in range(8):
        frames.append(str(tmp_path / f"{i:05d}.png"))
        masks.append(str(tmp_path / f"{i:05d}.m.png"))
        cv2.imwrite(frames[-1], r.frame(i)[..., ::-1])
        cv2.imwrite(masks[-1], r.mask(i).astype(np.uint8) * 255)
    Path(masks[1]).unlink()
    masks[2] = ""
    Path(masks[3]).write_bytes(b"\x89PNG not really")
    cv2.imwrite(masks[4], np.zeros((60, 80), np.uint8))
    seq = Sequence("bad", frames, np.array(r.rects, float), masks=masks)
    return SequenceIndex([seq], name="bad")


def test_an_unusable_mask_is_a_counted_skip_naming_the_file(bad_masks, caplog):
    caplog.set_level(logging.WARNING, logger="siamlightning")
    plain = PairDataset(sources=[bad_masks], sampler=PairSampler(frame_range=5))
    masked = PairDataset(sources=[bad_masks], sampler=PairSampler(frame_range=5), masks=True)
    notes, skipped = set(), 0
    for i in range(40):
        assert int(plain[(0, 0, i)]["skipped"]) == 0  # the images are fine
        s = masked[(0, 0, i)]
        skipped += int(s["skipped"])
        notes.add(s["skip_note"])
        assert bool(s["has_mask"]) and int(s["search_mask"].sum()) > 0  # a good frame's
        assert s["search_mask"].shape == (1, 239, 239)
    assert skipped == masked.skip_count > 0
    text = " ".join(notes)
    assert "00001.m.png: mask file does not exist" in text
    assert "sequence 'bad' has masks but frame 2 has none" in text
    assert "00003.m.png: mask file cannot be decoded" in text
    assert "00004.m.png: sequence 'bad' frame 4: mask is 80x60 px, the frame 160x120" in text
