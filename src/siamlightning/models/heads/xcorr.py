"""The one cross-correlation of the package (full and depthwise), autocast-safe.

Correlations of large unnormalised features overflow fp16, so both run in float32 with autocast
disabled; their cost is small next to the backbone.

Export path. The eager correlation of a kernel batch B is one grouped convolution with
``groups=B`` (or ``B * C``); ONNX's Conv takes ``group`` as a static attribute, so such a graph
cannot have a dynamic batch (pysot issue #125). While a graph is exported or traced
(`exporting`), the same correlations are written as a sum over the kernel offsets of shifted
slices of the search map times the kernel value there (`xcorr_depthwise_shifts`), whose batch is
an ordinary broadcast dimension. Eager training and tracking never take that path, so they stay
bit-identical; the two agree to float rounding (tests/models/heads/test_xcorr_export.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _fp32(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float32 else t.float()


def exporting() -> bool:
    """True while ``torch.onnx.export``, ``torch.export`` or ``torch.jit.trace`` records a graph."""
    return bool(
        torch.onnx.is_in_onnx_export()
        or torch.compiler.is_exporting()
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
    )


def xcorr_depthwise_shifts(kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Depthwise xcorr as a sum of shifted slices: kernel (B, C, h, w), x (B, C, H, W) ->
    (B, C, H-h+1, W-w+1); no grouped conv, so the batch stays dynamic in an exported graph."""
    h, w = int(kernel.shape[-2]), int(kernel.shape[-1])
    ho = x.shape[-2] - h + 1
    wo = x.shape[-1] - w + 1
    out = None
    for i in range(h):
        for j in range(w):
            term = kernel[:, :, i : i + 1, j : j + 1] * x[:, :, i : i + ho, j : j + wo]
            out = term if out is None else out + term
    assert out is not None
    return out


def xcorr_up_channel_shifts(kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Full xcorr with K outputs as a sum over offsets of batched matmuls: kernel
    (B, K*C, h, w), x (B, C, H, W) -> (B, K, Ho, Wo), output k from kernel channels
    [k*C, (k+1)*C) (pysot's ``xcorr_fast``); the export path of the up-channel head."""
    c = int(x.shape[1])
    kc, h, w = int(kernel.shape[1]), int(kernel.shape[-2]), int(kernel.shape[-1])
    ho = x.shape[-2] - h + 1
    wo = x.shape[-1] - w + 1
    k = kernel.reshape(-1, kc // c, c, h * w)
    out = None
    for i in range(h):
        for j in range(w):
            cols = x[:, :, i : i + ho, j : j + wo].flatten(2)  # (B, C, Ho*Wo)
            term = torch.matmul(k[..., i * w + j], cols)  # (B, K, Ho*Wo)
            out = term if out is None else out + term
    assert out is not None
    return out.unflatten(2, (ho, wo))


def search_per_kernel(kernel_batch: int, search_batch: int) -> int:
    """n: each of ``kernel_batch`` kernels serves ``n`` consecutive search images (1: one each,
    training's pairs; ``search_batch``: one kernel for all, a tracker's scale pyramid; between:
    several trackers' pyramids in one batched call, `siamlightning.tracking.batch`)."""
    if kernel_batch < 1 or search_batch % kernel_batch:
        raise ValueError(
            f"kernel batch {kernel_batch} does not divide search batch {search_batch} (each "
            "kernel serves the same number of consecutive search images)"
        )
    return search_batch // kernel_batch


def xcorr(kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample full cross-correlation: kernel (K, C, h, w), x (B, C, H, W) -> (B, 1, Ho, Wo).

    Kernel k serves the B / K consecutive search images from k * B / K (`search_per_kernel`):
    K = B pairs them one to one (training), K = 1 shares one kernel (a tracker's scale pyramid).
    Between (batched trackers' pyramids) each kernel's share is the K = 1 convolution, so a
    sequence's response does not depend on the others in its batch (bit-identical on CPU).
    """
    with torch.autocast(device_type=x.device.type, enabled=False):
        k, s = _fp32(kernel), _fp32(x)
        if exporting():
            return xcorr_up_channel_shifts(k, s)
        n = search_per_kernel(k.shape[0], s.shape[0])
        if n == s.shape[0]:
            return F.conv2d(s, k)
        if n > 1:
            parts = [F.conv2d(s[i * n : (i + 1) * n], k[i : i + 1]) for i in range(len(k))]
            return torch.cat(parts)
        b, c, h, w = s.shape
        out = F.conv2d(s.reshape(1, b * c, h, w), k, groups=b)
        return out.reshape(b, 1, out.shape[-2], out.shape[-1])


def xcorr_depthwise(kernel: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Channel-wise cross-correlation: kernel (K, C, h, w), x (B, C, H, W) -> (B, C, Ho, Wo);
    kernel k serves the B / K consecutive search images from k * B / K (`search_per_kernel`)."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        k, s = _fp32(kernel), _fp32(x)
        if exporting():
            return xcorr_depthwise_shifts(k, s)
        b, c, h, w = s.shape
        n = search_per_kernel(k.shape[0], b)
        if n > 1:
            k = k.expand(b, -1, -1, -1) if k.shape[0] == 1 else k.repeat_interleave(n, 0)
        if k.shape[1] != c:
            raise ValueError(f"kernel {tuple(k.shape)} does not match search {tuple(s.shape)}")
        out = F.conv2d(s.reshape(1, b * c, h, w), k.reshape(b * c, 1, *k.shape[-2:]), groups=b * c)
        return out.reshape(b, c, out.shape[-2], out.shape[-1])
