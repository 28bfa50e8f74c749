"""``model.compile``: the net's children compile in place; training and checkpoints as eager."""

from __future__ import annotations

import functools

import lightning as L
import torch

from siamlightning.lit.siamfc import SiamFCModule
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.models.siamfc import SiamFCNet


def _module(**kw) -> SiamFCModule:
    torch.manual_seed(0)
    net = SiamFCNet(backbone=SiamFCAlexNet(width=0.125))
    return SiamFCModule(net=net, optimizer=functools.partial(torch.optim.SGD, lr=1e-2), **kw)


class _Pairs(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        return {
            "template": torch.randint(0, 256, (3, 127, 127), generator=g, dtype=torch.uint8),
            "search": torch.randint(0, 256, (3, 255, 255), generator=g, dtype=torch.uint8),
            "search_box": torch.tensor([100.0, 100.0, 55.0, 55.0]),
            "negative": torch.tensor(i == 3),
            "skipped": torch.tensor(0),
        }


def _fit(module: SiamFCModule, tmp_path) -> list[float]:
    losses: list[float] = []

    class Losses(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            losses.append(float(outputs["loss"]))

    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[Losses()],
    )
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(_Pairs(), batch_size=2))
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    return losses


def test_compiled_module_trains_as_eager_and_keeps_its_checkpoint_keys(tmp_path):
    eager, compiled = _module(), _module(compile={"backend": "aot_eager"})
    assert eager.compile_options is None and compiled.compile_options == {"backend": "aot_eager"}
    want = _fit(eager, tmp_path / "eager")
    got = _fit(compiled, tmp_path / "compiled")
    assert compiled.net.backbone._compiled_call_impl is not None
    assert eager.net.backbone._compiled_call_impl is None
    assert len(got) == len(want) == 4
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    a = torch.load(tmp_path / "eager" / "last.ckpt", weights_only=False)["state_dict"]
    b = torch.load(tmp_path / "compiled" / "last.ckpt", weights_only=False)["state_dict"]
    assert list(a) == list(b)  # no _orig_mod. prefixes: the checkpoint loads either way
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=1e-4, atol=1e-5, msg=k)
