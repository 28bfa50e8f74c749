"""Two gloo processes train a SiamRPN module across its backbone unfreeze and across a resume.

Frozen means not computed: until the unfreeze no backbone gradient exists on any rank; from then on
the unfrozen layers train, and DDP all-reduces them (the module re-wraps DDP when its trained set
changes), so the replicas stay identical - also when a resumed run starts after the unfreeze.
"""

from __future__ import annotations

import functools
from pathlib import Path

import lightning as L
import torch

from siamlightning.lit.siamrpn import SiamRPNModule
from siamlightning.models.backbones.pysot_alexnet import PysotAlexNet
from siamlightning.models.heads.rpn import DepthwiseRPN
from siamlightning.models.siamrpn import SiamRPNNet

EPOCHS = 3
UNFREEZE = 1
SEARCH = 191  # a 9x9 score map
BN_STATS = ("running_mean", "running_var", "num_batches_tracked")


def _module() -> SiamRPNModule:
    torch.manual_seed(0)
    backbone = PysotAlexNet(width_mult=0.25)
    c = backbone.out_channels
    return SiamRPNModule(
        net=SiamRPNNet(backbone=backbone, head=DepthwiseRPN(in_channels=c, out_channels=c)),
        optimizer=functools.partial(torch.optim.SGD, momentum=0.9, weight_decay=1e-4),
        backbone_train_layers=["layer4", "layer5"],
        backbone_unfreeze_epoch=UNFREEZE,
        warmup_epochs=0,
        base_lr=0.05,  # large enough that an un-reduced gradient shows in the weights
    )


class _Pairs(torch.utils.data.Dataset):
    """4 positive pairs, a different image per index (the ranks see different batches)."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        box = torch.tensor([SEARCH / 2 - 32, SEARCH / 2 - 24, 64.0, 48.0])
        box = box + torch.rand(4, generator=g) * 8
        return {
            "template": torch.randint(0, 256, (3, 127, 127), generator=g, dtype=torch.uint8),
            "search": torch.randint(0, 256, (3, SEARCH, SEARCH), generator=g, dtype=torch.uint8),
            "search_box": box,
            "negative": torch.tensor(False),
            "skipped": torch.tensor(0),
        }


class _Record(L.Callback):
    """Per rank: the parameters holding a gradient after each backward, the weights per epoch."""

    def __init__(self, folder: Path, tag: str) -> None:
        self.folder, self.tag = folder, tag
        self.grads: dict[int, set[str]] = {}
        self.weights: dict[int, dict[str, torch.Tensor]] = {}

    def on_after_backward(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        names = {n for n, p in pl_module.net.named_parameters() if p.grad is not None}
        self.grads.setdefault(trainer.current_epoch, set()).update(names)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state = pl_module.net.state_dict()
        self.weights[trainer.current_epoch] = {k: v.detach().clone() for k, v in state.items()}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        out = self.folder / f"{self.tag}_rank{trainer.global_rank}.pt"
        torch.save({"grads": self.grads, "weights": self.weights}, out)


def _fit(folder: Path, tag: str, ckpt_path: str | None = None) -> list[dict]:
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_fork",
        max_epochs=EPOCHS,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=10,
        default_root_dir=folder,
        callbacks=[
            _Record(folder, tag),
            L.pytorch.callbacks.ModelCheckpoint(
                dirpath=folder / "ckpt", save_top_k=-1, every_n_epochs=1, filename="{epoch}"
            ),
        ],
    )
    loader = torch.utils.data.DataLoader(_Pairs(), batch_size=2)
    trainer.fit(_module(), train_dataloaders=loader, ckpt_path=ckpt_path)
    return [torch.load(folder / f"{tag}_rank{r}.pt") for r in (0, 1)]


def _params(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.endswith(BN_STATS)}


def _differ(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Keys under ``prefix`` whose tensors are not equal in ``a`` and ``b``."""
    return [k for k in a if k.startswith(prefix) and not torch.equal(a[k], b[k])]


def test_ddp_trains_unfrozen_layers_identically_across_the_unfreeze_and_a_resume(tmp_path):
    init = _module().net.state_dict()
    runs = _fit(tmp_path, "full")
    trained = ("backbone.layer4.", "backbone.layer5.")
    for rank in runs:
        # epoch 0: no backbone gradient at all; then exactly layer4-5 and the head
        assert rank["grads"][0] and not any(n.startswith("backbone.") for n in rank["grads"][0])
        for epoch in range(UNFREEZE, EPOCHS):
            backbone = {n for n in rank["grads"][epoch] if n.startswith("backbone.")}
            assert backbone and all(n.startswith(trained) for n in backbone)
            assert rank["grads"][epoch] - backbone == rank["grads"][0]  # the head, as before
    r0, r1 = (r["weights"] for r in runs)
    for epoch in range(EPOCHS):  # the replicas' parameters agree after every epoch
        assert not _differ(_params(r0[epoch]), _params(r1[epoch])), epoch
    # the frozen backbone, its BN statistics included, never moves; the unfrozen layers do
    assert not _differ(init, r0[EPOCHS - 1], "backbone.layer1")
    assert not _differ(init, r0[0], "backbone.")
    for epoch in range(UNFREEZE, EPOCHS):
        moved = _differ(r0[epoch - 1], r0[epoch], "backbone.")
        assert {k.split(".")[1] for k in moved} == {"layer4", "layer5"}, epoch

    # resume from the checkpoint of the first unfrozen epoch: the last epoch again, as trained
    resumed = _fit(tmp_path, "resumed", str(tmp_path / "ckpt" / f"epoch={UNFREEZE}.ckpt"))
    s0, s1 = (r["weights"][EPOCHS - 1] for r in resumed)
    assert set(resumed[0]["weights"]) == {EPOCHS - 1}
    assert not _differ(_params(s0), _params(s1))
    assert _differ(s0, r0[UNFREEZE], "backbone.layer4")
    for k, v in _params(r0[EPOCHS - 1]).items():
        torch.testing.assert_close(s0[k], v, rtol=1e-5, atol=1e-6, msg=k)
