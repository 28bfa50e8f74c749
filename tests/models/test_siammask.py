"""SiamMask net (pysot siammask_r50_l3): MaskCorr, Refine windows and oracles, shapes, loading."""

import pytest
import torch
import torch.nn.functional as F

from siamlightning.models.heads.mask import MaskCorr, Refine
from siamlightning.models.heads.xcorr import xcorr_depthwise
from siamlightning.models.pysot_weights import build_pysot_net, load_pysot_state_dict
from siamlightning.models.siammask import SiamMaskNet


def _rand(*shape, seed=0, scale=1.0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def _maps(s, b=1, seed=0):
    """Random refine inputs for an s x s score map: p0, p1, p2 and the correlation."""
    sizes = [(64, 4 * s + 25), (256, 2 * s + 13), (512, s + 6)]
    feats = [_rand(b, c, n, n, seed=seed + i) for i, (c, n) in enumerate(sizes)]
    return feats, _rand(b, 256, s, s, seed=seed + 9) - 0.5


def _refine():
    torch.manual_seed(0)
    return Refine().eval()


def refine_naive(refine, feats, corr, y, x):
    """The obvious oracle: copy each map into a zero canvas, cut the window, run the layers."""
    windows = []
    for f, pad, win, st in zip(feats, (16, 8, 4), (61, 31, 15), (4, 2, 1)):
        b, c, h, w = f.shape
        canvas = torch.zeros(b, c, h + 2 * pad, w + 2 * pad)
        canvas[:, :, pad : pad + h, pad : pad + w] = f
        windows.append(canvas[:, :, st * y : st * y + win, st * x : st * x + win])
    p0, p1, p2 = windows
    out = refine.deconv(corr[:, :, y, x].reshape(-1, 256, 1, 1))
    out = refine.post0(F.interpolate(refine.h2(out) + refine.v2(p2), size=(31, 31)))
    out = refine.post1(F.interpolate(refine.h1(out) + refine.v1(p1), size=(61, 61)))
    return refine.post2(F.interpolate(refine.h0(out) + refine.v0(p0), size=(127, 127)))


def test_refine_at_a_position_equals_the_naive_windows():
    refine = _refine()
    feats, corr = _maps(5)
    with torch.no_grad():
        for y, x in [(0, 0), (4, 4), (1, 3), (4, 0)]:
            out = refine(feats, corr, (y, x))
            assert out.shape == (1, 1, 127, 127)
            torch.testing.assert_close(out, refine_naive(refine, feats, corr, y, x))


def test_refine_unfold_every_position_equals_per_position_slicing():
    refine = _refine()
    feats, corr = _maps(3, b=2, seed=4)
    with torch.no_grad():
        every = refine(feats, corr)  # F.unfold path
        assert every.shape == (2 * 9, 1, 127, 127)
        sliced = torch.stack(
            [refine(feats, corr, (y, x)) for b in range(2) for y in range(3) for x in range(3)]
        )  # (18, 2, 1, 127, 127): pick sample b of entry (b, y, x)
        sliced = torch.stack([sliced[i, i // 9] for i in range(18)])
    torch.testing.assert_close(every, sliced, rtol=1e-5, atol=1e-5)
    assert every.abs().max() > 1e-3  # not trivially zero


def test_refine_reads_only_its_window():
    """Position (y, x) sees p0 rows [4y - 16, 4y + 45), p1 [2y - 8, 2y + 23), p2 [y - 4, y + 11)."""
    refine = _refine()
    feats, corr = _maps(12, seed=2)
    y, x = 5, 3
    with torch.no_grad():
        base = refine(feats, corr, (y, x))
        for i, (lo, hi) in enumerate([(4 * y - 16, 4 * y + 45), (2 * y - 8, 2 * y + 23)]):
            for row, inside in [(lo - 1, False), (lo, True), (hi - 1, True), (hi, False)]:
                moved = [f.clone() for f in feats]
                moved[i][:, :, row] += 100.0
                changed = not torch.equal(refine(moved, corr, (y, x)), base)
                assert changed == inside, (i, row)
        for row, inside in [(y - 5, False), (y - 4, True), (y + 10, True), (y + 11, False)]:
            moved = [f.clone() for f in feats]
            moved[2][:, :, row] += 100.0
            assert (not torch.equal(refine(moved, corr, (y, x)), base)) == inside, (2, row)
        other = corr.clone()
        other[:, :, y, x + 1] += 1.0  # another position's correlation vector
        assert torch.equal(refine(feats, other, (y, x)), base)


def test_refine_rejects_bad_inputs():
    refine = _refine()
    feats, corr = _maps(3)
    with pytest.raises(ValueError, match=r"refine map p1 is \(20, 20\), expected \(19, 19\)"):
        refine([feats[0], _rand(1, 256, 20, 20), feats[2]], corr, (0, 0))
    with pytest.raises(ValueError, match="outside"):
        refine(feats, corr, (3, 0))
    with pytest.raises(ValueError, match="3 search maps"):
        refine(feats[:2], corr)


def test_mask_corr_returns_head_of_the_correlation():
    torch.manual_seed(0)
    head = MaskCorr(in_channels=16, hidden=16, out_channels=9).eval()
    z, x = _rand(2, 16, 7, 7), _rand(2, 16, 31, 31, seed=1)
    with torch.no_grad():
        mask, feature = head(head.template(z), x)
        ref_feature = xcorr_depthwise(head.conv_kernel(z), head.conv_search(x))
    assert mask.shape == (2, 9, 25, 25) and feature.shape == (2, 16, 25, 25)
    torch.testing.assert_close(feature, ref_feature)
    torch.testing.assert_close(mask, head.head(ref_feature))


def test_mask_corr_head_rows_equal_the_full_heads_rows_and_gradients():
    torch.manual_seed(0)
    head = MaskCorr(in_channels=16, hidden=16, out_channels=49).train()  # BN: batch statistics
    feature = _rand(3, 16, 5, 5).requires_grad_(True)
    cells = torch.tensor([[0, 2, 2], [2, 0, 4], [2, 1, 3], [0, 2, 2]])
    full = head.head(feature)[cells[:, 0], :, cells[:, 1], cells[:, 2]]
    weights = torch.randn(full.shape)
    grads = torch.autograd.grad((full * weights).sum(), [feature, *head.head.parameters()])
    rows = head.head_rows(feature, cells)
    lazy = torch.autograd.grad((rows * weights).sum(), [feature, *head.head.parameters()])
    torch.testing.assert_close(rows, full, rtol=1e-5, atol=1e-6)
    for got, want in zip(lazy, grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # no cells: an empty result still reaches every parameter (a zero gradient, for DDP)
    empty = head.head_rows(feature, cells[:0])
    assert empty.shape == (0, 49)
    zero = torch.autograd.grad(empty.sum() * 0, list(head.head.parameters()))
    assert all(g is not None and not g.any() for g in zero)


@pytest.fixture(scope="module")
def siammask() -> SiamMaskNet:
    torch.manual_seed(0)
    return build_pysot_net("siammask_r50_l3").eval()


def test_siammask_output_shapes(siammask):
    with torch.no_grad():
        kernels = siammask.template(_rand(1, 3, 127, 127, scale=255))
        out = siammask(kernels, _rand(1, 3, 255, 255, seed=1, scale=255))
        assert out.cls.shape == (1, 10, 25, 25) and out.loc.shape == (1, 20, 25, 25)
        assert out.mask.shape == (1, 63 * 63, 25, 25) and out.corr.shape == (1, 256, 25, 25)
        assert [tuple(f.shape[1:]) for f in out.features] == [
            (64, 125, 125),
            (256, 63, 63),
            (512, 31, 31),
        ]
        assert siammask.mask_size == 127
        for pos in [(0, 0), (24, 24), (3, 17)]:
            assert siammask.mask(out, pos).shape == (1, 1, 127, 127)
        # the unrefined mask is the head's 63 x 63 row at that position
        box_only = SiamMaskNet(
            backbone=siammask.backbone,
            neck=siammask.neck,
            head=siammask.rpn_head,
            mask_head=siammask.mask_head,
        )
        row = box_only.mask(out, (3, 17))
    assert box_only.mask_size == 63 and row.shape == (1, 1, 63, 63)
    assert torch.equal(row.flatten(), out.mask[0, :, 3, 17])


def _pysot_file(net, seed=1, prefix="module."):
    g = torch.Generator().manual_seed(seed)
    return {
        prefix + k: (torch.randn(v.shape, generator=g) if v.is_floating_point() else v)
        for k, v in net.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }


def test_siammask_loads_every_key_with_prefix_and_wrapper(siammask, tmp_path):
    state = _pysot_file(siammask)
    assert any(k.startswith("module.refine_head.") for k in state)
    path = tmp_path / "model.pth"
    torch.save({"epoch": 20, "state_dict": state}, path)
    net = build_pysot_net("siammask_r50_l3")
    load_pysot_state_dict(net, path, "siammask_r50_l3")
    ours = net.state_dict()
    for k in ("mask_head.head.3.weight", "refine_head.deconv.weight", "refine_head.post2.bias"):
        assert torch.equal(ours[k], state["module." + k])
    bare = {k[len("module.") :]: v for k, v in state.items()}
    load_pysot_state_dict(net, bare, "siammask_r50_l3")


def test_wrong_file_for_siammask_lists_missing_and_unexpected_keys(siammask, tmp_path):
    torch.manual_seed(0)
    r50 = build_pysot_net("siamrpn_r50_l234_dwxcorr")
    path = tmp_path / "siamrpn_r50.pth"
    torch.save(_pysot_file(r50), path)
    with pytest.raises(ValueError) as err:
        load_pysot_state_dict(build_pysot_net("siammask_r50_l3"), path, "siammask_r50_l3")
    msg = str(err.value)
    assert str(path) in msg and "'siammask_r50_l3'" in msg
    assert "88 missing keys (neck: 5, rpn_head: 34, mask_head: 17, refine_head: 32)" in msg
    assert "neck.downsample.downsample.0.weight" in msg
    assert "169 unexpected keys (backbone: 50, neck: 15, rpn_head: 104)" in msg
    assert "backbone.layer4.0.conv1.weight" in msg
    # a siammask file without its refine module is not silently accepted either
    partial = {k: v for k, v in siammask.state_dict().items() if not k.startswith("refine_head.")}
    with pytest.raises(
        ValueError, match=r"32 missing keys \(refine_head: 32\): refine_head\.v0\.0\.weight"
    ):
        load_pysot_state_dict(build_pysot_net("siammask_r50_l3"), partial, "siammask_r50_l3")
