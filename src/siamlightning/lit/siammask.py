"""SiamMask training, base stage (foolwood/SiamMask ``tools/train_siammask.py``,
``experiments/siammask_base``; spec siammask-and-vos.md §1.2-1.5), DDP-safe.

A `SiamRPNModule` (targets, RPN losses, per-epoch schedule, backbone freezing, DDP re-wrap,
checkpoint export) whose net is a `SiamMaskNet`, plus the mask loss of
`siamlightning.models.siammask_losses`: total = cls_weight * cls + loc_weight * loc +
mask_weight * mask (SiamMask base: 1.0, 1.2, 36). The mask loss is taken at the score-map cells
that hold a kept positive anchor, for pairs with ``has_mask`` that are not negatives; the batch
carries ``search_mask`` (B, 1, X, X) uint8 {0, 1} and ``has_mask`` (B,) bool besides the SiamRPN
keys. Logged: ``<stage>/mask_loss``, ``iou_m``, ``iou_5``, ``iou_7`` (0 in a batch without
positive mask cells, as SiamMask logs them) and ``mask_cells`` (N).

Where SiamMask differs from pysot's SiamRPN++ recipe:

- Backbone BatchNorm: every backbone BN stays in eval mode (running ImageNet statistics), also
  in layer2/3 after they unfreeze at epoch 10 (their weights, BN's gamma/beta included, train):
  SiamMask calls ``model.train()`` once before the unfreeze, so nothing switches those BNs back.
  Neck, RPN and MaskCorr BNs train.
- Momentum: SiamMask rebuilds its optimiser at the unfreeze epoch (``momentum_reset:
  unfreeze``), which resets every momentum buffer; here the optimiser's state is cleared at the
  start of that epoch, once (a run resumed inside it does not clear again). ``epoch`` clears it
  at every epoch start (SiamMask's refine stage), ``never`` keeps it (pysot).
- Step guard ``max_loss`` 1e4 (`SiamRPNModule`): SiamMask skips steps with a NaN, infinite or
  larger loss.

The forward leaves MaskCorr's 63 x 63 head out (``mask`` None) and `mask_rows` runs it at the
selected cells only (`MaskCorr.head_rows`). A stage with another mask head (the refine stage)
overrides `mask_rows`: it returns the mask logits of the selected cells, (N, 1, m, m).
"""

from __future__ import annotations

from typing import Any

import torch

from siamlightning.lit.siamrpn import _BN, SiamRPNModule
from siamlightning.models.siammask import SiamMaskNet, SiamMaskOutput
from siamlightning.models.siammask_losses import (
    cut_label_windows,
    label_windows,
    mask_cells,
    mask_logistic_loss,
)

MOMENTUM_RESETS = ("unfreeze", "epoch", "never")
_STATE_KEY = "siammask"


