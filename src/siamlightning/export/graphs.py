"""The modules that are exported: a tracker net's template, tracking and mask steps as graphs.

Each wraps the original net and calls its own methods, so the graphs compute what eager
tracking does; only the correlations take their export path (`models.heads.xcorr.exporting`).

* `TemplateGraph`: ``z`` (B, 3, 127, 127) float 0-255 in the net's channel order -> the kernel
  tensors ``k0 .. k{n-1}`` (`flatten_kernels` order; each (B, C_i, h_i, w_i)).
* `TrackGraph`: ``k0 .. k{n-1}``, ``x`` (B, 3, S, S) -> SiamFC ``response`` (B, 1, R, R);
  SiamRPN ``cls`` (B, 2A, R, R), ``loc`` (B, 4A, R, R); SiamMask ``cls``, ``loc``, ``corr``
  (B, 256, R, R) and, with a refine head, the search maps ``p0`` (B, 64, 125, 125), ``p1``
  (B, 256, 63, 63), ``p2`` (B, 512, 31, 31) (sizes at S = 255, ResNet-50).
* `MaskGraph`: with refine ``p0``, ``p1``, ``p2``, ``corr`` and ``cells`` (N, 3) int64 of
  (b, y, x) -> ``mask`` (N, 1, 127, 127) logits (`Refine` at those cells); without, ``corr``
  and ``cells`` -> (N, 1, 63, 63), the mask head's row at those cells.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from siamlightning.tracking.exported import KernelSpec, flatten_kernels, unflatten_kernels


def kernel_spec(net: nn.Module, exemplar_size: int = 127) -> tuple[int, KernelSpec]:
    """(number of kernel tensors, structure spec) of ``net.template`` on a dummy exemplar."""
    with torch.no_grad():
        leaves, spec = flatten_kernels(
            net.template(torch.zeros(1, 3, exemplar_size, exemplar_size))
        )
    return len(leaves), spec


def output_names(net: nn.Module) -> list[str]:
    """Names of the tracking graph's outputs for ``net.output_kind``."""
    kind = net.output_kind
    if kind == "response":
        return ["response"]
    if kind == "rpn":
        return ["cls", "loc"]
    if kind == "rpn_mask":
        refine = ["p0", "p1", "p2"] if net.refine_head is not None else []
        return ["cls", "loc", "corr", *refine]
    raise ValueError(f"cannot export a net with output_kind {kind!r} (response, rpn, rpn_mask)")


class TemplateGraph(nn.Module):
    """``z`` (B, 3, 127, 127) -> the flattened kernel tensors of ``net.template``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Exemplars z (B, 3, 127, 127) -> kernels k0 .. k{n-1}, each (B, C_i, h_i, w_i)."""
        (z,) = inputs
        return tuple(flatten_kernels(self.net.template(z))[0])


class TrackGraph(nn.Module):
    """Kernel tensors + ``x`` (B, 3, S, S) -> the net's tracking outputs (`output_names`)."""

    def __init__(self, net: nn.Module, spec: KernelSpec) -> None:
        super().__init__()
        self.net = net
        self.spec = spec

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """k0 .. k{n-1} (batch B) and x (B, 3, S, S) -> outputs (batch B)."""
        kernels = unflatten_kernels(inputs[:-1], self.spec)
        x = inputs[-1]
        if self.net.output_kind == "response":
            return (self.net(kernels, x),)
        if self.net.output_kind == "rpn":
            return tuple(self.net(kernels, x))
        out = self.net(kernels, x, with_mask_head=False)
        refine = tuple(out.features) if self.net.refine_head is not None else ()
        return (out.cls, out.loc, out.corr, *refine)


class MaskGraph(nn.Module):
    """Search maps and correlation + ``cells`` (N, 3) of (b, y, x) -> mask logits (N, 1, m, m)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """Refine: p0, p1, p2, corr (B, 256, S, S), cells -> (N, 1, 127, 127); else corr, cells
        -> (N, 1, M, M), the mask head's logits at those cells."""
        *maps, corr, cells = inputs
        ib, iy, ix = cells[:, 0], cells[:, 1], cells[:, 2]
        refine = self.net.refine_head
        if refine is None:
            vec = corr[ib, :, iy, ix].reshape(-1, corr.shape[1], 1, 1)
            logits = self.net.mask_head.head(vec)  # 1x1 convs: the row of that cell
            m = math.isqrt(logits.shape[1])
            return logits.reshape(-1, 1, m, m)
        return refine.decode(*refine.gather_cells(maps, corr, ib, iy, ix))


def mask_input_names(net: nn.Module) -> list[str]:
    """Inputs of `MaskGraph`: (p0, p1, p2,) corr, cells."""
    return [*(["p0", "p1", "p2"] if net.refine_head is not None else []), "corr", "cells"]
