"""SiamRPNModule: pysot's schedule, DDP-safe backbone unfreezing, frozen BN, steps, configs."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from siamlightning.configs import compose, config_dir
from siamlightning.errors import ConfigError
from siamlightning.lit.rpn_schedule import pysot_lr_space
from siamlightning.lit.siamrpn import SiamRPNModule
from siamlightning.models.backbones.pysot_alexnet import PysotAlexNet
from siamlightning.models.heads.rpn import DepthwiseRPN
from siamlightning.models.pysot_weights import (
    build_pysot_net,
    load_backbone_weights,
    load_pysot_state_dict,
)
from siamlightning.models.siamrpn import SiamRPNNet

CONF = config_dir()
SGD = functools.partial(torch.optim.SGD, momentum=0.9, weight_decay=1e-4)


def _net(width: float = 0.25) -> SiamRPNNet:
    """pysot's split AlexNet + DepthwiseRPN at a quarter of the width (search 255 -> 17x17)."""
    backbone = PysotAlexNet(width_mult=width)
    c = backbone.out_channels
    return SiamRPNNet(backbone=backbone, head=DepthwiseRPN(in_channels=c, out_channels=c))


def _module(**kw) -> SiamRPNModule:
    torch.manual_seed(0)
    args = dict(net=_net(), optimizer=SGD, backbone_train_layers=["layer4", "layer5"], epochs=20)
    return SiamRPNModule(**(args | kw))


def _batch(b: int = 2, search: int = 255, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    box = torch.tensor([search / 2 - 32, search / 2 - 24, 64.0, 48.0]).repeat(b, 1)
    return {
        "template": torch.randint(0, 256, (b, 3, 127, 127), generator=g, dtype=torch.uint8),
        "search": torch.randint(0, 256, (b, 3, search, search), generator=g, dtype=torch.uint8),
        "search_box": box + torch.rand(b, 4, generator=g) * 8,
        "negative": torch.arange(b) == b - 1,  # the last pair is a negative one
        "skipped": torch.zeros(b, dtype=torch.long),
    }


def _group_lrs(module: SiamRPNModule, trainer: object, epochs: int) -> dict[str, list[float]]:
    """LR of every named group in each epoch, stepping the scheduler as Lightning does."""
    module._trainer = trainer
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    out: dict[str, list[float]] = {g["name"]: [] for g in opt.param_groups}
    for _ in range(epochs):
        for g in opt.param_groups:
            out[g["name"]].append(g["lr"])
        opt.step()
        sched.step()
    return out


def test_r50_schedule_is_pysots_warmup_then_log():
    space = pysot_lr_space(epochs=20, lr_start=0.005, lr_end=0.0005, warmup_start_lr=0.001)
    assert space[:5] == pytest.approx([0.001, 0.00138, 0.00190, 0.00263, 0.00362], rel=3e-3)
    assert space[5:] == pytest.approx(np.logspace(np.log10(0.005), np.log10(0.0005), 15))
    assert len(space) == 20


def test_schedule_needs_more_epochs_than_warmup():
    with pytest.raises(ValueError, match="warmup_epochs"):
        pysot_lr_space(epochs=5, lr_start=0.005, lr_end=0.0005, warmup_epochs=5)


def test_backbone_lr_is_zero_until_the_unfreeze_epoch_then_a_tenth():
    module = _module()
    lrs = _group_lrs(module, SimpleNamespace(world_size=1, max_epochs=20, current_epoch=0), 20)
    assert set(lrs) == {"backbone", "backbone_fixed", "head"}
    space = pysot_lr_space(epochs=20, lr_start=0.005, lr_end=0.0005, warmup_start_lr=0.001)
    assert lrs["head"] == pytest.approx(space)  # base_lr == lr_start: the head follows lr_space
    assert lrs["backbone"][:10] == [0.0] * 10
    assert lrs["backbone"][10:] == pytest.approx(0.1 * space[10:])
    assert lrs["backbone_fixed"] == [0.0] * 20
    # every parameter is in exactly one group; only the trained ones require grad
    params = [
        p for g in module.configure_optimizers()["optimizer"].param_groups for p in g["params"]
    ]
    assert len(params) == len({id(p) for p in params}) == len(list(module.net.parameters()))
    bb = module.net.backbone
    assert all(p.requires_grad for p in module.net.rpn_head.parameters())
    assert not any(p.requires_grad for p in bb.parameters())
    assert module.apply_trainable(10) and not module.apply_trainable(10)
    trained = {id(p) for m in (bb.layer4, bb.layer5) for p in m.parameters()}
    assert all(p.requires_grad == (id(p) in trained) for p in bb.parameters())
    assert module.apply_trainable(9) and not any(p.requires_grad for p in bb.parameters())


def test_alex_runs_at_half_its_lr_space_and_world_size_scaling():
    module = _module(base_lr=0.005, lr_start=0.01, lr_end=0.0005, warmup_start_lr=0.005, epochs=50)
    lrs = _group_lrs(module, SimpleNamespace(world_size=1, max_epochs=50, current_epoch=0), 50)
    assert lrs["head"][0] == pytest.approx(0.0025)
    assert lrs["head"][5] == pytest.approx(0.005)
    assert lrs["head"][-1] == pytest.approx(0.00025)
    summed = _module(pysot_grad_sum=True)
    fake = SimpleNamespace(world_size=8, max_epochs=20, current_epoch=0)
    summed._trainer = fake
    opt = summed.configure_optimizers()["optimizer"]
    head = next(g for g in opt.param_groups if g["name"] == "head")
    assert head["lr"] == pytest.approx(8 * 0.001)
    assert head["weight_decay"] == pytest.approx(1e-4 / 8)


def test_frozen_backbone_batchnorm_stays_in_eval_mode():
    module = _module()
    bns = lambda m: [x for x in m.modules() if isinstance(x, torch.nn.BatchNorm2d)]  # noqa: E731
    module.train()
    assert module.training and all(not b.training for b in bns(module.net.backbone))
    assert all(b.training for b in bns(module.net.rpn_head))
    module._trainer = SimpleNamespace(current_epoch=10)
    module.train()
    bb = module.net.backbone
    assert all(b.training for b in bns(bb.layer4) + bns(bb.layer5))
    assert all(not b.training for b in bns(bb.layer1) + bns(bb.layer2) + bns(bb.layer3))
    module.eval()
    assert not any(b.training for b in bns(module))


@pytest.mark.filterwarnings("ignore:You are trying to `self.log")
def test_training_step_is_finite_and_reaches_the_head_but_not_the_frozen_backbone():
    module = _module()
    module.train()
    loss = module.training_step(_batch(), 0)
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    head = [p.grad for p in module.net.rpn_head.parameters()]
    assert all(g is not None for g in head) and sum(g.abs().sum() for g in head) > 0
    # epoch 0: no backbone gradient is computed, and backward never enters the backbone
    assert all(p.grad is None for p in module.net.backbone.parameters())
    assert module.net.backbone(module._images(_batch()["search"])).grad_fn is None
    # the same step draws the same targets: the same loss
    assert module.training_step(_batch(), 0).item() == pytest.approx(loss.item())
    assert set(module.last_outputs) == {"response"}
    assert module.last_outputs["response"].shape == (2, 1, 17, 17)


def test_images_reach_the_net_as_bgr_0_255():
    module = _module(channels_last=False)
    seen = {}
    module.net.backbone.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0]))
    batch = _batch(b=1)
    batch["template"][:] = 0
    batch["template"][:, 0] = 200  # pure red in RGB
    module.eval()(batch["template"], batch["search"])
    x = seen["x"]
    assert x.dtype == torch.float32 and x[0, 2].max() == 200 and x[0, :2].abs().max() == 0


