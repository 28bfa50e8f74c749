import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from siamlightning.errors import DataError
from siamlightning.tracking.load import (
    _tracker_yaml,
    build_tracker,
    load_tracker,
    pysot_config_names,
    pysot_tracker_config,
)
from siamlightning.tracking.siamrpn import SiamRPNTracker, cosine_window
from siamlightning.tracking.siamrpn_lt import SiamRPNLTTracker

A = 5
ANCHORS = [(104, 32), (88, 40), (64, 64), (40, 80), (32, 96)]  # w, h per anchor


def logit(p):
    return math.log(p / (1 - p))


class FakeRPN(nn.Module):
    """cls/loc maps: every anchor background (logit -6) except ``cells`` (a, y, x) -> (fg, deltas).

    ``plan`` is a list, one entry per forward call, of such ``cells`` dicts (the last repeats).
    """

    stride = 8
    anchor_num = A

    def __init__(self, plan, input_format="rgb255"):
        super().__init__()
        self.plan, self.calls, self.inputs = plan, 0, []
        self.input_format = input_format
        self.dummy = nn.Parameter(torch.zeros(1))

    def template(self, z):
        self.exemplar = z.clone()
        return torch.zeros(1)

    def forward(self, kernels, x):
        self.inputs.append(x.clone())
        size = x.shape[-1]
        s = (size - 127) // 8 + 1 + (0 if size == 287 else 8)
        cls = torch.zeros(1, 2 * A, s, s)
        cls[:, :A] = 6.0  # background
        loc = torch.zeros(1, 4 * A, s, s)
        cells = self.plan[min(self.calls, len(self.plan) - 1)]
        for (a, y, x_), (fg, deltas) in cells.items():
            cls[0, a, y, x_] = 0.0
            cls[0, A + a, y, x_] = fg
            for k, d in enumerate(deltas):
                loc[0, k * A + a, y, x_] = d
        self.calls += 1
        return cls, loc


def _tracker(plan, cls=SiamRPNTracker, input_format="rgb255", **kw):
    cfg = dict(penalty_k=0.05, window_influence=0.42, lr=0.38) | kw
    return cls(net=FakeRPN(plan, input_format), **cfg)


def _change(r):
    return max(r, 1 / r)


def _sz(w, h):
    p = (w + h) / 2
    return math.sqrt((w + p) * (h + p))


def test_one_step_matches_the_pysot_formulas():
    deltas = (0.25, -0.5, 0.25, -0.125)  # exact in float32
    t = _tracker([{(2, 10, 15): (2.0, deltas)}])  # fg logit 2, bg 0
    image = np.zeros((400, 400, 3), np.uint8)
    t.init(image, [150.0, 160.0, 60.0, 40.0])  # centre (180, 180)
    res = t.track(image)
    # hand computation of pysot's SiamRPNTracker.track
    score = 1 / (1 + math.exp(-2.0))  # softmax foreground
    s_z = math.sqrt((60 + 50) * (40 + 50))
    scale_z = 127 / s_z
    assert t.net.inputs[0].shape == (1, 3, 255, 255)
    ax, ay = (15 - 12) * 8, (10 - 12) * 8  # anchor 2 is 64 x 64
    px, py = 0.25 * 64 + ax, -0.5 * 64 + ay  # 40, -48
    pw, ph = math.exp(0.25) * 64, math.exp(-0.125) * 64
    s_c = _change(_sz(pw, ph) / _sz(60 * scale_z, 40 * scale_z))
    r_c = _change((60 / 40) / (pw / ph))
    penalty = math.exp(-(r_c * s_c - 1) * 0.05)
    lr = penalty * score * 0.38
    cx, cy = 180 + px / scale_z, 180 + py / scale_z
    w, h = 60 * (1 - lr) + pw / scale_z * lr, 40 * (1 - lr) + ph / scale_z * lr
    np.testing.assert_allclose(res.box, [cx - w / 2, cy - h / 2, w, h], rtol=1e-12)
    assert res.score == pytest.approx(score, rel=1e-12)  # unpenalised


