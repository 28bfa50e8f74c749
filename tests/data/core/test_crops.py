import numpy as np
import pytest

from siamlightning.data.core.crops import (
    box_to_crop,
    context_size,
    crop_affine,
    crop_square,
    warp_crop,
)


def test_context_size_matches_siamfc_formula():
    w, h = 40.0, 20.0
    p = 0.5 * (w + h)
    assert context_size(w, h) == pytest.approx(np.sqrt((w + p) * (h + p)))


def test_identity_crop_reproduces_pixels():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (50, 60, 3), dtype=np.uint8)
    # a 20 px crop centred on the centre of pixels 10..29 with output 20 px is a plain slice
    out = crop_square(img, (20.0, 25.0), 20.0, 20)
    np.testing.assert_array_equal(out, img[15:35, 10:30])


def test_outside_pixels_are_padded_with_mean():
    img = np.full((10, 10, 3), 100, np.uint8)
    img[:5] = 200
    out = crop_square(img, (0.0, 0.0), 10.0, 10)
    mean = img.reshape(-1, 3).mean(0)
    np.testing.assert_allclose(out[0, 0], mean, atol=1)


def test_box_maps_into_crop_coordinates():
    m = crop_affine((100.0, 50.0), 40.0, 80)
    box = np.array([90.0, 40.0, 20.0, 20.0])  # centred on the crop centre, half the crop side
    np.testing.assert_allclose(box_to_crop(box, m), [20.0, 20.0, 40.0, 40.0])


def test_box_and_pixels_agree_under_jitter():
    img = np.zeros((200, 200, 3), np.uint8)
    img[60:100, 70:130] = 255  # box x=70 y=60 w=60 h=40
    m = crop_affine((100.0, 80.0), (90.0, 70.0), 64, shift=(7.0, -5.0))
    out = warp_crop(img, m, 64, pad=(0, 0, 0))
    ys, xs = np.nonzero(out[..., 0] > 127)
    b = box_to_crop(np.array([70.0, 60.0, 60.0, 40.0]), m)
    assert xs.min() == pytest.approx(b[0], abs=1)
    assert xs.max() + 1 == pytest.approx(b[0] + b[2], abs=1)
    assert ys.min() == pytest.approx(b[1], abs=1)
    assert ys.max() + 1 == pytest.approx(b[1] + b[3], abs=1)
