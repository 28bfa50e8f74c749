"""SiamFC training: balanced logistic loss on 15x15 responses, SGD with geometric decay."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import lightning as L
import torch
from torch.optim import Optimizer

from siamlightning.lit.common import (
    compile_net,
    compile_options,
    save_export,
    tracker_export,
    warn_skipped_frames,
)
from siamlightning.lit.schedules import geometric
from siamlightning.models.siamfc import SiamFCNet
from siamlightning.models.siamfc_losses import balanced_bce
from siamlightning.models.siamfc_targets import siamfc_labels

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], Optimizer]


class SiamFCModule(L.LightningModule):
    """Trains a `SiamFCNet` on template/search pair batches from `TrackingDataModule`."""

    def __init__(
        self,
        *,
        net: SiamFCNet,
        optimizer: OptimizerFactory,
        lr_end: float = 1e-5,
        lr_interval: str = "epoch",
        r_pos: float = 16.0,
        channels_last: bool = True,
        compile: bool | Mapping[str, Any] = False,
        export: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if lr_interval not in ("epoch", "step"):
            raise ValueError(f"lr_interval must be 'epoch' or 'step', got {lr_interval!r}")
        self.net = net
        self.optimizer_factory = optimizer
        self.lr_end = lr_end
        self.lr_interval = lr_interval
        self.r_pos = r_pos
        self.channels_last = channels_last
        if channels_last:  # oneDNN / cuDNN run these convs about 2x faster in NHWC
            self.net.to(memory_format=torch.channels_last)
        # True or torch.compile options: the net's children are compiled when a fit starts
        self.compile_options = compile_options(compile)
        # net + tracker configs stored in every checkpoint (see `tracker_export`)
        self.export_config: dict[str, Any] = tracker_export(**export) if export else {}
        self.last_outputs: dict[str, torch.Tensor] = {}
        self._skipped = 0

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """Template (B, 3, 127, 127), search (B, 3, X, X) images, 0-255 -> logits (B, 1, R, R)."""
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        z = template.float().contiguous(memory_format=fmt)
        x = search.float().contiguous(memory_format=fmt)
        return self.net(self.net.template(z), x)

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        response = self(batch["template"], batch["search"])
        labels = siamfc_labels(
            batch["search_box"],
            response.shape[-1],
            batch["search"].shape[-1],
            self.net.stride,
            self.r_pos,
            batch["negative"],
        )
        loss = balanced_bce(response, labels)
        # localisation accuracy: response peak within r_pos of the target, positive pairs only
        b = response.shape[0]
        peak = response.detach().view(b, -1).argmax(dim=1)
        hit = labels.view(b, -1).gather(1, peak[:, None]).squeeze(1)
        pos = ~batch["negative"].bool()
        sync = stage != "train"
        self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=sync, batch_size=b)
        if pos.any():
            acc = hit[pos].float().mean()
            self.log(
                f"{stage}/center_acc", acc, prog_bar=stage == "val", sync_dist=sync, batch_size=b
            )
        if stage == "train":
            self._skipped += int(batch["skipped"].sum())
            self.log(
                "data/skipped_frames",
                batch["skipped"].sum().float(),
                reduce_fx="sum",
                on_step=False,
                on_epoch=True,
                sync_dist=True,
                batch_size=b,
            )
            self.last_outputs = {"response": response.detach(), "labels": labels}
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """One SGD step on a pair batch."""
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Loss and peak accuracy on held-out pairs."""
        self._step(batch, "val")

    def on_train_epoch_end(self) -> None:
        """Warn once per epoch with the number of unreadable frames skipped on all ranks."""
        warn_skipped_frames(self, self._skipped)
        self._skipped = 0

    def configure_optimizers(self) -> dict[str, Any]:
        """SGD (from the config) with a geometric decay to ``lr_end`` per epoch or per step."""
        opt = self.optimizer_factory(self.parameters())
        if self.lr_interval == "epoch":
            total = int(self.trainer.max_epochs or 1)
        else:
            total = int(self.trainer.estimated_stepping_batches)
        sched = geometric(opt, lr_end=self.lr_end, total=total)
        return {
            "optimizer": opt,
            "lr_scheduler": {"scheduler": sched, "interval": self.lr_interval},
        }

    def configure_model(self) -> None:
        """Compile the net's children (``compile=``) before the strategy wraps the module."""
        if self.compile_options is not None:
            compile_net(self.net, self.compile_options)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store what `load_tracker` needs to rebuild the network and its tracker."""
        save_export(self.export_config, checkpoint)