def test_zero_displacement_returns_the_init_box():
    t = _tracker([{(2, 12, 12): (logit(0.99), (0.0, 0.0, 0.0, 0.0))}], penalty_k=0.0, lr=0.0)
    image = np.zeros((300, 300, 3), np.uint8)
    t.init(image, [100.5, 80.25, 30.0, 50.0])
    np.testing.assert_allclose(t.track(image).box, [100.5, 80.25, 30.0, 50.0], atol=1e-12)


@pytest.mark.parametrize(("fmt", "channel"), [("bgr255", 2), ("rgb255", 0)])
def test_input_format_orders_the_channels(fmt, channel):
    t = _tracker([{}], input_format=fmt)
    image = np.zeros((200, 200, 3), np.uint8)
    image[..., 0] = 255  # pure red RGB image
    t.init(image, [80.0, 80.0, 40.0, 40.0])
    t.track(image)
    for x in (t.net.exemplar, t.net.inputs[0]):
        assert x.dtype == torch.float32
        assert x[0, channel].min() == 255.0 and x.sum() == x[0, channel].sum()


def _pair_choice(first, second, **kw):
    """Two equally scored cells; returns the box centre after one step (first wins ties)."""
    t = _tracker([{**first, **second}], **kw)
    image = np.zeros((400, 400, 3), np.uint8)
    t.init(image, [170.0, 170.0, 60.0, 60.0])
    box = t.track(image).box
    return box[:2] + box[2:] / 2


def test_scale_and_ratio_penalty_prefers_the_previous_shape():
    scale_z = 127 / math.sqrt(120 * 120)
    same = math.log(60 * scale_z / 64)  # anchor 2 resized to the target's 60 x 60
    distorted = {(0, 12, 10): (logit(0.9), (0.0, 0.0, 0.0, 0.0))}  # 104 x 32, index first
    kept = {(2, 12, 14): (logit(0.9), (0.0, 0.0, same, same))}
    left, right = 200 - 16 / scale_z, 200 + 16 / scale_z
    assert _pair_choice(distorted, kept, penalty_k=0.0, window_influence=0.0)[0] == (
        pytest.approx(left)
    )
    assert _pair_choice(distorted, kept, penalty_k=0.05, window_influence=0.0)[0] == (
        pytest.approx(right)
    )


def test_cosine_window_prefers_the_centre():
    far = {(2, 2, 2): (logit(0.9), (0.0, 0.0, 0.0, 0.0))}  # lower index: wins ties
    near = {(2, 12, 13): (logit(0.9), (0.0, 0.0, 0.0, 0.0))}
    assert _pair_choice(far, near, window_influence=0.0)[0] < 150
    assert _pair_choice(far, near, window_influence=0.42)[0] > 200
    w = cosine_window(25, A)
    assert w.shape == (A * 625,) and w.max() == pytest.approx(1.0)
    np.testing.assert_allclose(w[:625], np.outer(np.hanning(25), np.hanning(25)).ravel())


@pytest.mark.parametrize(
    ("dw", "expected"),
    [(math.log(0.05), [95.0, 75.0, 10.0, 10.0]), (math.log(40.0), [50.0, 40.0, 100.0, 80.0])],
)
def test_box_is_clipped_to_the_image(dw, expected):
    t = _tracker([{(2, 24, 24): (logit(0.999), (2.0, 2.0, dw, dw))}], penalty_k=0.0, lr=0.5)
    image = np.zeros((80, 100, 3), np.uint8)  # H 80, W 100
    t.init(image, [80.0, 60.0, 12.0, 12.0])
    np.testing.assert_allclose(t.track(image).box, expected, rtol=1e-6)


