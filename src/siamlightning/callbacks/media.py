"""Now and then, log a few training pairs with their target boxes and response maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger


def render_pairs(batch: dict[str, torch.Tensor], response: torch.Tensor, num: int) -> np.ndarray:
    """Rows of [template | search with target box | response heat map] as one RGB uint8 image."""
    rows = []
    for i in range(min(num, batch["search"].shape[0])):
        z = batch["template"][i].permute(1, 2, 0).cpu().numpy().astype(np.uint8).copy()
        x = batch["search"][i].permute(1, 2, 0).cpu().numpy().astype(np.uint8).copy()
        bx = batch["search_box"][i].cpu().numpy()
        p1 = (round(float(bx[0])), round(float(bx[1])))
        p2 = (round(float(bx[0] + bx[2])), round(float(bx[1] + bx[3])))
        cv2.rectangle(x, p1, p2, (0, 255, 0), 1)
        r = torch.sigmoid(response[i, 0].float()).cpu().numpy()
        heat = cv2.applyColorMap((r * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
        heat = cv2.resize(heat, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_NEAREST)
        zpad = np.zeros((x.shape[0], z.shape[1], 3), np.uint8)
        zpad[: z.shape[0]] = z
        rows.append(np.concatenate([zpad, x, heat], axis=1))
    return np.concatenate(rows, axis=0)


class PairImageLogger(L.Callback):
    """Every ``every_n_steps`` training steps, log ``num_pairs`` pairs (W&B image or PNG file)."""

    def __init__(self, *, every_n_steps: int = 250, num_pairs: int = 4) -> None:
        self.every_n_steps = every_n_steps
        self.num_pairs = num_pairs

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Render and log on rank 0 when the step is a multiple of ``every_n_steps``."""
        step = trainer.global_step
        if self.every_n_steps <= 0 or step % self.every_n_steps != 0 or not trainer.is_global_zero:
            return
        response = getattr(pl_module, "last_outputs", {}).get("response")
        if response is None:
            return
        image = render_pairs(batch, response, self.num_pairs)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image("train/pairs", [image], step=step)
                return
        out = Path(trainer.default_root_dir) / "media"
        out.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out / f"pairs_step{step:07d}.jpg"), image[..., ::-1])
