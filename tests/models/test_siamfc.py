import pytest
import torch

from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.models.heads.xcorr import xcorr, xcorr_depthwise
from siamlightning.models.siamfc import SiamFCNet
from siamlightning.models.siamfc_losses import balanced_bce
from siamlightning.models.siamfc_targets import siamfc_labels


def xcorr_slow(kernel, x):
    """The obvious per-sample loop (pysot's xcorr_slow) as the oracle."""
    return torch.cat(
        [torch.nn.functional.conv2d(x[i : i + 1], kernel[i : i + 1]) for i in range(x.shape[0])]
    )


@pytest.mark.parametrize(("size", "out"), [(127, 6), (239, 20), (255, 22)])
def test_alexnet_sizes(size, out):
    net = SiamFCAlexNet().eval()
    with torch.no_grad():
        f = net(torch.rand(2, 3, size, size) * 255)
    assert f.shape == (2, 256, out, out)


def test_response_sizes():
    net = SiamFCNet(backbone=SiamFCAlexNet()).eval()
    with torch.no_grad():
        k = net.template(torch.rand(2, 3, 127, 127) * 255)
        assert net(k, torch.rand(2, 3, 239, 239) * 255).shape == (2, 1, 15, 15)
        assert net(k[:1], torch.rand(3, 3, 255, 255) * 255).shape == (3, 1, 17, 17)


def test_xcorr_matches_loop_fp32_and_bf16():
    g = torch.Generator().manual_seed(0)
    k, x = torch.randn(3, 8, 4, 4, generator=g), torch.randn(3, 8, 12, 12, generator=g)
    ref = xcorr_slow(k, x)
    torch.testing.assert_close(xcorr(k, x), ref, rtol=1e-5, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = xcorr(k.bfloat16(), x.bfloat16())
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, xcorr_slow(k.bfloat16().float(), x.bfloat16().float()))


def test_xcorr_depthwise_matches_loop():
    k, x = torch.randn(2, 5, 3, 3), torch.randn(2, 5, 9, 9)
    ref = torch.stack(
        [
            torch.cat(
                [
                    torch.nn.functional.conv2d(x[b, c][None, None], k[b, c][None, None])
                    for c in range(5)
                ],
                1,
            )[0]
            for b in range(2)
        ]
    )
    torch.testing.assert_close(xcorr_depthwise(k, x), ref, rtol=1e-5, atol=1e-5)


def test_labels_have_13_positives_when_centred():
    box = torch.tensor([[119.5 - 10, 119.5 - 10, 20.0, 20.0]])
    lab = siamfc_labels(box, 15, 239, 8, r_pos=16)
    assert lab.shape == (1, 1, 15, 15)
    assert lab.sum() == 13
    assert lab[0, 0, 7, 7] == 1 and lab[0, 0, 7, 9] == 1 and lab[0, 0, 8, 9] == 0


def test_labels_follow_an_offset_target_and_negatives():
    box = torch.tensor([[119.5 - 10 + 16, 119.5 - 10, 20.0, 20.0]] * 2)
    lab = siamfc_labels(box, 15, 239, 8, negative=torch.tensor([False, True]))
    assert lab[0, 0, 7, 9] == 1 and lab[0, 0, 7, 6] == 0
    assert lab[1].sum() == 0


def test_balanced_bce_weights_positives_and_negatives_equally():
    labels = torch.zeros(1, 1, 5, 5)
    labels[0, 0, 2, 2] = 1
    logits = torch.zeros(1, 1, 5, 5)
    assert balanced_bce(logits, labels).item() == pytest.approx(torch.log(torch.tensor(2.0)).item())
    logits[0, 0, 2, 2] = 10.0  # fixing the single positive removes half the loss
    assert balanced_bce(logits, labels).item() == pytest.approx(0.5 * 0.6931, abs=1e-3)
