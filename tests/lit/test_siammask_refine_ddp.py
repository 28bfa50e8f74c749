"""Two gloo processes train the refine stage, one rank with mask pairs and the other with none
(N = 0: its loss is the refine's empty rows times 0, still connected to every Refine and MaskCorr
parameter, so DDP's all-reduce does not wait for a missing gradient); the replicas stay
identical, the momenta are cleared at every epoch start and the fixed parts never move."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from test_siammask_refine import FIXED, _batch, _module

EPOCHS = 2
BN_STATS = ("running_mean", "running_var", "num_batches_tracked")


class _Pairs(torch.utils.data.Dataset):
    """Rank 0's pairs carry masks, rank 1's do not."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rank = torch.distributed.get_rank()  # num_workers=0: the rank's own process
        batch = _batch(has_mask=(rank == 0,), seed=i)
        return {k: v[0] for k, v in batch.items()}


class _Record(L.Callback):
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.out: dict[str, object] = {"cells": [], "momenta": {}, "weights": {}}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.out["momenta"][trainer.current_epoch] = len(trainer.optimizers[0].state)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.out["cells"].append(float(trainer.callback_metrics["train/mask_cells"]))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        state = pl_module.net.state_dict()
        self.out["weights"][trainer.current_epoch] = {k: v.clone() for k, v in state.items()}

    def on_train_end(self, trainer, pl_module) -> None:
        torch.save(self.out, self.folder / f"rank{trainer.global_rank}.pt")


@pytest.mark.timeout(120)  # a mask loss outside the graph on rank 1 hangs DDP's all-reduce
def test_ddp_refine_stage_with_a_mask_less_rank_keeps_identical_replicas(tmp_path):
    init = _module().net.state_dict()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_fork",
        max_epochs=EPOCHS,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=10,
        default_root_dir=tmp_path,
        callbacks=[_Record(tmp_path)],
    )
    module = _module(epochs=EPOCHS)
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(_Pairs(), batch_size=2))
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert min(r0["cells"]) > 0 and r1["cells"] == [0.0] * EPOCHS
    for rank in (r0, r1):  # every epoch starts from empty momenta (the optimiser "rebuilt")
        assert rank["momenta"] == {0: 0, 1: 0}
    for epoch in range(EPOCHS):
        a, b = r0["weights"][epoch], r1["weights"][epoch]
        assert all(torch.equal(a[k], b[k]) for k in a if not k.endswith(BN_STATS)), epoch
    last = r0["weights"][EPOCHS - 1]
    fixed = [k for k in last if k.startswith(FIXED)]
    assert fixed and all(torch.equal(init[k], last[k]) for k in fixed)  # BN statistics too
    moved = {k.split(".")[0] for k in last if not torch.equal(init[k], last[k])}
    assert moved == {"mask_head", "refine_head"}