def test_alex_geometry_and_errors():
    t = _tracker([{(2, 10, 10): (logit(0.9), (0, 0, 0, 0))}], search_size=287, base_size=0)
    image = np.zeros((200, 200, 3), np.uint8)
    with pytest.raises(RuntimeError, match="init"):
        t.track(image)
    with pytest.raises(DataError, match="init box"):
        t.init(image, [10, 10, 0, 5])
    t.init(image, [80.0, 80.0, 40.0, 40.0])
    t.track(image)
    assert t.net.inputs[0].shape[-1] == 287
    bad = _tracker([{}], search_size=287, base_size=8)  # score size 29 vs the net's 21
    bad.init(image, [80.0, 80.0, 40.0, 40.0])
    with pytest.raises(ValueError, match="does not fit"):
        bad.track(image)


def test_long_term_switches_to_lost_mode_and_back():
    move = (0.5, 0.0, 0.0, 0.0)
    plan = [
        {(2, 12, 12): (logit(0.5), move)},  # below low: frozen, now lost
        {(2, 80, 80): (logit(0.9), (0.0, 0.0, 0.0, 0.0))},  # lost, 0.8 <= s <= 0.998: moves
        {(2, 48, 48): (logit(0.9995), move)},  # above high: found again
        {(2, 12, 12): (logit(0.9), move)},
    ]
    t = _tracker(plan, cls=SiamRPNLTTracker, confidence_low=0.8, confidence_high=0.998)
    image = np.zeros((600, 600, 3), np.uint8)
    init = [280.0, 280.0, 40.0, 40.0]
    t.init(image, init)
    scale_z = 127 / math.sqrt(80 * 80)
    r1 = t.track(image)
    np.testing.assert_allclose(r1.box, init)
    assert t.lost and r1.score == pytest.approx(0.5)
    r2 = t.track(image)
    assert [x.shape[-1] for x in t.net.inputs] == [255, 831]
    assert t.lost  # 0.9 is not above confidence_high
    np.testing.assert_allclose(r2.box[:2] + r2.box[2:] / 2, [300 + 256 / scale_z] * 2, rtol=1e-9)
    t.track(image)
    assert not t.lost and t.net.inputs[-1].shape[-1] == 831
    t.track(image)
    assert t.net.inputs[-1].shape[-1] == 255
    t.init(image, init)
    assert not t.lost


def test_long_term_window_is_weak_when_lost():
    t = _tracker([{}], cls=SiamRPNLTTracker)
    assert t.lost_search_size == 831 and t.lost_window_influence == 0.001
    anchors, window = t._geometry(831)
    assert anchors.shape == (A * 97 * 97, 4) and window.shape == (A * 97 * 97,)


class OverflowRPN(FakeRPN):
    def forward(self, kernels, x):
        cls, loc = super().forward(kernels, x)
        return cls, loc + 1000.0  # exp(dw) overflows everywhere: penalty 0, lr 0


@pytest.mark.parametrize("cls", [SiamRPNTracker, SiamRPNLTTracker])
def test_overflowing_untrained_outputs_keep_a_finite_state(cls):
    t = cls(net=OverflowRPN([{}]), penalty_k=0.05, window_influence=0.4, lr=0.4)
    image = np.zeros((200, 200, 3), np.uint8)
    t.init(image, [80.0, 80.0, 40.0, 30.0])
    for _ in range(2):
        res = t.track(image)
    assert np.isfinite(res.box).all() and np.isfinite(t.size).all()
    np.testing.assert_allclose(res.box[2:], [40.0, 30.0])