class _Pairs(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in _batch(b=1, seed=i).items()}


def test_fit_keeps_the_backbone_fixed_until_it_unfreezes(tmp_path):
    module = _module(backbone_unfreeze_epoch=1, warmup_epochs=0, epochs=2)
    bb = module.net.backbone
    snap = lambda: {k: v.clone() for k, v in bb.state_dict().items()}  # noqa: E731
    seen: dict[int, dict] = {}

    class Spy(L.Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            seen[trainer.current_epoch] = snap()

    before = snap()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=10,
        callbacks=[Spy()],
        default_root_dir=tmp_path,
    )
    loader = torch.utils.data.DataLoader(_Pairs(), batch_size=2)
    trainer.fit(module, train_dataloaders=loader)
    same = lambda a, b, pre: all(torch.equal(a[k], b[k]) for k in a if k.startswith(pre))  # noqa: E731
    assert same(before, seen[0], "")  # weights and BN statistics untouched in epoch 0
    assert same(seen[0], seen[1], "layer1") and same(seen[0], seen[1], "layer3")
    assert not same(seen[0], seen[1], "layer4.0.weight")
    assert not same(seen[0], seen[1], "layer5.1.running_mean")  # BN of a trained layer: train mode


def test_learning_rates_are_logged_once_per_group_by_the_lr_monitor(tmp_path):
    callbacks = compose("train", ["logger=csv"]).callbacks
    monitors = [c for c in callbacks.values() if "LearningRateMonitor" in c["_target_"]]
    assert len(monitors) == 1  # the default callbacks log learning rates; the module does not
    module = _module(warmup_epochs=0, epochs=2)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=1,
        logger=L.pytorch.loggers.CSVLogger(tmp_path, name="", version=""),
        callbacks=[instantiate(monitors[0])],
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(_Pairs(), batch_size=2))
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    groups = [g["name"] for g in trainer.optimizers[0].param_groups]
    assert sorted(h for h in header if "lr" in h.split("/")[0]) == sorted(
        f"lr-SGD/{g}" for g in groups
    )


