"""SiamMask refine ("sharp") training geometry: neck crop rules, 143 px shapes, derived window
padding, gathered rows vs the unfold-all path, window centres on the anchor centres, memory."""

import pytest
import torch

from siamlightning.models.backbones.resnet_atrous import ResNet50Atrous
from siamlightning.models.heads.mask import MaskCorr, Refine, window_padding
from siamlightning.models.heads.rpn import DepthwiseRPN
from siamlightning.models.necks import AdjustAllLayer, AdjustLayer
from siamlightning.models.siammask import SiamMaskNet

WINDOW_FLOATS = 64 * 61 * 61 + 256 * 31 * 31 + 512 * 15 * 15  # p0 + p1 + p2 per position
WINDOWS = [(61, 4), (31, 2), (15, 1)]


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _maps(sides, s, b=1, seed=0):
    """Random (p0, p1, p2) of the given sides and a correlation map (B, 256, s, s)."""
    feats = [
        _rand(b, c, n, n, seed=seed + i) for i, (c, n) in enumerate(zip((64, 256, 512), sides))
    ]
    return feats, _rand(b, 256, s, s, seed=seed + 9) - 0.5


SHARP = (69, 35, 17)  # 143 search, SiamMask neck: S = 3, padding 0


def _padded(s):  # the 255 geometry (padding 16 / 8 / 4) for any S (S = 25 at 255)
    return (4 * s + 25, 2 * s + 13, s + 6)


@pytest.fixture(scope="module")
def refine():
    torch.manual_seed(0)
    return Refine().eval()


def _net(crop_margin=4):
    """SiamMaskNet with a shallow (1, 1, 1, 1) ResNet-50: the same strides and receptive
    geometry as pysot's siammask_r50_l3, cheap enough for a test."""
    torch.manual_seed(0)
    return SiamMaskNet(
        backbone=ResNet50Atrous(used_layers=(0, 1, 2, 3), depths=(1, 1, 1, 1)),
        neck=AdjustAllLayer(in_channels=(1024,), out_channels=(256,), crop_margin=crop_margin),
        head=DepthwiseRPN(in_channels=256, out_channels=256),
        mask_head=MaskCorr(),
        refine_head=Refine(),
    ).eval()


@pytest.fixture(scope="module")
def net():
    return _net()


def test_neck_crop_rules():
    pysot = AdjustLayer(in_channels=4, out_channels=4).eval()
    sm = AdjustLayer(in_channels=4, out_channels=4, crop_margin=4).eval()
    sm.load_state_dict(pysot.state_dict())
    with torch.no_grad():
        for side, want_pysot, want_sm in [(15, 7, 7), (17, 7, 9), (31, 31, 31), (19, 7, 11)]:
            x = _rand(2, 4, side, side)
            full = pysot.downsample(x)
            a, b = pysot(x), sm(x)
            assert a.shape[-1] == want_pysot and b.shape[-1] == want_sm, side
            lo = (side - 7) // 2 if side < 20 else 0
            assert torch.equal(a, full[:, :, lo : lo + a.shape[-1], lo : lo + a.shape[-1]])
            m = 4 if side < 20 else 0
            assert torch.equal(b, full[:, :, m : m + b.shape[-1], m : m + b.shape[-1]])
            if side == 15:  # the template: both rules keep the same 7 x 7
                assert torch.equal(a, b)
    with pytest.raises(ValueError, match="crop_margin must be >= 0"):
        AdjustLayer(in_channels=4, out_channels=4, crop_margin=-1)


def test_window_padding():
    assert window_padding(255, 25, 127, 8) == 32  # base-stage label unfold
    assert window_padding(143, 3, 127, 8) == 0  # sharp-stage label unfold
    assert [
        window_padding(n, 25, w, st) for n, w, st in [(125, 61, 4), (63, 31, 2), (31, 15, 1)]
    ] == [16, 8, 4]
    assert [
        window_padding(n, 3, w, st) for n, w, st in [(69, 61, 4), (35, 31, 2), (17, 15, 1)]
    ] == [0, 0, 0]
    assert window_padding(17, 1, 15, 1) == -1  # pysot's neck at 143: windows inside the map
    with pytest.raises(ValueError, match="odd 1 cells"):
        window_padding(16, 3, 15, 1)


