"""The export path of the correlations (shifted slices) against the eager grouped convs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from siamlightning.models.heads import xcorr as xc
from siamlightning.models.heads.rpn import _xcorr_up_channel


def _slow_up_channel(kernel, x):
    """Oracle: one conv per sample, K output channels of C kernel channels each."""
    c = x.shape[1]
    outs = []
    for b in range(x.shape[0]):
        k = kernel[b if kernel.shape[0] > 1 else 0]
        outs.append(F.conv2d(x[b : b + 1], k.reshape(-1, c, *k.shape[-2:])))
    return torch.cat(outs)


@pytest.mark.parametrize("kb", [1, 3])
def test_depthwise_shifts_equal_the_grouped_conv(kb):
    torch.manual_seed(0)
    kernel, x = torch.randn(kb, 8, 5, 5), torch.randn(3, 8, 13, 11)
    eager = xc.xcorr_depthwise(kernel, x)
    shifts = xc.xcorr_depthwise_shifts(kernel.expand(3, -1, -1, -1), x)
    assert shifts.shape == eager.shape == (3, 8, 9, 7)
    torch.testing.assert_close(shifts, eager, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kb", [1, 3])
def test_full_and_up_channel_shifts_equal_the_grouped_conv(kb):
    torch.manual_seed(1)
    x = torch.randn(3, 6, 12, 12)
    k1 = torch.randn(kb, 6, 4, 4)
    eager = xc.xcorr(k1, x)
    shifts = xc.xcorr_up_channel_shifts(k1.expand(3, -1, -1, -1), x)
    assert shifts.shape == eager.shape == (3, 1, 9, 9)
    torch.testing.assert_close(shifts, eager, rtol=1e-5, atol=1e-4)
    k10 = torch.randn(kb, 10 * 6, 4, 4)
    eager10 = _xcorr_up_channel(k10, x)
    torch.testing.assert_close(eager10, _slow_up_channel(k10, x), rtol=1e-5, atol=1e-4)
    shifts10 = xc.xcorr_up_channel_shifts(k10.expand(3, -1, -1, -1), x)
    torch.testing.assert_close(shifts10, eager10, rtol=1e-5, atol=1e-4)


def test_eager_correlation_is_the_grouped_conv_bit_for_bit(monkeypatch):
    """Outside export the conv path runs, unchanged; inside, the shifted slices do."""
    torch.manual_seed(2)
    kernel, x = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 9, 9)
    want = F.conv2d(x.reshape(1, 8, 9, 9), kernel.reshape(8, 1, 3, 3), groups=8).reshape(2, 4, 7, 7)
    assert not xc.exporting()
    assert torch.equal(xc.xcorr_depthwise(kernel, x), want)
    monkeypatch.setattr(xc, "exporting", lambda: True)
    inside = xc.xcorr_depthwise(kernel, x)
    assert not torch.equal(inside, want)  # another summation order: the path did switch
    torch.testing.assert_close(inside, want, rtol=1e-5, atol=1e-5)


def test_exporting_is_true_while_tracing():
    seen = []

    def f(t):
        seen.append(xc.exporting())
        return t + 1

    torch.jit.trace(f, (torch.zeros(2),), check_trace=False)
    assert seen == [True]
    assert not xc.exporting()