class PixelRPN(nn.Module):
    """Outputs computed from the crop's pixels (exact integer sums, then pooled): brighter cells
    score higher and pull the box, so the boxes depend on the crop geometry."""

    stride, anchor_num, input_format = 8, A, "rgb255"

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def template(self, z):
        return torch.zeros(1)

    def forward(self, kernels, x):
        s = (x.shape[-1] - 127) // 8 + 9
        p = F.adaptive_avg_pool2d(x.sum(1, keepdim=True), s)[0, 0] / 765.0  # (s, s) in [0, 1]
        fg = torch.stack([4.0 * p - 2.0 + 0.1 * a for a in range(A)])
        d, e = (p - p.mean()).expand(A, s, s), (p - 0.5).expand(A, s, s)
        return torch.cat([torch.zeros_like(fg), fg])[None], torch.cat(
            [0.3 * d, -0.2 * d, 0.05 * e, -0.05 * e]
        )[None]


# boxes of `SiamRPNTracker` / `SiamRPNLTTracker` (crop_convention="exact") on synthetic seed 5,
# recorded before crop_convention existed: the default must keep them
RECORDED_EXACT = {
    SiamRPNTracker: [
        [122.39005173606925, 89.97300903431349, 50.584613870977854, 52.76500359022537],
        [140.9060292291831, 79.79265061365186, 51.307938747136006, 52.2954343122811],
        [146.2170649121708, 76.21276976500013, 51.831803719002366, 52.024572303006394],
        [150.58256624227116, 79.78037504065566, 52.164654346193814, 51.93105497411179],
        [149.04596674387392, 76.3609366783457, 52.4796686060906, 51.86578031234866],
        [153.90897346924496, 79.60907076299173, 52.72428863956042, 51.86824960544921],
        [151.92112539273435, 83.04078191980122, 52.91604373698101, 51.91975544788825],
    ],
    SiamRPNLTTracker: [
        [124.33935086075229, 86.4831936830063, 49.71927513377295, 53.39297516997365],
        [124.33935086075229, 86.4831936830063, 49.71927513377295, 53.39297516997365],
        [124.33935086075229, 86.4831936830063, 49.71927513377295, 53.39297516997365],
        [124.33935086075229, 86.4831936830063, 49.71927513377295, 53.39297516997365],
        [124.33935086075229, 86.4831936830063, 49.71927513377295, 53.39297516997365],
        [46.23788817708989, 69.3228509129639, 50.770639727748986, 52.60447888668027],
        [46.144337382442345, 65.03614322273327, 51.524005910712106, 52.118301941635664],
    ],
}


@pytest.mark.parametrize("cls", [SiamRPNTracker, SiamRPNLTTracker])
def test_exact_convention_keeps_the_recorded_boxes(cls):
    from siamlightning.data import open_dataset

    seq = open_dataset("synthetic", None, seed=5, num_sequences=1, length=8)[0]
    t = cls(net=PixelRPN(), penalty_k=0.05, window_influence=0.42, lr=0.38)
    assert t.crop_convention == "exact"
    t.init(seq.read_frame(0), seq.boxes[0])
    boxes = np.stack([t.track(seq.read_frame(i)).box for i in range(1, 8)])
    # 1e-4 px: float32 convolution/pooling sums round differently across instruction sets
    # (AVX2 vs AVX-512 differ here by 1.6e-6 px); any real change of the crop geometry or the
    # box decoding moves these boxes by far more than 1e-4 px (an init box shifted by 0.01 px
    # already moves them by 0.01 px, by 1 px moves them by 6.6 px)
    np.testing.assert_allclose(boxes, RECORDED_EXACT[cls], rtol=0, atol=1e-4)


