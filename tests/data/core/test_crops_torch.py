"""crops_torch against the cv2 crops it replaces: real frames, padding, batches, large frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from siamlightning.data.core.crops import crop_square, pysot_subwindow
from siamlightning.data.core.crops_torch import (
    crop_square_torch,
    frame_means,
    pysot_subwindow_torch,
)

# measured (bench_device_crop.py, OpenCV 5.1, AVX2): 2e-6 of warp values differ, by 1; pysot: 0
WARP_MAX_DIFF = 1.0
WARP_DIFF_RATE = 1e-4


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def _real_frames(root: Path) -> list[np.ndarray]:
    out = []
    for seq in ("Crossing", "Girl", "bag"):
        files = sorted((root / seq / "img").glob("*.jpg"))
        for f in files[:: max(len(files) // 3, 1)][:3]:
            out.append(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB))
    return out


def _random_crops(rng: np.random.Generator, h: int, w: int, n: int) -> list[tuple]:
    """(centre, size, out) from tiny (upsampling) to huge (downsampling), some far outside."""
    crops = []
    for _ in range(n):
        size = float(np.exp(rng.uniform(np.log(4), np.log(4 * max(h, w)))))
        c = (rng.uniform(-size, w + size), rng.uniform(-size, h + size))
        crops.append((c, size, int(rng.choice([127, 255]))))
    return crops


def test_crop_square_matches_cv2_on_real_frames(real_data: Path) -> None:
    rng = np.random.default_rng(0)
    diffs = []
    for img in _real_frames(real_data):
        h, w = img.shape[:2]
        for c, size, out in _random_crops(rng, h, w, 4):
            pad = tuple(rng.uniform(0, 255, 3))
            ref = crop_square(img, c, size, out, pad).astype(np.float32)
            got = _hwc(crop_square_torch([torch.from_numpy(img)], [c], [size], out, [pad])[0])
            diffs.append(np.abs(ref - got).ravel())
    d = np.concatenate(diffs)
    assert d.max() <= WARP_MAX_DIFF
    assert (d > 0).mean() <= WARP_DIFF_RATE


def test_pysot_subwindow_is_bit_exact_on_real_frames(real_data: Path) -> None:
    rng = np.random.default_rng(1)
    for img in _real_frames(real_data):
        h, w = img.shape[:2]
        crops = [*_random_crops(rng, h, w, 3), ((w / 2, h / 2), 254.0, 127), ((5.0, 7.0), 255, 255)]
        for c, size, out in crops:
            pad = tuple(rng.uniform(0, 255, 3))
            ref = pysot_subwindow(img, c, round(size), out, pad)
            got = pysot_subwindow_torch([torch.from_numpy(img)], [c], [round(size)], out, [pad])
            np.testing.assert_array_equal(_hwc(got[0]), ref)


def test_padding_outside_the_image() -> None:
    img = np.full((20, 30, 3), 200, np.uint8)
    pad = (10.4, 20.5, 21.5)  # cv2 rounds half to even: 10, 20, 22
    far = crop_square_torch([torch.from_numpy(img)], [(-500.0, 900.0)], [40.0], 16, [pad])
    assert far.shape == (1, 3, 16, 16)
    np.testing.assert_array_equal(far[0, :, 0, 0].numpy(), [10, 20, 22])
    assert bool((far[0] == far[0, :, :1, :1]).all())
    # a crop whose left half lies outside: outside columns are pad, inside ones the image
    half = crop_square_torch([torch.from_numpy(img)], [(0.5, 10.0)], [20.0], 20, [pad])[0]
    np.testing.assert_array_equal(half[:, 10, :9].T.numpy(), np.tile([10, 20, 22], (9, 1)))
    np.testing.assert_array_equal(half[:, 10, 10:].numpy(), 200)
    np.testing.assert_array_equal(half[:, 10, 9].numpy(), [105, 110, 111])  # half pad, half image
    ref = crop_square(img, (0.5, 10.0), 20.0, 20, pad)
    np.testing.assert_array_equal(_hwc(half), ref)
    # pysot truncates its padding colour
    ps = pysot_subwindow_torch(
        [torch.from_numpy(img)], [(-100.0, -100.0)], [9], 9, [(3.9, 4.5, 5.99)]
    )
    np.testing.assert_array_equal(ps[0, :, 0, 0].numpy(), [3, 4, 5])


def test_default_padding_is_the_frame_mean() -> None:
    img = np.zeros((10, 10, 3), np.uint8)
    img[:5] = (200, 100, 51)
    m = frame_means([torch.from_numpy(img)])[0].numpy()
    np.testing.assert_allclose(m, cv2.mean(img)[:3])
    got = crop_square_torch([torch.from_numpy(img)], [(0.0, 0.0)], [10.0], 10)
    np.testing.assert_array_equal(_hwc(got[0]), crop_square(img, (0.0, 0.0), 10.0, 10))


def test_batch_of_different_frame_sizes_equals_one_by_one() -> None:
    rng = np.random.default_rng(2)
    imgs = [
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(48, 64), (90, 30), (17, 200)]
    ]
    centers = [(30.5, 20.25), (-3.0, 45.0), (150.0, 8.0)]
    sizes, pads = [25.0, 61.3, 300.0], [(1.0, 2.0, 3.0), (50.0, 60.0, 70.0), (255.0, 0.0, 128.0)]
    batch = crop_square_torch([torch.from_numpy(i) for i in imgs], centers, sizes, 31, pads)
    pys = pysot_subwindow_torch(
        [torch.from_numpy(i) for i in imgs], centers, [25, 61, 300], 31, pads
    )
    for k, img in enumerate(imgs):
        one = crop_square_torch([torch.from_numpy(img)], [centers[k]], [sizes[k]], 31, [pads[k]])
        torch.testing.assert_close(batch[k], one[0], rtol=0, atol=0)
        ref = crop_square(img, centers[k], sizes[k], 31, pads[k]).astype(np.float32)
        assert np.abs(_hwc(batch[k]) - ref).max() <= WARP_MAX_DIFF
        ps = pysot_subwindow(img, centers[k], [25, 61, 300][k], 31, pads[k])
        np.testing.assert_array_equal(_hwc(pys[k]), ps)
    # a (B, H, W, 3) tensor gives what its list of frames gives
    stack = torch.from_numpy(np.stack([imgs[0]] * 3))
    as_list = crop_square_torch(list(stack), centers, sizes, 31, pads)
    torch.testing.assert_close(crop_square_torch(stack, centers, sizes, 31, pads), as_list)


def test_float64_centres_keep_large_frames_exact() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (160, 4000, 3), dtype=np.uint8)
    center, size, pad = (3987.3312345678, 80.4567891234), 127.3, (0.0, 0.0, 0.0)
    ref = crop_square(img, center, size, 127, pad).astype(np.float32)
    t = torch.from_numpy(img)
    c64 = torch.tensor([center], dtype=torch.float64)
    got = _hwc(crop_square_torch([t], c64, [size], 127, [pad])[0])
    d = np.abs(got - ref)
    assert d.max() <= WARP_MAX_DIFF and (d > 0).mean() <= WARP_DIFF_RATE
    # the same centre in float32 is 1e-4 px off: hundreds of values round the other way
    lossy = _hwc(crop_square_torch([t], c64.float(), [size], 127, [pad])[0])
    assert (np.abs(lossy - ref) > 0).sum() > 100 * max((d > 0).sum(), 1)


def test_float_frames_are_not_rounded() -> None:
    rng = np.random.default_rng(4)
    img = rng.uniform(0, 255, (40, 50, 3)).astype(np.float32)
    ref = crop_square(img, (20.3, 17.9), 23.7, 33, (1.25, 2.5, 3.75))
    got = _hwc(
        crop_square_torch([torch.from_numpy(img)], [(20.3, 17.9)], [23.7], 33, [(1.25, 2.5, 3.75)])[
            0
        ]
    )
    assert np.abs(got - ref).max() < 1e-3
    assert np.abs(got - np.round(got)).max() > 0.1  # fractional values survive


def test_bad_arguments_name_the_problem() -> None:
    img = torch.zeros(10, 10, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match="centers must have shape"):
        crop_square_torch([img], [(1.0, 2.0, 3.0)], [5.0], 8)
    with pytest.raises(ValueError, match=r"frame 0 must be \(H, W, 3\)"):
        crop_square_torch([img[..., :2]], [(1.0, 2.0)], [5.0], 8)
    with pytest.raises(ValueError, match="positive integers"):
        pysot_subwindow_torch([img], [(1.0, 2.0)], [5.5], 8, [(0.0, 0.0, 0.0)])
    with pytest.raises(ValueError, match="uint8 frames"):
        pysot_subwindow_torch([img.float()], [(1.0, 2.0)], [5], 8, [(0.0, 0.0, 0.0)])
