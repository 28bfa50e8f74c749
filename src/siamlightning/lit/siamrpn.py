"""SiamRPN / SiamRPN++ training as pysot does it (``tools/train.py``), DDP-safe.

Targets are assigned on the device (``rpn_targets``) with a generator seeded from
``(seed, global_step, batch, rank)``, so a step is reproducible; the loss is
``cls_weight * cls + loc_weight * loc`` (1.0 / 1.2).

Schedule (per epoch, `siamlightning.lit.rpn_schedule`): ``warmup_epochs`` of a step warm-up from
``warmup_start_lr``, then log-spaced values from ``lr_start`` to ``lr_end``; each group runs at
``lr = lr_space[epoch] * initial_lr / lr_start`` with ``initial_lr = base_lr`` (head, neck) or
``backbone_lr_mult * base_lr`` (backbone), so alex (``base_lr`` 0.005, ``lr_start`` 0.01) trains
at 0.5x its ``lr_space``.

Frozen means not computed, as in pysot: a backbone parameter requires grad only while it trains
(``backbone_train_layers`` from ``backbone_unfreeze_epoch`` on; the rest of the backbone never), so
backward computes no gradient for a frozen part and does not enter the part of the backbone below
the lowest trained layer. The optimiser holds every parameter from the start (the backbone groups
at LR 0 until the unfreeze; SGD skips a parameter without a gradient, so frozen parameters get no
weight decay and no momentum, and clipping sees only the trained ones, as in pysot). BatchNorm
layers of the fixed parts stay in eval mode (``train()`` is overridden). At each epoch start the
module re-applies both; when the set of trained parameters changed (the unfreeze epoch, or the
first epoch of a run resumed after it) and the module runs under DDP, it is re-wrapped
(`rewrap_ddp`): DDP fixes the parameters it all-reduces when it wraps, and the new wrapper
broadcasts rank 0's parameters and buffers, so every rank starts the new phase identical. Unlike
pysot, the momentum buffers of neck and head are not reset at the unfreeze epoch.

Matching pysot across GPUs: pysot SUMS gradients over its W processes (``reduce_gradients``),
Lightning DDP averages them. The same updates need ``base_lr * W`` (8 GPUs: 0.04) and, as pysot
decays and clips the summed gradient, ``weight_decay / W`` and ``gradient_clip_val / W``:
``pysot_grad_sum=True`` applies all three. ``data.batch_size`` is per process (pysot's BATCH_SIZE).

Step guard (``max_loss``, off by default): pysot and SiamMask skip ``optimizer.step()`` when the
loss is NaN, infinite or above 1e4 (``is_valid_number``). With ``max_loss`` set the module does the
same, decided over all ranks (one all-reduce of a flag per step under DDP), counts the skipped
steps (``train/skipped_steps`` per epoch) and warns once per epoch, as for unreadable frames.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.optim import Optimizer

from siamlightning.lit.common import (
    check_rewrappable,
    compile_net,
    compile_options,
    rewrap_ddp,
    save_export,
    tracker_export,
    warn_skipped_frames,
    warn_skipped_steps,
)
from siamlightning.lit.rpn_schedule import (
    epoch_factor,
    pysot_lr_space,
    pysot_param_groups,
    pysot_scheduler,
)
from siamlightning.models.anchors import training_anchors
from siamlightning.models.pysot_weights import load_backbone_weights
from siamlightning.models.rpn_losses import rpn_loss
from siamlightning.models.rpn_targets import RPNTargets, rpn_targets
from siamlightning.models.siamrpn import SiamRPNNet

log = logging.getLogger(__name__)
OptimizerFactory = Callable[[Iterable[dict[str, Any]]], Optimizer]
_BN = nn.modules.batchnorm._BatchNorm


class SiamRPNModule(L.LightningModule):
    """Trains a `SiamRPNNet` on template/search pair batches from `TrackingDataModule`."""

    def __init__(
        self,
        *,
        net: SiamRPNNet,
        optimizer: OptimizerFactory,
        base_lr: float = 0.005,
        lr_start: float | None = None,
        lr_end: float = 0.0005,
        warmup_epochs: int = 5,
        warmup_start_lr: float = 0.001,
        warmup_end_lr: float | None = None,
        epochs: int | None = None,
        backbone_train_layers: Sequence[str] = ("layer2", "layer3", "layer4"),
        backbone_lr_mult: float = 0.1,
        backbone_unfreeze_epoch: int = 10,
        backbone_weights: str | None = None,
        cls_weight: float = 1.0,
        loc_weight: float = 1.2,
        target_kwargs: dict[str, Any] | None = None,
        pysot_grad_sum: bool = False,
        max_loss: float | None = None,
        seed: int = 0,
        channels_last: bool = True,
        compile: bool | Mapping[str, Any] = False,
        export: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if net.input_format not in ("bgr255", "rgb255"):
            raise ValueError(
                f"net.input_format must be 'bgr255' or 'rgb255', got {net.input_format!r}"
            )
        self.net = net
        self.optimizer_factory = optimizer
        self.base_lr = base_lr
        self.lr_start = base_lr if lr_start is None else lr_start
        self.schedule_kwargs = dict(
            lr_start=self.lr_start,
            lr_end=lr_end,
            warmup_epochs=warmup_epochs,
            warmup_start_lr=warmup_start_lr,
            warmup_end_lr=warmup_end_lr,
        )
        self.epochs = epochs
        self.backbone_train_layers = list(backbone_train_layers)
        self.backbone_lr_mult = backbone_lr_mult
        self.backbone_unfreeze_epoch = backbone_unfreeze_epoch
        self.backbone_weights = backbone_weights
        self.loss_weights = dict(cls_weight=cls_weight, loc_weight=loc_weight)
        self.target_kwargs = dict(target_kwargs or {})
        self.pysot_grad_sum = pysot_grad_sum
        self.max_loss = max_loss
        self.seed = seed
        self.channels_last = channels_last
        self._train_modules = [self._backbone_part(n) for n in self.backbone_train_layers]
        self.apply_trainable(epoch=0)
        if channels_last:
            self.net.to(memory_format=torch.channels_last)
        # True or torch.compile options: the net's children are compiled when a fit starts
        self.compile_options = compile_options(compile)
        # net + tracker configs stored in every checkpoint (see `tracker_export`)
        self.export_config: dict[str, Any] = tracker_export(**export) if export else {}
        self.last_outputs: dict[str, torch.Tensor] = {}
        self._anchors: dict[tuple, torch.Tensor] = {}
        self._skipped = 0
        self._bad_loss: torch.Tensor | None = None  # this step's micro-batches, see max_loss
        self._last_loss = torch.zeros(())
        self._skipped_steps: list[float] = []  # the skipped steps' losses, this epoch

    def _backbone_part(self, name: str) -> nn.Module:
        try:
            return self.net.backbone.get_submodule(name)
        except AttributeError:
            children = [n for n, _ in self.net.backbone.named_children()]
            raise ValueError(
                f"backbone_train_layers entry {name!r} is not a submodule of "
                f"{type(self.net.backbone).__name__}; its children are {children}"
            ) from None

    def backbone_trainable(self, epoch: int | None = None) -> bool:
        """Whether ``backbone_train_layers`` are trained in ``epoch`` (default: the current)."""
        epoch = self.current_epoch if epoch is None else epoch
        return bool(self._train_modules) and epoch >= self.backbone_unfreeze_epoch

    def _fixed(self, items: list, epoch: int | None) -> list:
        if not self.backbone_trainable(epoch):
            return items
        train = {id(x) for m in self._train_modules for x in (*m.modules(), *m.parameters())}
        return [x for x in items if id(x) not in train]

    def frozen_parameters(self, epoch: int | None = None) -> list[nn.Parameter]:
        """Backbone parameters that are not trained in ``epoch`` (they do not require grad)."""
        return self._fixed(list(self.net.backbone.parameters()), epoch)

    def frozen_batchnorms(self, epoch: int | None = None) -> list[nn.Module]:
        """BatchNorm layers of the backbone that stay in eval mode in ``epoch``."""
        bns = [m for m in self.net.backbone.modules() if isinstance(m, _BN)]
        return self._fixed(bns, epoch)

    def apply_trainable(self, epoch: int | None = None) -> bool:
        """Make exactly the parameters trained in ``epoch`` require grad; True if a flag changed."""
        frozen = {id(p) for p in self.frozen_parameters(epoch)}
        changed = False
        for p in self.net.parameters():
            want = id(p) not in frozen
            if p.requires_grad != want:
                p.requires_grad_(want)
                changed = True
        return changed

    def train(self, mode: bool = True) -> SiamRPNModule:
        """``nn.Module.train``, keeping the BatchNorm layers of the fixed backbone in eval mode."""
        super().train(mode)
        if mode:
            frozen = {id(m) for m in self.frozen_batchnorms()}
            for m in self.net.backbone.modules():
                if isinstance(m, _BN):
                    m.train(id(m) not in frozen)
        return self

    def on_fit_start(self) -> None:
        """Fail now, not at ``backbone_unfreeze_epoch``, if the strategy cannot be re-wrapped."""
        last = self.trainer.max_epochs
        if self._train_modules and (
            last is None or last < 0 or self.backbone_unfreeze_epoch < last
        ):
            check_rewrappable(
                self.trainer, what=f"model.backbone_unfreeze_epoch={self.backbone_unfreeze_epoch}"
            )

    def on_train_epoch_start(self) -> None:
        """Apply the epoch's trained parameters and BatchNorm modes; re-wrap DDP if they changed."""
        if self.apply_trainable():
            rewrap_ddp(self.trainer)
        if self.training:
            self.train(True)

    def _images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 RGB (B, 3, H, W) -> float 0-255 in the net's channel order and memory format."""
        x = images.float()
        if self.net.input_format == "bgr255":
            x = x.flip(1)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        return x.contiguous(memory_format=fmt)

    def forward(
        self, template: torch.Tensor, search: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 RGB template (B, 3, 127, 127), search (B, 3, X, X) -> cls (B, 2A, S, S), loc."""
        return self.net(self.net.template(self._images(template)), self._images(search))

    def anchors(self, search_size: int, score_size: int, device: torch.device) -> torch.Tensor:
        """(4, A, S, S) training anchors; our crops centre the target at ``search_size / 2``."""
        key = (search_size, score_size, str(device))
        if key not in self._anchors:
            self._anchors[key] = training_anchors(
                search_size=search_size,
                score_size=score_size,
                stride=self.net.stride,
                image_center=search_size / 2.0,
                device=device,
            )
        return self._anchors[key]

    def _generator(self, *key: int) -> torch.Generator:
        """A generator seeded from ``(seed, *key, rank)``: the same draws for the same step."""
        state = np.random.SeedSequence([self.seed, *key, self.global_rank]).generate_state(1)
        gen = torch.Generator(device=self.device if self.device.type == "cuda" else "cpu")
        return gen.manual_seed(int(state[0]))

    def _targets(
        self, batch: dict[str, torch.Tensor], cls: torch.Tensor, batch_idx: int, stage: str
    ) -> RPNTargets:
        """Anchor targets of a batch for score maps like ``cls`` (B, 2A, S, S), seeded per step."""
        anchors = self.anchors(batch["search"].shape[-1], cls.shape[-1], cls.device)
        gen = self._generator(
            *((0, self.global_step, batch_idx) if stage == "train" else (1, batch_idx))
        )
        return rpn_targets(
            batch["search_box"], batch["negative"], anchors, generator=gen, **self.target_kwargs
        )

    def _losses(
        self,
        out: Any,
        batch: dict[str, torch.Tensor],
        batch_idx: int,
        stage: str,
        *,
        targets: RPNTargets | None = None,
    ) -> dict[str, torch.Tensor]:
        """Net outputs (cls, loc) -> named scalars, ``loss`` the total (`rpn_loss`); the batch's
        `_targets` unless ``targets`` are given."""
        cls, loc = out
        t = self._targets(batch, cls, batch_idx, stage) if targets is None else targets
        loss = rpn_loss(cls, loc, t.cls, t.delta, t.delta_weight, **self.loss_weights)
        return {"loss": loss.total, "cls_loss": loss.cls, "loc_loss": loss.loc}

    def _step(self, batch: dict[str, torch.Tensor], batch_idx: int, stage: str) -> torch.Tensor:
        """Forward, losses and their logs (``<stage>/<name>``); returns the total loss."""
        out = self(batch["template"], batch["search"])
        terms = self._losses(out, batch, batch_idx, stage)
        b, sync = batch["template"].shape[0], stage != "train"
        for name, value in terms.items():
            self.log(
                f"{stage}/{name}", value, prog_bar=name == "loss", sync_dist=sync, batch_size=b
            )
        if stage == "train":
            cls = out[0]
            a = cls.shape[1] // 2  # foreground-minus-background logit, best anchor per cell
            self.last_outputs = {
                "response": (cls[:, a:] - cls[:, :a]).detach().amax(1, keepdim=True)
            }
        return terms["loss"]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One SGD step on a pair batch."""
        loss = self._step(batch, batch_idx, "train")
        b = batch["template"].shape[0]
        if self.max_loss is not None:  # no host sync here: `optimizer_step` decides
            bad = ~torch.isfinite(loss.detach()) | (loss.detach() > self.max_loss)
            self._bad_loss = bad if self._bad_loss is None else self._bad_loss | bad
            self._last_loss = loss.detach()
        if self._trainer is not None:  # lr: LearningRateMonitor (lr-SGD/<group>), not logged here
            skipped = batch["skipped"].sum()
            self._skipped += int(skipped)
            kw = dict(reduce_fx="sum", on_step=False, on_epoch=True, sync_dist=True, batch_size=b)
            self.log("data/skipped_frames", skipped.float(), **kw)
        return loss

    def optimizer_step(
        self,
        epoch: int,
        batch_idx: int,
        optimizer: Any,
        optimizer_closure: Callable[[], Any] | None = None,
    ) -> None:
        """Step; with ``max_loss`` set, skip the update (as pysot and SiamMask do) when a loss of
        this step on any rank was NaN, infinite or above ``max_loss``: the closure (forward,
        backward, DDP all-reduce) runs on every rank, the parameters and momenta stay."""
        if self.max_loss is None or optimizer_closure is None:
            super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
            return
        loss = optimizer_closure()
        bad, self._bad_loss = self._bad_loss, None
        if bad is not None and self.trainer.world_size > 1:
            bad = self.trainer.strategy.reduce(bad.float(), reduce_op="sum") > 0
        if bad is not None and bool(bad):
            self._skipped_steps.append(float(self._last_loss))
            return
        optimizer.step(closure=lambda: loss)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Losses on held-out pairs (fixed targets: seeded by the batch index only)."""
        self._step(batch, batch_idx, "val")

    def on_train_epoch_end(self) -> None:
        """Warn once per epoch with the unreadable frames and the skipped steps (``max_loss``)."""
        warn_skipped_frames(self, self._skipped)
        self._skipped = 0
        if self.max_loss is not None:
            self.log("train/skipped_steps", float(len(self._skipped_steps)), batch_size=1)
            warn_skipped_steps(self, self._skipped_steps, self.max_loss)
            self._skipped_steps = []

    def configure_optimizers(self) -> dict[str, Any]:
        """SGD (from the config) over all parameters, pysot's schedule stepped per epoch."""
        epochs = self.epochs or int(self.trainer.max_epochs or -1)
        if epochs <= 0:
            raise ValueError("SiamRPNModule needs trainer.max_epochs (or model.epochs) > 0")
        space = pysot_lr_space(epochs=epochs, **self.schedule_kwargs)
        world = self.trainer.world_size if self.pysot_grad_sum else 1
        groups, factors = pysot_param_groups(
            self.net,
            train_layers=self._train_modules,
            base_lr=self.base_lr * world,
            backbone_lr_mult=self.backbone_lr_mult,
            unfreeze_epoch=self.backbone_unfreeze_epoch,
            factor=epoch_factor(space, self.lr_start),
        )
        opt = self.optimizer_factory(groups)
        for g in opt.param_groups:  # pysot decays the summed gradient
            g["weight_decay"] = g.get("weight_decay", 0.0) / world
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": pysot_scheduler(opt, factors), "interval": "epoch"},
        }

    def configure_gradient_clipping(
        self,
        optimizer: Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip as configured; with ``pysot_grad_sum`` at ``gradient_clip_val / world_size``."""
        if gradient_clip_val and self.pysot_grad_sum:
            gradient_clip_val = gradient_clip_val / self.trainer.world_size
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def setup(self, stage: str) -> None:
        """Load ``backbone_weights`` (ImageNet pre-training) before a fit; a resume overrides."""
        if stage == "fit" and self.backbone_weights:
            missing = load_backbone_weights(self.net.backbone, self.backbone_weights)
            log.info(
                "backbone weights from %s (%d keys not in the file)",
                self.backbone_weights,
                len(missing),
            )

    def configure_model(self) -> None:
        """Compile the net's children (``compile=``) before the strategy wraps the module."""
        if self.compile_options is not None:
            compile_net(self.net, self.compile_options)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store what `load_tracker` needs to rebuild the network and its tracker."""
        save_export(self.export_config, checkpoint)
