"""SiamMask training, refine ("sharp") stage (foolwood/SiamMask ``tools/train_siammask_refine.py``,
``experiments/siammask_sharp``; spec siammask-and-vos.md §1.6), DDP-safe.

A `SiamMaskModule` whose net has the `Refine` head and SiamMask's neck crop (``crop_margin: 4``:
a 143 px search gives a 3 x 3 score map). It starts from a base-stage network (``init_from``,
loaded when a fit starts, not on resume) and trains MaskCorr's correlation branches and Refine
only, on the refine's 127 x 127 logits at the positive cells (label windows unpadded at 143):

- Frozen, BatchNorm in eval mode: backbone, neck and RPN head (SiamMask ``features.eval()``,
  ``rpn_model.eval()``, ``BNtoFixed``). MaskCorr (its conv_kernel / conv_search BNs) and Refine
  train. MaskCorr's 63 x 63 head neither runs nor trains.
- The neck's gradient (``neck_grads``, default true, as SiamMask): SiamMask computes it without
  applying it (the neck is not in its optimiser), but its global ``clip_grad_norm_(10)`` counts
  it. Here the neck requires grad and sits in an optimiser group at LR 0 (``neck_fixed``), so
  Lightning's clip norm is SiamMask's; it costs one 1x1 conv's backward on the 9 x 9 / 7 x 7 maps
  (and, under DDP, an all-reduce of 0.26 M more gradients). ``neck_grads: false`` freezes it:
  cheaper, but the clip norm then misses the neck's share, so updates are clipped less often.
- Loss: ``mask_weight * mask`` (36); cls and loc are computed on the 3 x 3 map and logged, and
  enter the total only with a non-zero weight (SiamMask: 0, 0), so backward never visits the RPN.
  With N = 0 positive cells the mask loss is the refine's empty rows summed times 0: every Refine
  and MaskCorr parameter still gets a (zero) gradient, so DDP does not wait for one.
- Memory: Refine runs on the positive cells' windows only (`Refine.rows`, about 4.4 MB of fp32
  activations per cell for forward + backward; at most 9 cells per sample at 143, about 5 on a
  centred target), so a sample costs at most ~40 MB beyond the frozen backbone's forward.
- Schedule: log 0.01 -> 0.0025 over 20 epochs, no warm-up (``mask_lr_mult`` 1), SGD rebuilt every
  epoch by SiamMask: ``momentum_reset: epoch``.
- Refine's Conv2d weights start from ``kaiming_uniform_(a=1)``, its ConvTranspose2d and biases
  from PyTorch's default (SiamMask ``siammask_sharp/custom.py``; pysot's `Refine` keeps PyTorch's).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from siamlightning.errors import ConfigError
from siamlightning.lit.rpn_schedule import epoch_factor, pysot_lr_space, pysot_scheduler
from siamlightning.lit.siammask import SiamMaskModule
from siamlightning.lit.siamrpn import _BN
from siamlightning.models.rpn_losses import rpn_loss
from siamlightning.models.siammask import SiamMaskNet, SiamMaskOutput
from siamlightning.models.siammask_losses import (
    cut_label_windows,
    label_windows,
    mask_cells,
    mask_logistic_loss,
)
from siamlightning.models.siammask_weights import (
    check_anchors,
    is_foolwood_layout,
    ours_key,
    read_weights,
)

log = logging.getLogger(__name__)
#: parts a base-stage network must provide; Refine (``refine_head.``) may be new
BASE_PARTS = ("backbone.", "neck.", "rpn_head.", "mask_head.")
NO_INIT = (
    "model.init_from is not set: the refine (sharp) stage starts from a base-stage network - "
    "train experiment=siammask_base first and pass model.init_from=<its checkpoint>"
)


def read_stage_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """A Lightning checkpoint of a SiamMask module (``net.*``), a foolwood/SiamMask file (base or
    sharp ``Custom``, ``checkpoint_e*.pth`` / ``SiamMask_*.pth``) or pysot's ``siammask_r50_l3``
    ``model.pth`` -> (state dict in `SiamMaskNet` names, ``lightning|foolwood|pysot``)."""
    src, extra = read_weights(path)
    if any(k.startswith("net.") for k in src):
        return {k[4:]: v for k, v in src.items() if k.startswith("net.")}, "lightning"
    if is_foolwood_layout(src):
        check_anchors(extra.get("anchor_cfg"), f"{path}: ")
        return {ours_key(k) or k: v for k, v in src.items()}, "foolwood"
    return src, "pysot"


def _keys(keys: list[str], limit: int = 6) -> str:
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_base_weights(net: SiamMaskNet, path: str | Path) -> dict[str, list[str]]:
    """Load a base-stage network into ``net`` (SiamMask ``load_pretrain(strict=False)``): every
    backbone / neck / rpn_head / mask_head tensor must come from ``path`` with its shape (else
    ValueError naming the file and the keys); ``refine_head`` tensors absent from the file keep
    their initialisation. Returns ``{"new": [...], "unexpected": [...]}`` (file keys ``net`` has
    no place for, ignored as SiamMask does), both logged."""
    src, kind = read_stage_weights(path)
    ours = net.state_dict()
    missing = [k for k in ours if k not in src and not k.endswith("num_batches_tracked")]
    lacking = [k for k in missing if k.startswith(BASE_PARTS)]
    shapes = [
        f"{k} {tuple(v.shape)} (ours {tuple(ours[k].shape)})"
        for k, v in src.items()
        if k in ours and v.shape != ours[k].shape
    ]
    if lacking or shapes or not set(src) & set(ours):
        parts = [f"{path}: not a SiamMask base-stage network ({kind} layout)"]
        if lacking:
            parts.append(f"{len(lacking)} missing backbone/neck/rpn/mask keys: {_keys(lacking)}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches: {_keys(shapes)}")
        raise ValueError("\n  ".join(parts))
    unexpected = sorted(k for k in src if k not in ours)
    net.load_state_dict({k: v for k, v in src.items() if k in ours}, strict=False)
    new = [k for k in missing if not k.startswith(BASE_PARTS)]
    log.info("init_from %s (%s): %d tensors loaded", path, kind, len(src) - len(unexpected))
    if new:
        log.info("init_from %s: %d new tensors keep their init: %s", path, len(new), _keys(new))
    if unexpected:
        log.warning(
            "init_from %s: %d tensors ignored: %s", path, len(unexpected), _keys(unexpected)
        )
    return {"new": new, "unexpected": unexpected}


def siammask_refine_init(refine: nn.Module) -> None:
    """SiamMask's Refine initialisation: ``kaiming_uniform_(a=1)`` on every Conv2d weight."""
    for m in refine.modules():
        if type(m) is nn.Conv2d:
            nn.init.kaiming_uniform_(m.weight, a=1)