def test_load_backbone_weights_strips_prefixes_and_checks_shapes(tmp_path):
    src, dst = _net().backbone, _net().backbone
    state = {f"module.{k}": v + 1 for k, v in src.state_dict().items()} | {
        "fc.weight": torch.ones(2)
    }
    torch.save(state, tmp_path / "bb.pth")
    assert load_backbone_weights(dst, str(tmp_path / "bb.pth")) == []
    assert torch.equal(dst.layer1[0].weight, src.layer1[0].weight + 1)
    torch.save(_net(0.5).backbone.state_dict(), tmp_path / "wide.pth")
    with pytest.raises(ValueError, match="shape"):
        load_backbone_weights(dst, str(tmp_path / "wide.pth"))


def _compose(experiment: str):
    name = experiment.removesuffix("_synthetic")
    if not (CONF / "tracker" / f"{name}.yaml").is_file():
        pytest.skip(f"conf/tracker/{name}.yaml is absent (the SiamRPN tracker presets come later)")
    return compose("train", [f"experiment={experiment}", "logger=csv"])


def test_alex_synthetic_experiment_builds_model_and_data():
    cfg = _compose("siamrpn_alex_dwxcorr_synthetic")
    module, dm = instantiate(cfg.model), instantiate(cfg.data)
    assert isinstance(module, SiamRPNModule) and module.net.input_format == "bgr255"
    assert dm.pair_kwargs["search_size"] == 255 and dm.pair_kwargs["exemplar_size"] == 127
    assert dm.sampler.neg_prob == 0.05 and dm.blur_prob == 0.2
    assert cfg.trainer.gradient_clip_val == 10 and cfg.trainer.precision == "auto"
    # the config's split AlexNet computes what pysot's (legacy) alex net computes
    ref = build_pysot_net("siamrpn_alex_dwxcorr").eval()
    load_pysot_state_dict(module.net, ref.state_dict(), "siamrpn_alex_dwxcorr")
    z, x = torch.rand(1, 3, 127, 127) * 255, torch.rand(1, 3, 255, 255) * 255
    with torch.no_grad():
        ours, theirs = module.net.eval()(module.net.template(z), x), ref(ref.template(z), x)
    assert torch.allclose(ours[0], theirs[0], atol=1e-4)


@pytest.mark.parametrize(
    ("name", "batch", "lr_end", "layers", "gray"),
    [
        ("siamrpn_r50_l234_dwxcorr", 28, 0.0005, ["layer2", "layer3", "layer4"], 0.0),
        ("siamrpn_r50_l234_dwxcorr_otb", 16, 0.0025, ["layer1", "layer2", "layer3", "layer4"], 0.2),
    ],
)
def test_r50_recipes_have_pysots_values_and_network(name, batch, lr_end, layers, gray):
    cfg = _compose(name)
    assert cfg.data.batch_size == batch and cfg.data.search_size == 255
    assert (
        cfg.data.search_shift == 64 and cfg.data.search_scale == 0.18 and cfg.data.gray_prob == gray
    )
    assert [s.name for s in cfg.data.train_sources] == [
        "imagenet_vid",
        "youtube_bb",
        "coco",
        "imagenet_det",
    ]
    m = cfg.model
    assert (m.base_lr, m.lr_start, m.lr_end, m.warmup_start_lr) == (0.005, 0.005, lr_end, 0.001)
    assert list(m.backbone_train_layers) == layers and m.backbone_lr_mult == 0.1
    assert cfg.trainer.max_epochs == 20 and cfg.trainer.gradient_clip_val == 10
    ours = instantiate(cfg.model.net).state_dict()
    theirs = build_pysot_net(name).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


def test_a_strategy_that_cannot_be_rewrapped_fails_at_the_start_not_at_the_unfreeze():
    module = _module()  # unfreezes at epoch 10 of 20
    strategy = SimpleNamespace(model=torch.nn.Identity())  # e.g. FSDP's wrapper
    module._trainer = SimpleNamespace(max_epochs=20, strategy=strategy, lightning_module=module)
    with pytest.raises(ConfigError, match=r"backbone_unfreeze_epoch=10.*Identity"):
        module.on_fit_start()
    module._trainer.max_epochs = 10  # never reaches the unfreeze: nothing to re-wrap
    module.on_fit_start()
    strategy.model = module  # bare: fine
    module._trainer.max_epochs = 20
    module.on_fit_start()