@pytest.mark.parametrize(
    ("size", "crop_margin", "sides", "neck", "search_corr", "score"),
    [
        (143, 4, (69, 35, 17, 17), 9, 7, 3),  # SiamMask sharp (spec §1.3 geometry check)
        (143, None, (69, 35, 17, 17), 7, 5, 1),  # pysot's centre-7 rule
        (255, 4, (125, 63, 31, 31), 31, 29, 25),  # no crop at 255 (either rule: 31 >= 20)
    ],
)
def test_search_shapes(net, size, crop_margin, sides, neck, search_corr, score):
    net.neck.downsample.crop_margin = crop_margin
    b = 2 if score == 3 else 1
    with torch.no_grad():
        kernels = net.template(_rand(1, 3, 127, 127) * 255)
        assert kernels[1].shape == (1, 256, 5, 5)  # 15 -> neck 7 -> conv 5, both rules
        x = _rand(b, 3, size, size, seed=1) * 255
        maps = net.backbone(x)
        assert [m.shape[-1] for m in maps] == list(sides)
        x_f = net.neck(maps[-1])
        assert x_f.shape == (b, 256, neck, neck)
        assert net.mask_head.conv_search(x_f).shape[-1] == search_corr
        out = net(kernels, x)
        assert out.cls.shape == (b, 10, score, score) and out.loc.shape == (b, 20, score, score)
        assert out.corr.shape == (b, 256, score, score)
        assert out.mask.shape == (b, 63 * 63, score, score)
        if score > 1:
            rows = torch.tensor([0, (b - 1) * score * score + score + 1])
            assert net.mask_rows(out, rows).shape == (2, 1, 127, 127)
            base = net.mask_rows(out, rows, refine=False)
            assert base.shape == (2, 1, 63, 63)
            assert torch.equal(base[1].flatten(), out.mask[b - 1, :, 1, 1])
            assert torch.equal(base[0].flatten(), out.mask[0, :, 0, 0])
    net.neck.downsample.crop_margin = 4