def cap_cells(cells: torch.Tensor, limit: int) -> torch.Tensor:
    """Cells (N, 3) of (b, y, x) -> at most ``limit`` of each sample b, drawn uniformly at random
    (torch's global generator), in their original order."""
    if cells.shape[0] == 0:
        return cells
    order = torch.randperm(cells.shape[0], device=cells.device)
    b = cells[order, 0]
    b, by_sample = b.sort(stable=True)  # shuffled within each sample
    order = order[by_sample]
    first = torch.searchsorted(b, b, right=False)  # index of each sample's first cell
    rank = torch.arange(b.shape[0], device=b.device) - first
    keep = order[rank < limit].sort().values
    return cells[keep]


class SiamMaskRefineModule(SiamMaskModule):
    """Trains MaskCorr + Refine of a `SiamMaskNet` on 143 px pairs from a base-stage network.

    Args:
        net: a SiamMask net with ``refine_head`` (and the ``crop_margin: 4`` neck at 143 px).
        init_from: the base-stage weights (`load_base_weights`), loaded when a fit starts unless
            it resumes; a fit without it (and without ``from_scratch``) is a `ConfigError`.
        from_scratch: allow a fit without ``init_from`` (tests, smoke runs).
        mask_lr_mult: LR of MaskCorr and Refine relative to ``base_lr`` (SiamMask 1).
        neck_grads: compute the neck's gradients for the clip norm, never applying them.
        refine_init: apply SiamMask's Refine initialisation (`siammask_refine_init`).
        cells_per_sample: train Refine on at most this many of each pair's positive cells,
            drawn uniformly at random (``None``: all of them, SiamMask). Refine's cost is per
            cell, and a pair's positive cells (about 6 at 143 px) see the same target through
            windows 8 px apart: a cap spends the step on more pairs instead.
        backbone_train_layers: must be empty (the backbone is frozen).
        **kwargs: `SiamMaskModule` / `SiamRPNModule` arguments; SiamMask's refine values are the
            defaults here (LR 0.01 -> 0.0025, no warm-up, weights 0 / 0 / 36, momentum reset
            every epoch).
    """

    def __init__(
        self,
        *,
        net: SiamMaskNet,
        init_from: str | None = None,
        from_scratch: bool = False,
        mask_lr_mult: float = 1.0,
        neck_grads: bool = True,
        refine_init: bool = True,
        cells_per_sample: int | None = None,
        backbone_train_layers: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        if cells_per_sample is not None and cells_per_sample < 1:
            raise ValueError(f"cells_per_sample must be None or >= 1, got {cells_per_sample}")
        if net.refine_head is None:
            raise ValueError("SiamMaskRefineModule needs a net with refine_head (the Refine head)")
        if list(backbone_train_layers):
            raise ValueError(
                "the refine stage trains MaskCorr and Refine only: backbone_train_layers must be "
                f"empty, got {list(backbone_train_layers)}"
            )
        self.neck_grads = neck_grads  # read by frozen_parameters during SiamRPNModule.__init__
        defaults = dict(
            base_lr=0.01, lr_end=0.0025, warmup_epochs=0, cls_weight=0.0, loc_weight=0.0
        )
        kwargs = defaults | {"momentum_reset": "epoch"} | kwargs
        super().__init__(net=net, backbone_train_layers=(), **kwargs)
        self.init_from = init_from
        self.from_scratch = from_scratch
        self.mask_lr_mult = mask_lr_mult
        self.cells_per_sample = cells_per_sample
        if refine_init:
            siammask_refine_init(net.refine_head)

    def trained_parameters(self) -> list[nn.Parameter]:
        """What the optimiser updates: MaskCorr without its 63 x 63 head, and Refine."""
        head = {id(p) for p in self.net.mask_head.head.parameters()}
        mask = [p for p in self.net.mask_head.parameters() if id(p) not in head]
        return mask + list(self.net.refine_head.parameters())

    def frozen_parameters(self, epoch: int | None = None) -> list[nn.Parameter]:
        """Every parameter but the trained ones (and the neck's with ``neck_grads``)."""
        keep = {id(p) for p in self.trained_parameters()}
        if self.neck_grads and self.net.neck is not None:
            keep |= {id(p) for p in self.net.neck.parameters()}
        return [p for p in self.net.parameters() if id(p) not in keep]

    def fixed_parts(self) -> list[nn.Module]:
        """Backbone, neck and RPN head: eval mode (BatchNorm statistics fixed) while training."""
        return [m for m in (self.net.backbone, self.net.neck, self.net.rpn_head) if m is not None]

    def frozen_batchnorms(self, epoch: int | None = None) -> list[nn.Module]:
        """The BatchNorm layers of `fixed_parts`."""
        parts = self.fixed_parts()
        return [m for part in parts for m in part.modules() if isinstance(m, _BN)]

    def train(self, mode: bool = True) -> SiamMaskRefineModule:
        """``nn.Module.train``, keeping `fixed_parts` in eval mode."""
        super().train(mode)
        if mode:
            for part in self.fixed_parts():
                part.eval()
        return self

    def mask_rows(self, out: SiamMaskOutput, cells: torch.Tensor) -> torch.Tensor:
        """Refine logits (N, 1, 127, 127) of N cells (N, 3) of (b, y, x), their windows only."""
        return self.net.mask_rows(out, cells, refine=True)

    def _losses(
        self, out: SiamMaskOutput, batch: dict[str, torch.Tensor], batch_idx: int, stage: str
    ) -> dict[str, torch.Tensor]:
        """``mask_weight`` x the refine mask loss (+ cls / loc with non-zero weights), the RPN
        terms, IoUs and N (``mask_cells``) for the log."""
        t = self._targets(batch, out.cls, batch_idx, stage)
        rpn = rpn_loss(out.cls, out.loc, t.cls, t.delta, t.delta_weight, **self.loss_weights)
        geometry = label_windows(
            search_size=batch["search"].shape[-1],
            score_size=out.cls.shape[-1],
            stride=self.net.stride,
        )
        cells = mask_cells(t.cls, batch["has_mask"], batch["negative"]).nonzero()
        if self.cells_per_sample is not None and stage == "train":
            cells = cap_cells(cells, self.cells_per_sample)
        labels = cut_label_windows(batch["search_mask"], cells, geometry)
        mask = mask_logistic_loss(self.mask_rows(out, cells), labels)  # N = 0: rows.sum() * 0
        loss = self.mask_weight * mask.loss
        for name, term in (("cls_weight", rpn.cls), ("loc_weight", rpn.loc)):
            if self.loss_weights[name]:
                loss = loss + self.loss_weights[name] * term
        return {
            "loss": loss,
            "cls_loss": rpn.cls.detach(),
            "loc_loss": rpn.loc.detach(),
            "mask_loss": mask.loss,
            "iou_m": mask.iou_m,
            "iou_5": mask.iou_5,
            "iou_7": mask.iou_7,
            "mask_cells": mask.rows,
        }

    def on_fit_start(self) -> None:
        """Load ``init_from`` on a fresh fit (a resumed one restored its own weights already)."""
        super().on_fit_start()
        if self.trainer.ckpt_path is not None:
            return
        if self.init_from is None:
            if not self.from_scratch:
                raise ConfigError(NO_INIT)
            return
        load_base_weights(self.net, self.init_from)

    def configure_optimizers(self) -> dict[str, Any]:
        """SGD over MaskCorr + Refine (``mask``) and, at LR 0, the neck (``neck_fixed``, for the
        clip norm only), the log schedule stepped per epoch."""
        epochs = self.epochs or int(self.trainer.max_epochs or -1)
        if epochs <= 0:
            raise ValueError("SiamMaskRefineModule needs trainer.max_epochs (or model.epochs) > 0")
        factor = epoch_factor(pysot_lr_space(epochs=epochs, **self.schedule_kwargs), self.lr_start)
        world = self.trainer.world_size if self.pysot_grad_sum else 1
        lr = self.base_lr * self.mask_lr_mult * world
        groups: list[dict[str, Any]] = [
            {"params": self.trained_parameters(), "lr": lr, "name": "mask"}
        ]
        factors = [factor]
        if self.neck_grads and self.net.neck is not None:
            neck = list(self.net.neck.parameters())
            groups.append({"params": neck, "lr": 0.0, "weight_decay": 0.0, "name": "neck_fixed"})
            factors.append(lambda epoch: 0.0)
        opt = self.optimizer_factory(groups)
        for g in opt.param_groups:  # pysot_grad_sum: decay the summed gradient
            g["weight_decay"] = g.get("weight_decay", 0.0) / world
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": pysot_scheduler(opt, factors), "interval": "epoch"},
        }
