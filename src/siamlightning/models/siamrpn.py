"""SiamRPN / SiamRPN++: backbone -> optional adjust neck -> RPN head (pysot ``ModelBuilder``).

Submodules are named ``backbone``, ``neck`` and ``rpn_head`` as in pysot, so with pysot-named
parts the state_dict keys equal pysot's (see :mod:`siamlightning.models.pysot_weights`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

Features = torch.Tensor | list[torch.Tensor]


class SiamRPNNet(nn.Module):
    """Stateless SiamRPN: ``template(z) -> kernels``, ``forward(kernels, x) -> (cls, loc)``.

    Args:
        backbone: returns one map or a list of maps, one per entry of its ``used_layers``.
        neck: optional module mapping those maps (a single map when there is one) to the head's.
        head: an RPN head with ``template(z_f) -> kernels`` and ``forward(kernels, x_f)``.
        head_layers: entries of the backbone's ``used_layers`` that feed neck and head (default:
            all). SiamMask uses ``used_layers`` (0, 1, 2, 3) and ``head_layers`` (3,).
        input_format: what the weights expect; pysot's are BGR 0-255 without normalisation.
    """

    output_kind = "rpn"  # forward -> (cls, loc) anchor maps (`Tracker.accepts`)

    def __init__(
        self,
        *,
        backbone: nn.Module,
        neck: nn.Module | None = None,
        head: nn.Module,
        head_layers: Sequence[int] | None = None,
        input_format: str = "bgr255",
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.rpn_head = head
        self.input_format = input_format
        self.stride = int(getattr(backbone, "stride", 8))
        self.anchor_num = int(getattr(head, "anchor_num", 5))
        used = getattr(backbone, "used_layers", None)
        if head_layers is None:
            self._select: list[int] | None = None
        else:
            if used is None:
                raise ValueError("head_layers needs a backbone with used_layers")
            missing = [i for i in head_layers if i not in used]
            if missing:
                raise ValueError(f"head_layers {missing} are not in backbone.used_layers {used}")
            self._select = [list(used).index(i) for i in head_layers]

    def features(self, images: torch.Tensor) -> Features:
        """(B, 3, H, W) -> neck output: one (B, C, h, w) map or a list of them."""
        feats: Any = self.backbone(images)
        if isinstance(feats, torch.Tensor):
            feats = [feats]
        if self._select is not None:
            feats = [feats[i] for i in self._select]
        feats = feats[0] if len(feats) == 1 else list(feats)
        return feats if self.neck is None else self.neck(feats)

    def template(self, z: torch.Tensor) -> Any:
        """Exemplars (B, 3, 127, 127) -> head kernels (per level: cls and loc kernels)."""
        return self.rpn_head.template(self.features(z))

    def forward(self, kernels: Any, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Kernels (batch B or 1) and search (B, 3, H, W) -> cls (B, 2A, S, S), loc (B, 4A, S, S).

        cls channels are viewed as (2, A), background first; loc as (4, A): dx, dy, dw, dh.
        """
        return self.rpn_head(kernels, self.features(x))
