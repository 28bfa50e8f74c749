"""ExportedNet: kernel structures, batch handling and its errors (graphs from a tiny SiamFC)."""

from __future__ import annotations

import sys

import pytest
import torch

import siamlightning
from siamlightning.errors import ConfigError
from siamlightning.export import export_tracker
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.models.siamfc import SiamFCNet
from siamlightning.tracking import exported as ex

TRACKER = {"_target_": "siamlightning.tracking.siamfc.SiamFCTracker", "scale_num": 3}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = SiamFCNet(backbone=SiamFCAlexNet(width=0.25)).eval()
    out = tmp_path_factory.mktemp("tiny") / "siamfc"
    export_tracker(net, TRACKER, out)
    return net, out


def test_kernel_structures_round_trip():
    a, b, c, d, e = (torch.full((1,), float(i)) for i in range(5))
    for kernels in (a, (a, b), [(a, b), (c, d)], ([(a, b), (c, d)], e)):
        leaves, spec = ex.flatten_kernels(kernels)
        back = ex.unflatten_kernels(leaves, spec)
        assert ex.flatten_kernels(back) == (leaves, spec)
        assert type(back) is type(kernels)
    assert [float(t) for t in ex.flatten_kernels(([(a, b), (c, d)], e))[0]] == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="dict"):
        ex.flatten_kernels({"k": a})


def test_forward_takes_kernel_batch_1_or_b_and_concatenated_kernels(tiny):
    net, out = tiny
    spec = ex.read_spec(out)
    exp = ex.ExportedNet(directory=out, spec=spec)
    assert list(exp.parameters()) == []
    assert (exp.stride, exp.input_format, exp.output_kind) == (8, "rgb255", "response")
    gen = torch.Generator().manual_seed(1)
    z1, z2 = (torch.rand(1, 3, 127, 127, generator=gen) * 255 for _ in range(2))
    x = torch.rand(2, 3, 255, 255, generator=gen) * 255
    with torch.no_grad():
        k = torch.cat([exp.template(z1), exp.template(z2)])  # two sequences' kernels
        want = net(net.template(torch.cat([z1, z2])), x)
        torch.testing.assert_close(exp(k, x), want, rtol=1e-5, atol=1e-3)
        want = net(net.template(z1), x)  # kernel batch 1, search batch 2
        torch.testing.assert_close(exp(exp.template(z1), x), want, rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="kernel batches"):
        exp(torch.cat([k, k[:1]]), x)
    with pytest.raises(ValueError, match="no track graph for search size 239"):
        exp(k, torch.zeros(2, 3, 239, 239))


def test_load_tracker_of_a_directory_runs_the_same_tracker_class(tiny):
    _, out = tiny
    tracker = siamlightning.load_tracker(out, scale_num=5)
    assert type(tracker).__name__ == "SiamFCTracker"
    assert isinstance(tracker.net, ex.ExportedNet) and len(tracker.scale_factors) == 5


def test_missing_onnxruntime_says_what_to_install(tiny, monkeypatch):
    _, out = tiny
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    exp = ex.ExportedNet(directory=out, spec=ex.read_spec(out))
    with pytest.raises(ImportError, match=r'pip install "siamlightning\[export\]"'):
        exp.template(torch.zeros(1, 3, 127, 127))


def test_bad_directories_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"no tracker\.yaml"):
        ex.read_spec(tmp_path)
    (tmp_path / "tracker.yaml").write_text("format: onnx\nfiles: {}\n")
    with pytest.raises(ConfigError, match=r"missing entries \['kernels', 'net', 'tracker'\]"):
        siamlightning.load_tracker(tmp_path)