PUBLISHED = {
    "siamrpn_alex_dwxcorr": (0.16, 0.40, 0.30, 287, 0),
    "siamrpn_r50_l234_dwxcorr": (0.05, 0.42, 0.38, 255, 8),
    "siamrpn_r50_l234_dwxcorr_otb": (0.24, 0.50, 0.25, 255, 8),
    "siamrpn_r50_l234_dwxcorr_lt": (0.05, 0.28, 0.22, 255, 8),
    "siamrpn_mobilev2_l234_dwxcorr": (0.04, 0.40, 0.50, 255, 8),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_tracker_yaml_has_the_published_values(name):
    cfg = pysot_tracker_config(name)
    t = build_tracker(FakeRPN([{}]), cfg)
    got = (t.penalty_k, t.window_influence, t.lr, t.search_size, t.base_size)
    assert got == PUBLISHED[name] and t.exemplar_size == 127 and t.context_amount == 0.5
    assert isinstance(t, SiamRPNLTTracker) == name.endswith("_lt")
    if name.endswith("_lt"):
        assert (t.confidence_low, t.confidence_high) == (0.8, 0.998)
    assert OmegaConf.create(cfg)._target_.startswith("siamlightning.tracking.siamrpn")
    # pysot weights get pysot's crops; the yaml itself (training here) keeps the exact crops
    assert t.crop_convention == "pysot"
    assert OmegaConf.load(_tracker_yaml(name)).crop_convention == "exact"


def _alex_state(prefix):
    from siamlightning.models.pysot_weights import build_pysot_net

    torch.manual_seed(3)
    net = build_pysot_net("siamrpn_alex_dwxcorr")
    return {prefix + k: v for k, v in net.state_dict().items()}


@pytest.mark.parametrize("wrap", [False, True])
def test_load_tracker_from_pysot_weights(tmp_path, wrap):
    state = _alex_state("module.")
    path = tmp_path / "model.pth"
    torch.save({"state_dict": state, "epoch": 20} if wrap else state, path)
    t = load_tracker("siamrpn_alex_dwxcorr", weights=path, precision="bf16")
    assert isinstance(t, SiamRPNTracker) and t.search_size == 287 and t.precision == "bf16"
    assert t.crop_convention == "pysot"
    key = "rpn_head.cls.head.3.weight"
    assert torch.equal(t.net.state_dict()[key], state["module." + key])
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (160, 200, 3), dtype=np.uint8)
    t.init(image, [70.0, 50.0, 40.0, 30.0])
    res = t.track(image)
    assert res.box.shape == (4,) and np.isfinite(res.box).all() and 0 <= res.score <= 1


def test_load_tracker_errors(tmp_path):
    with pytest.raises(ValueError, match=r"unknown pysot config 'siamrpn_nope'.*siamrpn_alex"):
        load_tracker("siamrpn_nope", weights=tmp_path / "x.pth")
    with pytest.raises(ValueError, match="needs weights"):
        load_tracker("siamrpn_alex_dwxcorr")
    with pytest.raises(FileNotFoundError):
        load_tracker("siamrpn_alex_dwxcorr", weights=tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"backbone.foo": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="do not match pysot config"):
        load_tracker("siamrpn_alex_dwxcorr", weights=bad)
    with pytest.raises(
        ValueError, match=r"(?s)do not match pysot config 'siammask_r50_l3'.*refine_head: 32"
    ):
        load_tracker("siammask_r50_l3", weights=bad)
    assert "siamrpn_r50_l234_dwxcorr_lt" in pysot_config_names()


@pytest.mark.native_bf16  # full-size AlexNet at 287 px: ~20 s with emulated bf16
def test_random_alex_bf16_boxes_close_to_fp32():
    from siamlightning.data import open_dataset
    from siamlightning.tracking.load import build_pysot_model

    torch.manual_seed(0)
    net = build_pysot_model("siamrpn_alex_dwxcorr")
    seq = open_dataset("synthetic", None, seed=5, num_sequences=1, length=6)[0]
    boxes = {}
    for prec in ("fp32", "bf16"):
        t = build_tracker(net, pysot_tracker_config("siamrpn_alex_dwxcorr"), precision=prec)
        t.init(seq.read_frame(0), seq.boxes[0])
        boxes[prec] = np.stack([t.track(seq.read_frame(i)).box for i in range(1, 6)])
    diff = np.abs(boxes["fp32"] - boxes["bf16"]).mean(axis=1)
    assert np.isfinite(boxes["bf16"]).all()
    assert diff.mean() < 1.0, diff