class SiamMaskModule(SiamRPNModule):
    """Trains a `SiamMaskNet` (box and mask heads) on pair batches that carry search masks.

    Args:
        net: the SiamMask network (base stage: ``refine_head=None``, 63 x 63 mask rows).
        mask_weight: weight of the mask loss in the total (SiamMask base: 36).
        momentum_reset: when the optimiser's momentum is reset (``unfreeze``, ``epoch``,
            ``never``).
        max_loss: skip the optimiser step above this loss (or NaN / Inf); None: never.
        freeze_backbone_bn: keep every backbone BatchNorm in eval mode (SiamMask, whose
            backbone is ImageNet-trained); False: the BNs of trained layers train (a backbone
            trained from scratch, as ``experiment=siammask_synthetic``).
        **kwargs: the `SiamRPNModule` arguments (optimizer, schedule, backbone freezing, ...).
    """

    def __init__(
        self,
        *,
        net: SiamMaskNet,
        mask_weight: float = 36.0,
        momentum_reset: str = "unfreeze",
        max_loss: float | None = 1e4,
        freeze_backbone_bn: bool = True,
        **kwargs: Any,
    ) -> None:
        if momentum_reset not in MOMENTUM_RESETS:
            raise ValueError(
                f"momentum_reset must be one of {MOMENTUM_RESETS}, got {momentum_reset!r}"
            )
        self.freeze_backbone_bn = freeze_backbone_bn
        super().__init__(net=net, max_loss=max_loss, **kwargs)
        self.mask_weight = mask_weight
        self.momentum_reset = momentum_reset
        self._momentum_reset_epoch = -1  # the last epoch whose start cleared the momenta

    def frozen_batchnorms(self, epoch: int | None = None) -> list[torch.nn.Module]:
        """Every BatchNorm of the backbone, in every epoch (SiamMask: eval mode throughout);
        with ``freeze_backbone_bn=False`` those of the untrained layers only (`SiamRPNModule`)."""
        if not self.freeze_backbone_bn:
            return super().frozen_batchnorms(epoch)
        return [m for m in self.net.backbone.modules() if isinstance(m, _BN)]

    def resets_momentum(self, epoch: int) -> bool:
        """Whether the optimiser's momentum is reset at the start of ``epoch``."""
        if self.momentum_reset == "epoch":
            return epoch > 0
        return (
            self.momentum_reset == "unfreeze"
            and bool(self._train_modules)
            and epoch == self.backbone_unfreeze_epoch > 0
        )

    def on_train_epoch_start(self) -> None:
        """Trained parameters, BN modes and DDP as `SiamRPNModule`; then reset the momenta."""
        super().on_train_epoch_start()
        epoch = self.current_epoch
        if self.resets_momentum(epoch) and self._momentum_reset_epoch != epoch:
            for opt in self.trainer.optimizers:
                opt.state.clear()  # what a rebuilt optimiser starts from
            self._momentum_reset_epoch = epoch

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> SiamMaskOutput:
        """uint8 RGB template (B, 3, 127, 127), search (B, 3, X, X) -> `SiamMaskOutput` without
        MaskCorr's 63 x 63 logits (``mask`` None): `mask_rows` computes them at the loss's
        cells only (the same logits and gradients; at 191 px the full head cost ~35% of the
        step and ~97% of its rows were never read)."""
        kernels = self.net.template(self._images(template))
        return self.net(kernels, self._images(search), with_mask_head=False)

    def mask_rows(self, out: SiamMaskOutput, cells: torch.Tensor) -> torch.Tensor:
        """Mask logits (N, 1, m, m) of N cells (N, 3) of (b, y, x): MaskCorr's 63 x 63 rows."""
        return self.net.mask_rows(out, cells, refine=False)

    def _losses(
        self, out: SiamMaskOutput, batch: dict[str, torch.Tensor], batch_idx: int, stage: str
    ) -> dict[str, torch.Tensor]:
        """RPN terms of `SiamRPNModule` plus the mask loss, its IoUs and N; ``loss`` the total."""
        t = self._targets(batch, out.cls, batch_idx, stage)
        terms = super()._losses((out.cls, out.loc), batch, batch_idx, stage, targets=t)
        geometry = label_windows(
            search_size=batch["search"].shape[-1],
            score_size=out.cls.shape[-1],
            stride=self.net.stride,
        )
        weight = mask_cells(t.cls, batch["has_mask"], batch["negative"])
        cells = weight.nonzero()  # (N, 3) b, y, x: SiamMask's row order
        labels = cut_label_windows(batch["search_mask"], cells, geometry)
        # N = 0: rows.sum() * 0, through the head's parameters (DDP sees every gradient)
        mask = mask_logistic_loss(self.mask_rows(out, cells), labels)
        terms["loss"] = terms["loss"] + self.mask_weight * mask.loss
        return terms | {
            "mask_loss": mask.loss,
            "iou_m": mask.iou_m,
            "iou_5": mask.iou_5,
            "iou_7": mask.iou_7,
            "mask_cells": mask.rows,
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The export config (`SiamRPNModule`) and the epoch whose start reset the momenta."""
        super().on_save_checkpoint(checkpoint)
        checkpoint[_STATE_KEY] = {"momentum_reset_epoch": self._momentum_reset_epoch}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resume inside a reset epoch without resetting again."""
        state = checkpoint.get(_STATE_KEY, {})
        self._momentum_reset_epoch = int(state.get("momentum_reset_epoch", -1))
