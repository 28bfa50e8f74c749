import numpy as np
import pytest
import torch
from torch import nn

from siamlightning.errors import DataError
from siamlightning.tracking.siamfc import SiamFCTracker


class PeakNet(nn.Module):
    """Fake network: a 17x17 response with one peak at ``peak`` on the scales in ``scales``."""

    stride = 8

    def __init__(self, peak=(8, 8), scales=(1,)):
        super().__init__()
        self.peak, self.scales = peak, scales
        self.dummy = nn.Parameter(torch.zeros(1))

    def template(self, z):
        return torch.zeros(z.shape[0], 1, 6, 6)

    def forward(self, kernel, x):
        out = torch.full((x.shape[0], 1, 17, 17), -5.0)
        for s in self.scales:
            out[s, 0, self.peak[0], self.peak[1]] = 5.0
        return out


def _tracker(net, **kw):
    return SiamFCTracker(net=net, window_influence=0.0, **kw)


def test_displacement_follows_the_response_peak():
    image = np.zeros((400, 400, 3), np.uint8)
    t = _tracker(PeakNet(peak=(8, 10)))  # two cells right of the centre
    t.init(image, [180.0, 180.0, 40.0, 40.0])
    x_sz = t.x_sz
    res = t.track(image)
    # 2 cells * stride 8 = 16 instance px (minus half an upsampled cell), in image px
    expected = (2 * 8 - 0.25) * x_sz / 255
    cx = res.box[0] + res.box[2] / 2
    assert cx - 200.0 == pytest.approx(expected, abs=0.3)
    assert res.box[1] + res.box[3] / 2 == pytest.approx(200.0, abs=0.3)
    np.testing.assert_allclose(res.box[2:], [40.0, 40.0])  # middle scale: size unchanged


def test_scale_update_uses_lr_and_penalty():
    image = np.zeros((300, 300, 3), np.uint8)
    t = _tracker(PeakNet(scales=(2,)))  # only the largest scale responds
    t.init(image, [130.0, 130.0, 40.0, 20.0])
    res = t.track(image)
    s = (1 - 0.59) + 0.59 * 1.0375
    np.testing.assert_allclose(res.box[2:], [40.0 * s, 20.0 * s], rtol=1e-6)


def test_centre_is_kept_inside_the_image():
    image = np.zeros((100, 100, 3), np.uint8)
    t = _tracker(PeakNet(peak=(0, 0)))
    t.init(image, [0.0, 0.0, 10.0, 10.0])
    for _ in range(5):
        res = t.track(image)
    cx, cy = res.box[0] + res.box[2] / 2, res.box[1] + res.box[3] / 2
    assert 0 <= cx <= 100 and 0 <= cy <= 100


@pytest.mark.parametrize("box", [[10, 10, 0, 5], [10, 10, 5, -1], [np.nan, 1, 2, 3], [1, 2, 3]])
def test_bad_init_box_is_a_clear_error(box):
    t = _tracker(PeakNet())
    with pytest.raises(DataError, match="init box"):
        t.init(np.zeros((50, 50, 3), np.uint8), box)


def test_track_before_init_errors():
    with pytest.raises(RuntimeError, match="init"):
        _tracker(PeakNet()).track(np.zeros((50, 50, 3), np.uint8))


def test_real_network_bf16_close_to_fp32():
    from siamlightning.data import open_dataset
    from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
    from siamlightning.models.siamfc import SiamFCNet

    torch.manual_seed(0)
    net = SiamFCNet(backbone=SiamFCAlexNet(width=0.25)).eval()
    seq = open_dataset("synthetic", None, seed=5, num_sequences=1, length=6)[0]
    boxes = {}
    for prec in ("fp32", "bf16"):
        t = SiamFCTracker(net=net, precision=prec)
        t.init(seq.read_frame(0), seq.boxes[0])
        boxes[prec] = np.stack([t.track(seq.read_frame(i)).box for i in range(1, 6)])
    assert np.isfinite(boxes["bf16"]).all()
    assert np.abs(boxes["fp32"] - boxes["bf16"]).mean() < 3.0
