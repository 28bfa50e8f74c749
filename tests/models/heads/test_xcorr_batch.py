"""Correlations with K kernels for K * n search images: kernel i serves images [i n, (i + 1) n),
each share computed as if alone (what batched trackers' scale pyramids need)."""

from __future__ import annotations

import pytest
import torch

from siamlightning.models.heads.rpn import _xcorr_up_channel
from siamlightning.models.heads.xcorr import search_per_kernel, xcorr, xcorr_depthwise


@pytest.mark.parametrize("fn", [xcorr, xcorr_depthwise, _xcorr_up_channel])
def test_each_kernel_serves_its_consecutive_search_images(fn):
    g = torch.Generator().manual_seed(0)
    c = 8
    kc = 2 * c if fn is _xcorr_up_channel else c
    kernels = torch.randn(4, kc, 3, 3, generator=g)
    x = torch.randn(12, c, 9, 9, generator=g)
    out = fn(kernels, x)
    alone = torch.cat([fn(kernels[i : i + 1], x[3 * i : 3 * i + 3]) for i in range(4)])
    assert torch.equal(out, alone)  # the same convolution calls: bit-identical
    pairs = fn(kernels.repeat_interleave(3, 0), x)  # one kernel per image (training's path)
    torch.testing.assert_close(pairs, alone, rtol=1e-5, atol=1e-4)


def test_kernel_batch_must_divide_the_search_batch():
    assert search_per_kernel(4, 12) == 3 and search_per_kernel(1, 5) == 5
    with pytest.raises(ValueError, match="kernel batch 5 does not divide search batch 12"):
        xcorr(torch.randn(5, 2, 3, 3), torch.randn(12, 2, 9, 9))