@pytest.mark.parametrize(
    ("sides", "s", "b", "pad"),
    [
        (SHARP, 3, 1, 0),  # 143, SiamMask neck: unpadded (exact SiamMask sharp training)
        (_padded(2), 2, 2, 4),  # the 255 geometry (padding 16 / 8 / 4) on a small map
        (SHARP, 1, 1, -1),  # 143 with pysot's neck (1x1): the windows lie inside the maps
    ],
)
def test_rows_equal_unfold_every_position(refine, sides, s, b, pad):
    """Gathered rows == the same rows of the unfold-all path (143 unpadded; 255-padded)."""
    feats, corr = _maps(sides, s, b=b, seed=3)
    rows = torch.tensor([b * s * s - 1, 0, (b - 1) * s * s + s + 1, s - 1, 0]) % (b * s * s)
    with torch.no_grad():
        every = refine(feats, corr)
        got = refine.rows(feats, corr, rows)
    assert every.shape == (b * s * s, 1, 127, 127) and got.shape == (5, 1, 127, 127)
    torch.testing.assert_close(got, every[rows], rtol=0, atol=1e-6)
    assert got.abs().max() > 1e-3
    # the windows themselves equal the unfolded ones exactly
    windows, vec = refine.gather(feats, corr, rows)
    maps, pads = refine.geometry(feats, corr)
    assert pads == [(4 * pad, 4 * pad), (2 * pad, 2 * pad), (pad, pad)]
    for f, p, w, (win, st) in zip(maps, pads, windows, WINDOWS):
        torch.testing.assert_close(w, refine._unfold(f, p, win, st)[rows], rtol=0, atol=0)
        assert w.is_contiguous()
    assert torch.equal(vec.flatten(1), corr.permute(0, 2, 3, 1).reshape(-1, 256)[rows])
    cells = torch.stack([rows // (s * s), rows % (s * s) // s, rows % s], dim=1)  # (N, 3)
    by_cell, vec_cell = refine.gather(feats, corr, cells)
    assert all(torch.equal(a, c) for a, c in zip(windows, by_cell)) and torch.equal(vec, vec_cell)
    with torch.no_grad():  # and the tracking path at one position
        one = refine([f[-1:] for f in feats], corr[-1:], (s - 1, s - 1))
    torch.testing.assert_close(got[0:1], one, rtol=0, atol=1e-6)


def test_rows_at_255_equal_the_tracking_path(refine):
    """Full 255 geometry (S = 25, padding 16 / 8 / 4): rows == `forward(pos)` at those cells."""
    feats, corr = _maps(_padded(25), 25, b=2, seed=5)
    cells = [(1, 0, 0), (0, 24, 24), (1, 0, 24), (0, 12, 3)]
    rows = torch.tensor([b * 625 + y * 25 + x for b, y, x in cells])
    with torch.no_grad():
        got = refine.rows(feats, corr, rows)
        for i, (b, y, x) in enumerate(cells):
            one = refine([f[b : b + 1] for f in feats], corr[b : b + 1], (y, x))
            torch.testing.assert_close(got[i : i + 1], one, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("sides", "s"), [(SHARP, 3), (_padded(3), 3)])
def test_gather_backward_equals_unfold(refine, sides, s):
    """The gather's gradient w.r.t. the maps (scatter-add into the map, zero for padding) equals
    that of unfold-all-then-select; the decoder after it is the same code either way."""
    feats, corr = _maps(sides, s, b=2, seed=7)
    rows = torch.tensor([1, 4, 2 * s * s - 1, 4])
    grads = []
    for gathered in (True, False):
        fs = [f.clone().requires_grad_() for f in feats]
        c = corr.clone().requires_grad_()
        if gathered:
            windows, vec = refine.gather(fs, c, rows)
        else:
            maps, pads = refine.geometry(fs, c)
            windows = [refine._unfold(f, p, *w)[rows] for f, p, w in zip(maps, pads, WINDOWS)]
            vec = c.permute(0, 2, 3, 1).reshape(-1, 256, 1, 1)[rows]
        loss = sum((w * _rand(*w.shape, seed=i)).sum() for i, w in enumerate([*windows, vec]))
        loss.backward()
        grads.append([t.grad for t in (*fs, c)])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    assert all(g.abs().sum() > 0 for g in grads[0])


@pytest.mark.parametrize(("size", "s", "cells"), [(143, 3, [(0, 2), (1, 1)]), (255, 25, [(0, 24)])])
def test_window_of_cell_k_is_centred_on_its_anchor(net, size, s, cells):
    """A one-pixel marker at image (8k + c) (c = 63 at 143, 31 at 255: the anchor centres) lands
    at the centre of cell k's gathered windows: p0 index 30 of 61, p1 15 of 31, p2 7 of 15."""
    c = size // 2 - 8 * (s // 2)
    assert c == {143: 63, 255: 31}[size]
    corr = torch.zeros(1, 256, s, s)
    blank = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        ref = net.backbone(blank)[:3]
        for y, x in cells:
            marked = blank.clone()
            marked[:, :, 8 * y + c, 8 * x + c] = 255.0
            row = torch.tensor([y * s + x])
            got, _ = net.refine_head.gather(net.backbone(marked)[:3], corr, row)
            want, _ = net.refine_head.gather(ref, corr, row)
            diffs = [(a - b).abs().sum(dim=(0, 1)) for a, b in zip(got, want)]
            for d, centre in zip(diffs, (30, 15, 7)):
                ys, xs = torch.nonzero(d > 0, as_tuple=True)
                assert len(ys), (y, x)
                assert (ys.min() + ys.max()) / 2 == centre and (xs.min() + xs.max()) / 2 == centre
            ys, xs = torch.nonzero(diffs[0] > 0, as_tuple=True)
            assert (ys.min(), ys.max(), xs.min(), xs.max()) == (29, 31, 29, 31)


def test_forward_without_mask_head(net):
    kernels = net.template(_rand(1, 3, 127, 127) * 255)
    x = _rand(2, 3, 143, 143, seed=2) * 255
    with torch.no_grad():
        full = net(kernels, x)
    net.train()
    try:
        stats = net.mask_head.head[1].running_mean.clone()
        lean = net(kernels, x, with_mask_head=False)
        assert torch.equal(net.mask_head.head[1].running_mean, stats)  # head BN untouched
    finally:
        net.eval()
    assert lean.mask is None
    assert lean.corr.shape == full.corr.shape == (2, 256, 3, 3)
    # without the head's logits, the head runs where asked: the same logits as the full head's
    # (both again in eval mode: the train-mode forward above moved the backbone's BN statistics)
    with torch.no_grad():
        full = net(kernels, x)
        lean = net(kernels, x, with_mask_head=False)
        rows = net.mask_rows(lean, torch.tensor([0, 17, 4]), refine=False)
        box_only = SiamMaskNet(backbone=net.backbone, head=net.rpn_head, mask_head=net.mask_head)
        at, every = box_only.mask(lean, (1, 2)), box_only.mask(lean)
    close = {"rtol": 1e-4, "atol": 1e-3}  # a GEMM against a 1x1 conv; logits up to ~1e3 here
    want = net.mask_rows(full, torch.tensor([0, 17, 4]), refine=False)
    torch.testing.assert_close(rows, want, **close)
    torch.testing.assert_close(at, box_only.mask(full, (1, 2)), **close)
    torch.testing.assert_close(every, box_only.mask(full), **close)
    assert at.shape == (2, 1, 63, 63) and every.shape == (18, 1, 63, 63)
    with pytest.raises(ValueError, match="without refine_head"):
        box_only.mask_rows(full, torch.tensor([0]), refine=True)
    with pytest.raises(ValueError, match=r"mask rows must lie in \[0, 18\).*max 18"):
        net.mask_rows(lean, torch.tensor([0, 18]))
    with pytest.raises(
        ValueError, match=r"cells \(b, y, x\) must lie in 2x3x3, got \[\[0, 0, 3\]\]"
    ):
        net.mask_rows(lean, torch.tensor([[0, 0, 3]]))
    cells = torch.tensor([[1, 2, 0], [0, 1, 1]])
    assert torch.equal(
        net.mask_rows(full, cells, refine=False),
        net.mask_rows(full, torch.tensor([15, 4]), refine=False),
    )


def test_refine_rows_memory_is_bounded_by_positions(refine):
    """Activation bytes saved for backward by a refine training forward (weights excluded): the
    same per gathered position at 143 (unpadded, S = 3) and at 255 (S = 25), ~4.2 MB fp32 of
    which 2.4 MB are the windows (module docstring), so independent of the score map."""

    def saved_bytes(sides, s, rows):
        feats, corr = _maps(sides, s, seed=1)
        seen: dict[int, int] = {}

        def pack(t):
            if not (t.is_leaf and t.requires_grad):  # parameters exist anyway
                seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            windows, vec = refine.gather(feats, corr, rows)
            out = refine.decode(windows, vec)
        assert sum(w.numel() for w in windows) == len(rows) * WINDOW_FLOATS
        assert out.requires_grad
        return sum(seen.values())

    small = saved_bytes(SHARP, 3, torch.tensor([0, 4]))
    big = saved_bytes(_padded(25), 25, torch.tensor([0, 312]))
    assert WINDOW_FLOATS * 4 == 2_397_440
    assert 4.0e6 < small / 2 < 4.5e6  # 4_216_400 with torch 2.13
    assert abs(big - small) < 0.01 * small  # the 255 maps are neither copied nor unfolded


def test_no_positive_rows_still_reach_every_refine_parameter(refine):
    """N = 0 (no mask sample on this device): an empty (0, 1, 127, 127) output that still
    gives every Refine parameter a (zero) gradient, as DDP's reducer expects."""
    feats, corr = _maps(SHARP, 3, b=2, seed=2)
    refine.zero_grad(set_to_none=True)
    out = refine.rows(feats, corr.requires_grad_(), torch.zeros(0, dtype=torch.long))
    assert out.shape == (0, 1, 127, 127)
    (out.sum() * 0).backward()
    assert all(p.grad is not None and not p.grad.any() for p in refine.parameters())
    refine.zero_grad(set_to_none=True)
