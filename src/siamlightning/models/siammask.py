"""SiamMask (pysot ``ModelBuilder`` with MASK and REFINE): box branch, mask head and refinement.

The backbone returns its ``used_layers`` maps (pysot siammask_r50_l3: conv1, layer1, layer2,
layer3 of the atrous ResNet-50). The last map goes through the neck into a DepthwiseRPN
(``rpn_head``) and a `MaskCorr` (``mask_head``); the others are the search windows `Refine`
(``refine_head``) fuses. Submodule names equal pysot's, so the state_dict keys do too.

Stateless, unlike pysot (which keeps ``zf``, ``xf`` and the correlation feature on the model):
``template(z) -> kernels``, ``forward(kernels, x) -> SiamMaskOutput`` (everything the refinement
needs included), ``mask(outputs, pos) -> logits`` (tracking) and ``mask_rows(outputs, rows) ->
logits`` (training: the positive positions only).

Search sizes. Tracking and the base stage use 255 (S = 25). SiamMask's refine ("sharp") stage
trains on 143 px searches with the SiamMask neck crop (``AdjustAllLayer(crop_margin=4)``):
143 -> p0 69, p1 35, p2 17, layer3 17 -> neck 9 -> DepthCorr 7 -> xcorr 3x3, and the refine
windows are unpadded (`Refine` derives the padding from the map sizes). pysot's centre-7 neck
rule would give a 1x1 map there; at 127 / 255 both rules are identical, so pysot's weights and
outputs are unchanged (spec siammask-and-vos.md §0.2, §1.3).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import nn

from siamlightning.models.heads.mask import REFINE_OUTPUT_SIZE, split_rows


class SiamMaskOutput(NamedTuple):
    """One search forward: cls (B, 2A, S, S), loc (B, 4A, S, S), mask (B, M², S, S) logits,
    the search maps the refinement reads (p0, p1, p2) and the mask correlation (B, 256, S, S)."""

    cls: torch.Tensor
    loc: torch.Tensor
    mask: torch.Tensor | None  # None from forward(..., with_mask_head=False)
    features: list[torch.Tensor]
    corr: torch.Tensor


class SiamMaskNet(nn.Module):
    """Stateless SiamMask: backbone -> (neck) -> DepthwiseRPN + MaskCorr, optional Refine.

    Args:
        backbone: returns a list of maps; the last feeds neck and heads, the others `Refine`.
        neck: optional module applied to the last map (template features are centre-cropped).
        head: the box head (`DepthwiseRPN`), ``template(z_f)`` / ``forward(kernels, x_f)``.
        mask_head: a `MaskCorr` with M² output channels (M = 63).
        refine_head: a `Refine`, or None to use the head's M x M logits as the mask.
        input_format: what the weights expect; pysot's are BGR 0-255 without normalisation.
    """

    output_kind = "rpn_mask"  # forward -> `SiamMaskOutput` (`Tracker.accepts`)

    def __init__(
        self,
        *,
        backbone: nn.Module,
        neck: nn.Module | None = None,
        head: nn.Module,
        mask_head: nn.Module,
        refine_head: nn.Module | None = None,
        input_format: str = "bgr255",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.rpn_head = head
        self.mask_head = mask_head
        self.refine_head = refine_head
        self.input_format = input_format
        self.stride = int(getattr(backbone, "stride", 8))
        self.anchor_num = int(getattr(head, "anchor_num", 5))

    def features(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(B, 3, H, W) -> (refine maps [p0, p1, p2], neck output (B, 256, h, w), 7x7 for z)."""
        feats: Any = self.backbone(images)
        if isinstance(feats, torch.Tensor) or len(feats) < 2:
            raise ValueError("SiamMaskNet needs a backbone returning several maps (refine + head)")
        last = feats[-1] if self.neck is None else self.neck(feats[-1])
        return list(feats[:-1]), last

    def template(self, z: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """Exemplars (B, 3, 127, 127) -> (box-head kernels, mask kernel (B, 256, 5, 5))."""
        _, z_f = self.features(z)
        return self.rpn_head.template(z_f), self.mask_head.template(z_f)

    def forward(
        self, kernels: tuple[Any, torch.Tensor], x: torch.Tensor, *, with_mask_head: bool = True
    ) -> SiamMaskOutput:
        """Kernels (batch B or 1) and search (B, 3, W, W) -> `SiamMaskOutput` (S = 25 at 255,
        3 at 143 with the SiamMask neck). ``with_mask_head=False`` skips MaskCorr's 63² head
        (``mask`` None): SiamMask's refine stage, whose head neither runs nor trains, and the
        base stage's training, which runs it at the positive cells only (`mask_rows`)."""
        features, x_f = self.features(x)
        cls, loc = self.rpn_head(kernels[0], x_f)
        if with_mask_head:
            mask, corr = self.mask_head(kernels[1], x_f)
        else:
            mask, corr = None, self.mask_head.correlate(kernels[1], x_f)
        return SiamMaskOutput(cls=cls, loc=loc, mask=mask, features=features, corr=corr)

    @property
    def mask_size(self) -> int:
        """Side of the masks `mask` returns: 127 with the refinement, else the head's M (63)."""
        if self.refine_head is not None:
            return REFINE_OUTPUT_SIZE
        return self._head_side

    @property
    def _head_side(self) -> int:
        return math.isqrt(self.mask_head.head[-1].out_channels)

    def mask(self, outputs: SiamMaskOutput, pos: tuple[int, int] | None = None) -> torch.Tensor:
        """Mask logits (N, 1, m, m) at score-map position ``pos`` (y, x), N = B; or at every
        position (``pos=None``, N = B * S * S ordered (b, y, x)). m = `mask_size`. Without the
        head's logits (``forward(..., with_mask_head=False)``) MaskCorr's head runs at ``pos``
        only (`mask_rows`), or over the whole map."""
        if self.refine_head is not None:
            return self.refine_head(outputs.features, outputs.corr, pos)
        if pos is not None:  # the cells (b, pos[0], pos[1]) of every search b
            corr = outputs.corr
            cells = torch.tensor([[i, *pos] for i in range(corr.shape[0])], device=corr.device)
            return self.mask_rows(outputs, cells, refine=False)
        head = self.mask_head.head(outputs.corr) if outputs.mask is None else outputs.mask
        b, _, sh, sw = head.shape
        m = self._head_side
        return head.permute(0, 2, 3, 1).reshape(b * sh * sw, 1, m, m)

    def mask_rows(
        self, outputs: SiamMaskOutput, rows: torch.Tensor, *, refine: bool | None = None
    ) -> torch.Tensor:
        """Mask logits (N, 1, m, m) of rows (N,) into B * S * S ordered (b, y, x) (the order of
        ``weight.view(-1)`` for a (B, 1, S, S) weight) or of cells (N, 3) of (b, y, x).

        Refine (m = 127; ``refine=None`` means "if the net has one"): only those rows' windows
        are gathered, padded or not as the search size implies (`Refine.rows`); base (m = 63):
        those rows of the head's output, or, after ``forward(..., with_mask_head=False)``,
        MaskCorr's head run at those rows only (`MaskCorr.head_rows`: the same logits; the
        base stage's training path)."""
        use_refine = self.refine_head is not None if refine is None else refine
        if use_refine:
            if self.refine_head is None:
                raise ValueError("mask_rows(refine=True) on a SiamMaskNet without refine_head")
            return self.refine_head.rows(outputs.features, outputs.corr, rows)
        m = self._head_side
        source = outputs.corr if outputs.mask is None else outputs.mask
        ib, iy, ix = split_rows(torch.as_tensor(rows, device=source.device), source.shape)
        if outputs.mask is None:
            cells = torch.stack([ib, iy, ix], 1)
            return self.mask_head.head_rows(outputs.corr, cells).reshape(-1, 1, m, m)
        return outputs.mask[ib, :, iy, ix].reshape(-1, 1, m, m)
