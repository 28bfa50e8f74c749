"""pysot backbones, neck, RPN heads and SiamRPNNet: sizes, layer details, fusion, autocast."""

import pytest
import torch
import torch.nn.functional as F

from siamlightning.models.backbones import (
    MobileNetV2,
    PysotAlexNet,
    PysotAlexNetLegacy,
    ResNet50Atrous,
)
from siamlightning.models.backbones.pysot_alexnet import legacy_to_layers_key
from siamlightning.models.heads.rpn import DepthwiseRPN, DepthwiseXCorr, MultiRPN, UPChannelRPN
from siamlightning.models.necks import AdjustAllLayer, AdjustLayer
from siamlightning.models.pysot_weights import build_pysot_net
from siamlightning.models.siamrpn import SiamRPNNet


def _rand(*shape, seed=0, scale=1.0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def xcorr_depthwise_slow(kernel, x):
    """The obvious oracle: one conv2d per sample and channel."""
    return torch.stack(
        [
            torch.cat(
                [
                    F.conv2d(x[b, c][None, None], kernel[b, c][None, None])
                    for c in range(x.shape[1])
                ],
                1,
            )[0]
            for b in range(x.shape[0])
        ]
    )


def xcorr_up_slow(kernel, x):
    """Per-sample full xcorr with K outputs: kernel (B, K*C, h, w), x (B, C, H, W)."""
    c = x.shape[1]
    return torch.cat(
        [
            F.conv2d(x[b : b + 1], kernel[b].reshape(-1, c, *kernel.shape[-2:]))
            for b in range(len(x))
        ]
    )


@pytest.mark.parametrize("cls", [PysotAlexNetLegacy, PysotAlexNet])
def test_pysot_alexnet_sizes(cls):
    net = cls().eval()
    with torch.no_grad():
        for size, out in [(127, 6), (255, 22), (287, 26)]:
            assert net(_rand(1, 3, size, size, scale=255)).shape == (1, 256, out, out)


def test_alexnet_layout_pool_before_relu_and_split_keys():
    legacy = PysotAlexNetLegacy()
    kinds = [type(m).__name__ for m in legacy.features]
    assert kinds[:8] == ["Conv2d", "BatchNorm2d", "MaxPool2d", "ReLU"] * 2
    assert kinds[-2:] == ["Conv2d", "BatchNorm2d"]  # last conv: BN, no ReLU
    assert [legacy.features[i].out_channels for i in (0, 4, 8, 11, 14)] == [96, 256, 384, 384, 256]
    split = PysotAlexNet()
    mapped = [legacy_to_layers_key(k) for k in legacy.state_dict()]
    assert mapped == list(split.state_dict())
    assert legacy_to_layers_key("features.15.running_var") == "layer5.1.running_var"


def test_resnet50_atrous_layers_and_sizes():
    net = ResNet50Atrous(used_layers=(0, 1, 2, 3, 4)).eval()
    assert net.conv1.padding == (0, 0) and net.maxpool.padding == 1
    b2 = net.layer2[0]
    assert (b2.conv2.stride, b2.conv2.padding) == ((2, 2), (0, 0))
    ds = b2.downsample[0]
    assert (ds.kernel_size, ds.stride, ds.padding) == ((3, 3), (2, 2), (0, 0))
    assert net.layer3[0].conv2.dilation == (1, 1) and net.layer3[1].conv2.dilation == (2, 2)
    assert net.layer3[0].downsample[0].dilation == (1, 1)
    assert net.layer4[0].conv2.dilation == (2, 2) and net.layer4[1].conv2.dilation == (4, 4)
    assert net.layer4[0].downsample[0].dilation == (2, 2)
    assert net.out_channels == [64, 256, 512, 1024, 2048]
    with torch.no_grad():
        shapes = [tuple(f.shape[1:]) for f in net(_rand(1, 3, 127, 127, scale=255))]
    assert shapes == [(64, 61, 61), (256, 31, 31), (512, 15, 15), (1024, 15, 15), (2048, 15, 15)]
    # one full-size 255 forward, stopping before the expensive layer4
    small = ResNet50Atrous(used_layers=(0, 1, 2, 3)).eval()
    with torch.no_grad():
        sizes = [f.shape[-1] for f in small(_rand(1, 3, 255, 255, scale=255))]
    assert sizes == [125, 63, 31, 31]


def test_resnet50_atrous_width_scales_channels_not_sizes_and_feeds_a_narrow_refine():
    """width=0.25, one block per stage: ResNet-50's map sizes (the refine windows) with a quarter
    of its channels; a Refine built for those channels decodes them."""
    from siamlightning.models.heads.mask import Refine

    net = ResNet50Atrous(used_layers=(0, 1, 2, 3), depths=(1, 1, 1, 1), width=0.25).eval()
    assert net.out_channels == [16, 64, 128, 256] and len(net.layer2) == 1
    with torch.no_grad():
        maps = net(_rand(1, 3, 255, 255, scale=255))
    assert [tuple(f.shape[1:]) for f in maps] == [
        (16, 125, 125),
        (64, 63, 63),
        (128, 31, 31),
        (256, 31, 31),
    ]
    refine = Refine(in_channels=(16, 64, 128), corr_channels=32).eval()
    with torch.no_grad():
        out = refine(maps[:3], _rand(1, 32, 25, 25), pos=(12, 12))
    assert out.shape == (1, 1, 127, 127)
    # the default stays ResNet-50 (pysot's keys and shapes: tests/models/test_pysot_keys.py)
    assert ResNet50Atrous(used_layers=(0,)).conv1.out_channels == 64
    with pytest.raises(ValueError, match="width 0"):
        ResNet50Atrous(width=0.0)


def test_resnet_unused_layers_are_identities():
    net = ResNet50Atrous(used_layers=(2,))
    assert net.layer3 is None and net.layer4 is None
    assert not any(k.startswith(("layer3", "layer4")) for k in net.state_dict())
    assert net.out_channels == [512]
    with pytest.raises(ValueError, match="used_layers"):
        ResNet50Atrous(used_layers=(5,))


def test_mobilenet_v2_channels_and_sizes():
    net = MobileNetV2(width_mult=1.4, used_layers=(3, 5, 7)).eval()
    assert net.out_channels == [44, 134, 448]
    assert net.layer0[0].padding == (0, 0) and net.layer0[0].stride == (2, 2)
    # first block of a more dilated stage keeps the previous dilation
    assert net.layer4[0].conv[3].dilation == (1, 1) and net.layer4[1].conv[3].dilation == (2, 2)
    assert net.layer6[0].conv[3].dilation == (2, 2) and net.layer7[0].conv[3].dilation == (4, 4)
    with torch.no_grad():
        assert [f.shape[1:] for f in net(_rand(1, 3, 127, 127, scale=255))] == [
            (44, 15, 15),
            (134, 15, 15),
            (448, 15, 15),
        ]
        assert [f.shape[-1] for f in net(_rand(1, 3, 255, 255, scale=255))] == [31, 31, 31]


def test_adjust_layer_crops_template_centre():
    layer = AdjustLayer(in_channels=8, out_channels=4).eval()
    x = _rand(2, 8, 15, 15)
    with torch.no_grad():
        full = layer.downsample(x)
        out = layer(x)
        assert out.shape == (2, 4, 7, 7)
        torch.testing.assert_close(out, full[:, :, 4:11, 4:11])
        assert layer(_rand(2, 8, 31, 31)).shape == (2, 4, 31, 31)
    multi = AdjustAllLayer(in_channels=(8, 16), out_channels=(4, 4))
    assert {n for n, _ in multi.named_children()} == {"downsample2", "downsample3"}
    single = AdjustAllLayer(in_channels=(8,), out_channels=(4,))
    assert [n for n, _ in single.named_children()] == ["downsample"]
    with pytest.raises(ValueError, match="expects 2 feature maps"):
        multi(_rand(1, 8, 15, 15))


def test_depthwise_xcorr_sizes_and_oracle():
    head = DepthwiseXCorr(in_channels=6, hidden=5, out_channels=10).eval()
    z, x = _rand(2, 6, 7, 7, seed=1), _rand(2, 6, 31, 31, seed=2)
    with torch.no_grad():
        k = head.template(z)
        assert k.shape == (2, 5, 5, 5)
        out = head(k, x)
        assert out.shape == (2, 10, 25, 25)
        ref = head.head(xcorr_depthwise_slow(head.conv_kernel(z), head.conv_search(x)))
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
        # a batch-1 kernel is shared by every search image (the tracker's case)
        torch.testing.assert_close(head(k[:1], x)[1], head(k[:1], x[1:])[0])


def test_upchannel_rpn_matches_loop():
    head = UPChannelRPN(anchor_num=5, feature_in=4).eval()
    z, x = _rand(2, 4, 6, 6, seed=3), _rand(2, 4, 22, 22, seed=4)
    with torch.no_grad():
        ck, lk = head.template(z)
        assert ck.shape == (2, 4 * 10, 4, 4) and lk.shape == (2, 4 * 20, 4, 4)
        cls, loc = head((ck, lk), x)
        assert cls.shape == (2, 10, 17, 17) and loc.shape == (2, 20, 17, 17)
        torch.testing.assert_close(cls, xcorr_up_slow(ck, head.search_cls_conv(x)))
        ref_loc = head.loc_adjust(xcorr_up_slow(lk, head.search_loc_conv(x)))
        torch.testing.assert_close(loc, ref_loc)


def test_multirpn_weighted_softmax_fusion_and_mean():
    z = [_rand(2, 4, 7, 7, seed=i) for i in range(3)]
    x = [_rand(2, 4, 15, 15, seed=10 + i) for i in range(3)]
    weighted = MultiRPN(anchor_num=5, in_channels=(4, 4, 4), weighted=True).eval()
    torch.testing.assert_close(weighted.cls_weight.data, torch.ones(3))
    with torch.no_grad():
        weighted.cls_weight.copy_(torch.tensor([0.0, 1.0, 2.0]))
        weighted.loc_weight.copy_(torch.tensor([2.0, 0.0, -1.0]))
        cls, loc = weighted(weighted.template(z), x)
        parts = [getattr(weighted, f"rpn{i + 2}") for i in range(3)]
        outs = [p(p.template(zi), xi) for p, zi, xi in zip(parts, z, x)]
        wc, wl = weighted.cls_weight.softmax(0), weighted.loc_weight.softmax(0)
        torch.testing.assert_close(cls, sum(w * o[0] for w, o in zip(wc, outs)))
        torch.testing.assert_close(loc, sum(w * o[1] for w, o in zip(wl, outs)))
    assert cls.shape == (2, 10, 9, 9) and loc.shape == (2, 20, 9, 9)  # 15 -> 13, 7 -> 5
    plain = MultiRPN(anchor_num=5, in_channels=(4, 4, 4), weighted=False).eval()
    assert not hasattr(plain, "cls_weight")
    plain.load_state_dict({k: v for k, v in weighted.state_dict().items() if "_weight" not in k})
    with torch.no_grad():
        cls_m, _ = plain(plain.template(z), x)
    torch.testing.assert_close(cls_m, sum(o[0] for o in outs) / 3)


def test_depthwise_rpn_runs_under_bf16_autocast():
    rpn = DepthwiseRPN(anchor_num=5, in_channels=8, out_channels=8).eval()
    z, x = _rand(2, 8, 7, 7, seed=5), _rand(2, 8, 31, 31, seed=6)
    with torch.no_grad():
        ref_cls, ref_loc = rpn(rpn.template(z), x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            cls, loc = rpn(rpn.template(z), x)
    assert cls.shape == (2, 10, 25, 25) and loc.shape == (2, 20, 25, 25)
    assert torch.isfinite(cls).all() and torch.isfinite(loc).all()
    torch.testing.assert_close(cls.float(), ref_cls, rtol=0.05, atol=0.05)
    torch.testing.assert_close(loc.float(), ref_loc, rtol=0.05, atol=0.05)


@pytest.mark.parametrize(
    ("config", "instance", "score"),
    [
        ("siamrpn_alex_dwxcorr", 287, 21),
        ("siamrpn_alex_dwxcorr", 255, 17),
        ("siamrpn_mobilev2_l234_dwxcorr", 255, 25),
        ("siamrpn_r50_l234_dwxcorr", 255, 25),
    ],
)
def test_siamrpn_net_output_sizes(config, instance, score):
    net = build_pysot_net(config).eval()
    with torch.no_grad():
        kernels = net.template(_rand(1, 3, 127, 127, scale=255))
        cls, loc = net(kernels, _rand(1, 3, instance, instance, seed=1, scale=255))
    assert cls.shape == (1, 10, score, score) and loc.shape == (1, 20, score, score)


def test_siamrpn_net_head_layers_select_backbone_outputs():
    net = SiamRPNNet(
        backbone=MobileNetV2(used_layers=(1, 3)),
        neck=AdjustAllLayer(in_channels=(44,), out_channels=(8,)),
        head=DepthwiseRPN(in_channels=8, out_channels=8),
        head_layers=(3,),
    ).eval()
    with torch.no_grad():
        k = net.template(_rand(2, 3, 127, 127, scale=255))
        assert k[0].shape == (2, 8, 5, 5)
        cls, loc = net(k, _rand(2, 3, 255, 255, seed=1, scale=255))
    assert cls.shape == (2, 10, 25, 25) and loc.shape == (2, 20, 25, 25)
    with pytest.raises(ValueError, match=r"not in backbone\.used_layers"):
        SiamRPNNet(backbone=MobileNetV2(used_layers=(3,)), head=DepthwiseRPN(), head_layers=(5,))
