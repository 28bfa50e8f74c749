"""The synthetic video generator: determinism, random access, annotations that agree."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from siamlightning.data import open_dataset
from siamlightning.data.sources import synthetic
from siamlightning.data.sources.synthetic import load, make_sequence
from siamlightning.errors import ConfigError


def _assert_same(a, b, frames=(0, 7, 19)) -> None:
    assert a.name == b.name and a.frames == b.frames
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.polygons, b.polygons)
    for flag in ("absent", "occluded", "out_of_view"):
        np.testing.assert_array_equal(getattr(a, flag), getattr(b, flag))
    for i in frames:
        np.testing.assert_array_equal(a.read_frame(i), b.read_frame(i))
        np.testing.assert_array_equal(a.read_mask(i), b.read_mask(i))


def test_same_seed_and_index_give_the_same_sequence_whatever_the_index_size():
    a = make_sequence(0, 3, length=20)
    _assert_same(a, make_sequence(0, 3, length=20))
    _assert_same(a, load(num_sequences=4, length=20)[3])
    _assert_same(a, open_dataset("synthetic", None, num_sequences=9, length=20)["synth_s0_00003"])


def test_different_seeds_and_indices_differ():
    a, b, c = (
        make_sequence(0, 3, length=10),
        make_sequence(1, 3, length=10),
        make_sequence(0, 4, length=10),
    )
    assert b.name == "synth_s1_00003"
    for other in (b, c):
        assert not np.allclose(a.boxes[0], other.boxes[0])
        assert np.abs(a.read_frame(0).astype(int) - other.read_frame(0)).mean() > 10


def test_pickle_round_trip_renders_the_same_frames():
    s = make_sequence(2, 5, length=30)
    s2 = pickle.loads(pickle.dumps(s))
    for i in (0, 29):
        np.testing.assert_array_equal(s2.read_frame(i), s.read_frame(i))
        np.testing.assert_array_equal(s2.read_mask(i), s.read_mask(i))
    np.testing.assert_array_equal(s2.boxes, s.boxes)


def test_random_access_needs_no_earlier_frames():
    synthetic._CANVASES.clear()
    first = make_sequence(4, 1, length=40).read_frame(33)
    s = make_sequence(4, 1, length=40)
    for i in range(0, 33, 4):
        s.read_frame(i)
    np.testing.assert_array_equal(s.read_frame(33), first)
    with pytest.raises(IndexError):
        s.read_frame(40)


def test_types_shapes_names_and_meta():
    s = make_sequence(0, 12, length=15, width=160, height=120)
    assert s.name == "synth_s0_00012" and len(s) == 15
    assert s.frames[3] == "synthetic://s0/00012/000003"
    img, mask = s.read_frame(3), s.read_mask(3)
    assert img.shape == (120, 160, 3) and img.dtype == np.uint8
    assert mask.shape == (120, 160) and mask.dtype == bool
    assert s.boxes.shape == (15, 4) and s.boxes.dtype == np.float64
    assert s.polygons.shape == (15, 8)
    assert s.has_masks and s.masks is None
    m = s.meta
    assert (m["width"], m["height"], m["seed"], m["index"]) == (160, 120, 0, 12)
    assert m["visible_ratio"].shape == (15,)


def test_splits_do_not_share_sequences_and_options_are_checked():
    train, val = load(num_sequences=3, length=5), load(split="val", num_sequences=3, length=5)
    assert not set(train.names) & set(val.names)
    assert val.names[0] == "synth_s0_1000000"
    with pytest.raises(ValueError, match="split"):
        load(split="nope", num_sequences=1)
    with pytest.raises(ConfigError, match="unknown option 'colour'"):
        open_dataset("synthetic", None, num_sequences=1, length=3, colour="red")
    with pytest.raises(ValueError):
        make_sequence(-1, 0)


def test_flags_agree_with_boxes_and_visible_ratio():
    seqs = [make_sequence(7, k, length=60) for k in range(24)]
    assert any(s.absent.any() for s in seqs) and any(s.occluded.any() for s in seqs)
    for s in seqs:
        ratio, w, h = s.meta["visible_ratio"], s.meta["width"], s.meta["height"]
        np.testing.assert_array_equal(s.absent, np.isnan(s.boxes).any(axis=1))
        np.testing.assert_array_equal(s.absent, ratio == 0)
        assert ((ratio >= 0) & (ratio <= 1)).all()
        assert (s.occluded | s.out_of_view)[ratio < 1].all()
        assert not (s.absent[0] or s.occluded[0] or s.out_of_view[0])  # the init frame is clean
        b = s.boxes[~s.absent]
        assert (
            (b[:, :2] >= 0).all()
            and (b[:, 0] + b[:, 2] <= w).all()
            and (b[:, 1] + b[:, 3] <= h).all()
        )
        # the axis-aligned box lies within the bounds of the rotated rectangle
        p = s.polygons[~s.absent].reshape(-1, 4, 2)
        assert (b[:, :2] >= np.clip(p.min(1), 0, None) - 1e-6).all()


def test_masks_agree_with_boxes_and_flags():
    s = next(
        s
        for k in range(60)
        if (s := make_sequence(3, k, length=60)).absent.any() and s.occluded.any()
    )
    for i in range(len(s)):
        m = s.read_mask(i)
        assert m.any() == (not s.absent[i])
        if s.absent[i] or s.occluded[i] or s.out_of_view[i]:
            continue
        ys, xs = np.nonzero(m)
        x, y, w, h = s.boxes[i]
        got = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        np.testing.assert_allclose(got, [x, y, x + w, y + h], atol=1.5)


def test_difficulty_zero_is_clean():
    for k in range(6):
        s = make_sequence(0, k, length=40, difficulty=0.0)
        assert not (s.absent.any() or s.occluded.any() or s.out_of_view.any())
        assert len(s.renderer.layers) == 1  # no distractor, no occluder


def test_targets_move_and_change_scale():
    seqs = load(num_sequences=8, length=100)
    travel = []
    for s in seqs:
        b = s.boxes
        c = b[:, :2] + b[:, 2:] / 2
        assert np.nanmean(np.linalg.norm(np.diff(c, axis=0), axis=1)) > 1.0  # px per frame
        travel.append(np.nanmax(c[:, 0]) - np.nanmin(c[:, 0]))
        size = np.sqrt(b[:, 2] * b[:, 3])
        assert np.nanmax(size) / np.nanmin(size) > 1.05
    assert np.median(travel) > 0.3 * 320  # the target crosses much of the frame


def test_each_sequences_canvas_is_drawn_once_per_process_within_the_bound(monkeypatch):
    from siamlightning.data.core.frame_cache import FrameCache
    from siamlightning.data.sources import _synthetic_render as render

    drawn = []
    draw = render._draw_canvas
    monkeypatch.setattr(render, "_draw_canvas", lambda *a: drawn.append(a) or draw(*a))
    monkeypatch.setattr(render, "_CANVASES", FrameCache(max_bytes=render._CANVAS_BYTES))
    frames = [make_sequence(7, k, length=10).read_frame(k) for k in (0, 1, 0, 1)]
    assert len(drawn) == 2 and len(render._CANVASES) == 2
    np.testing.assert_array_equal(frames[0], frames[2])
    # past the bound a canvas is drawn again each time, the same pixels
    monkeypatch.setattr(render, "_CANVASES", FrameCache(max_bytes=1))
    again = make_sequence(7, 1, length=10).read_frame(1)
    assert len(drawn) == 3 and len(render._CANVASES) == 0
    np.testing.assert_array_equal(again, frames[1])
