"""SiamMaskModule (base stage): losses and weights, mask-less pairs, BN modes, the schedule of
the spec's table, momentum reset at the unfreeze, the step guard, a fit and its checkpoint."""

from __future__ import annotations

import functools
import logging
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import siamlightning
from siamlightning.configs import compose
from siamlightning.lit.siammask import SiamMaskModule
from siamlightning.models.pysot_weights import build_pysot_net

SGD = functools.partial(torch.optim.SGD, momentum=0.9, weight_decay=1e-4)
# a SiamMask net small enough for a CPU test: MobileNetV2 x0.25 to layer3 (255 -> 31, stride 8)
NET = {
    "_target_": "siamlightning.models.siammask.SiamMaskNet",
    "backbone": {
        "_target_": "siamlightning.models.backbones.mobilenet_v2.MobileNetV2",
        "width_mult": 0.25,
        "used_layers": [1, 2, 3],
    },
    "neck": {
        "_target_": "siamlightning.models.necks.AdjustAllLayer",
        "in_channels": [8],
        "out_channels": [16],
    },
    "head": {
        "_target_": "siamlightning.models.heads.rpn.DepthwiseRPN",
        "in_channels": 16,
        "out_channels": 16,
    },
    "mask_head": {
        "_target_": "siamlightning.models.heads.mask.MaskCorr",
        "in_channels": 16,
        "hidden": 16,
        "out_channels": 3969,
    },
}
# SiamMask base (config.json): warm-up 0.001 -> 0.005 over 5 epochs, then log 0.005 -> 0.0025
SPEC_LR = [0.001, 0.00138, 0.001904, 0.002627, 0.003624, 0.005, 0.004758, 0.004529, 0.00431]
SPEC_LR += [0.004102, 0.003904, 0.003715, 0.003536, 0.003365, 0.003202, 0.003048, 0.0029]
SPEC_LR += [0.00276, 0.002627, 0.0025]
BASE = compose("train", ["experiment=siammask_base", "logger=csv"])


def _module(**kw) -> SiamMaskModule:
    torch.manual_seed(0)
    args = dict(
        net=instantiate(NET),
        optimizer=SGD,
        backbone_train_layers=["layer2", "layer3"],
        lr_end=0.0025,
        epochs=20,
    )
    return SiamMaskModule(**(args | kw))


def _batch(has_mask=(True, False, True), negative=(False, False, True), seed=0, search=255):
    """Pairs with the target centred (so positive anchors exist) and a rectangle mask on it."""
    b = len(has_mask)
    g = torch.Generator().manual_seed(seed)
    box = torch.tensor([search / 2 - 32, search / 2 - 24, 64.0, 48.0]).repeat(b, 1)
    mask = torch.zeros(b, 1, search, search, dtype=torch.uint8)
    c = search // 2
    mask[:, :, c - 24 : c + 24, c - 32 : c + 32] = 1
    return {
        "template": torch.randint(0, 256, (b, 3, 127, 127), generator=g, dtype=torch.uint8),
        "search": torch.randint(0, 256, (b, 3, search, search), generator=g, dtype=torch.uint8),
        "search_box": box + torch.rand(b, 4, generator=g) * 4,
        "negative": torch.tensor(negative),
        "skipped": torch.zeros(b, dtype=torch.long),
        "search_mask": mask,
        "has_mask": torch.tensor(has_mask),
    }


def _bns(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)]


def _mask_grad(module: SiamMaskModule, batch: dict) -> tuple[dict, float]:
    module.zero_grad()
    out = module(batch["template"], batch["search"])
    terms = module._losses(out, batch, 0, "train")
    terms["loss"].backward()
    return terms, sum(p.grad.abs().sum().item() for p in module.net.mask_head.parameters())


def test_total_is_cls_plus_1_2_loc_plus_36_mask_and_mask_less_pairs_get_no_mask_gradient():
    module = _module().train()
    terms, grad = _mask_grad(module, _batch())
    total = terms["cls_loss"] + 1.2 * terms["loc_loss"] + 36 * terms["mask_loss"]
    torch.testing.assert_close(terms["loss"], total)
    assert grad > 0 and terms["mask_cells"] > 0 and 0.5 < terms["mask_loss"] < 1.0
    assert {"iou_m", "iou_5", "iou_7"} <= set(terms)
    # pairs without a mask and negative pairs: mask loss 0, a zero gradient (not None: DDP)
    terms, grad = _mask_grad(module, _batch(has_mask=(False, True), negative=(False, True)))
    assert terms["mask_cells"] == 0 and terms["mask_loss"] == 0 and grad == 0
    assert all(p.grad is not None for p in module.net.mask_head.parameters())
    torch.testing.assert_close(terms["loss"], terms["cls_loss"] + 1.2 * terms["loc_loss"])


def test_the_forward_skips_the_63x63_head_and_the_loss_equals_the_full_heads():
    module = _module().train()
    batch = _batch(has_mask=(True, True, False), negative=(False, False, False))
    out = module(batch["template"], batch["search"])
    assert out.mask is None
    terms, _ = _mask_grad(module, batch)
    lazy = {n: p.grad.clone() for n, p in module.net.mask_head.named_parameters()}
    # the same step through the full head (every cell's 63 x 63 row), then its selected rows
    net, images = module.net, module._images
    module.forward = lambda z, x: net(net.template(images(z)), images(x))
    module.mask_rows = lambda out, c: module.net.mask_rows(out, c, refine=False)
    assert module(batch["template"], batch["search"]).mask is not None
    ref, _ = _mask_grad(module, batch)
    assert terms["mask_cells"] > 0
    for name in ("loss", "mask_loss", "iou_m", "mask_cells"):
        torch.testing.assert_close(terms[name], ref[name], rtol=1e-5, atol=1e-6)
    for name, p in module.net.mask_head.named_parameters():
        torch.testing.assert_close(lazy[name], p.grad, rtol=1e-4, atol=1e-6)


def test_only_the_mask_pairs_cells_are_trained():
    module = _module().train()
    cells = []
    module.mask_rows = lambda out, c: (cells.append(c), SiamMaskModule.mask_rows(module, out, c))[1]
    _mask_grad(module, _batch(has_mask=(False, True, True), negative=(False, False, True)))
    assert cells[0].shape[0] > 0 and set(cells[0][:, 0].tolist()) == {1}
    # positive cells lie around the centre of the 25 x 25 map
    assert cells[0][:, 1:].float().mean(0).sub(12).abs().max() < 2


def test_learning_rates_per_epoch_are_the_spec_table():
    module = _module()
    module._trainer = SimpleNamespace(world_size=1, max_epochs=20, current_epoch=0)
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    lrs: dict[str, list[float]] = {g["name"]: [] for g in opt.param_groups}
    for _ in range(20):
        for g in opt.param_groups:
            lrs[g["name"]].append(g["lr"])
        opt.step()
        sched.step()
    assert lrs["head"] == pytest.approx(SPEC_LR, rel=2e-3) == lrs["neck"]
    assert lrs["backbone"] == pytest.approx([0.0] * 10 + [0.1 * v for v in SPEC_LR[10:]], rel=2e-3)
    assert lrs["backbone_fixed"] == [0.0] * 20
    mask = {id(p) for p in module.net.mask_head.parameters()}
    head = next(g for g in opt.param_groups if g["name"] == "head")
    assert mask <= {id(p) for p in head["params"]}
    # the experiment's model config: the same schedule and the published weights
    m = BASE.model
    assert (m.base_lr, m.lr_start, m.lr_end, m.warmup_start_lr, m.warmup_epochs) == (
        0.005,
        0.005,
        0.0025,
        0.001,
        5,
    )
    assert (m.cls_weight, m.loc_weight, m.mask_weight, m.max_loss) == (1.0, 1.2, 36.0, 1e4)
    assert list(m.backbone_train_layers) == ["layer2", "layer3"] and m.backbone_lr_mult == 0.1


def test_backbone_batchnorm_stays_in_eval_mode_after_the_unfreeze():
    module = _module()
    bb = module.net.backbone
    for epoch in (0, 10):
        module._trainer = SimpleNamespace(current_epoch=epoch)
        module.train()
        assert module.training and not any(b.training for b in _bns(bb))
        heads = (module.net.neck, module.net.rpn_head, module.net.mask_head)
        assert all(b.training for h in heads for b in _bns(h))
    # layer2/3 train from epoch 10, BN affine parameters included; conv1 / layer1 never
    module.apply_trainable(10)
    assert all(p.requires_grad for m in (bb.layer2, bb.layer3) for p in m.parameters())
    assert not any(p.requires_grad for m in (bb.layer0, bb.layer1) for p in m.parameters())


def test_freeze_backbone_bn_false_trains_the_bns_of_trained_layers():
    """A backbone trained from scratch (experiment=siammask_synthetic): its trained layers' BNs
    are in train mode, the untrained layers' stay in eval mode."""
    module = _module(freeze_backbone_bn=False, backbone_unfreeze_epoch=0)
    module.train()
    bb = module.net.backbone
    assert all(b.training for m in (bb.layer2, bb.layer3) for b in _bns(m))
    assert not any(b.training for m in (bb.layer0, bb.layer1) for b in _bns(m))


def test_config_net_has_pysots_siammask_keys_without_the_refinement():
    ours = OmegaConf.to_container(BASE.model.net, resolve=True)
    ours["backbone"]["depths"] = [1, 1, 1, 1]  # the layout, not ResNet-50's 23 M weights
    theirs = build_pysot_net("siammask_r50_l3")
    theirs.backbone = instantiate(ours["backbone"])
    ours = instantiate(ours).state_dict()
    want = {k: v.shape for k, v in theirs.state_dict().items() if not k.startswith("refine_head.")}
    assert {k: v.shape for k, v in ours.items()} == want
    assert BASE.data.batch_size == 16 and BASE.data.masks and BASE.data.gray_prob == 0.25
    names = [(s.name, s.frame_range, s.num_use) for s in BASE.data.train_sources]
    assert names == [
        ("youtube_vos", 20, 200000),
        ("imagenet_vid", 100, 200000),
        ("coco", 1, -1),
        ("imagenet_det", 1, 100000),
    ]
    assert BASE.data.sampler.neg_prob == 0.2 and BASE.data.samples_per_epoch == 600000
    assert BASE.trainer.max_epochs == 20 and BASE.trainer.gradient_clip_val == 10


class _Pairs(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        batch = _batch(has_mask=(i % 2 == 0,), negative=(False,), seed=i)
        return {k: v[0] for k, v in batch.items()}


def _trainer(tmp_path, **kw) -> L.Trainer:
    args = dict(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=10,
        default_root_dir=tmp_path,
    )
    return L.Trainer(**(args | kw))


def test_fit_resets_momentum_at_the_unfreeze_logs_ious_and_its_checkpoint_loads(tmp_path):
    tracker = compose("eval", ["tracker=siammask_r50_l3"]).tracker
    tracker = OmegaConf.to_container(tracker, resolve=True)
    tracker["precision"] = "fp32"
    module = _module(
        backbone_unfreeze_epoch=1,
        warmup_epochs=0,
        epochs=2,
        export={"net": NET, "tracker": tracker},
    )
    bb = module.net.backbone
    seen: dict[str, object] = {}

    class Spy(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            state = trainer.optimizers[0].state
            seen[f"momenta {trainer.current_epoch}.{batch_idx}"] = len(state)

        def on_train_epoch_end(self, trainer, pl_module):
            seen[f"bn {trainer.current_epoch}"] = bb.layer2[0].conv[1].running_mean.clone()
            seen[f"w {trainer.current_epoch}"] = bb.layer2[0].conv[0].weight.detach().clone()

    logger = L.pytorch.loggers.CSVLogger(tmp_path, name="", version="")
    bn0 = bb.layer2[0].conv[1].running_mean.clone()
    trainer = _trainer(tmp_path, logger=logger, log_every_n_steps=1, callbacks=[Spy()])
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(_Pairs(), batch_size=2))
    assert seen["momenta 0.0"] == 0 and seen["momenta 0.1"] > 0
    assert seen["momenta 1.0"] == 0  # cleared at the unfreeze epoch's start
    assert seen["momenta 1.1"] > seen["momenta 0.1"]  # neck/heads and now layer2/3
    assert not torch.equal(seen["w 0"], seen["w 1"])  # layer2 trained in epoch 1 ...
    assert torch.equal(bn0, seen["bn 0"]) and torch.equal(bn0, seen["bn 1"])  # ... BN in eval
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    for name in ("mask_loss", "iou_m", "iou_5", "iou_7", "cls_loss", "loc_loss", "loss"):
        assert f"train/{name}" in header

    ckpt = tmp_path / "siammask.ckpt"
    trainer.save_checkpoint(ckpt)
    stored = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert stored["siammask"] == {"momentum_reset_epoch": 1}
    loaded = siamlightning.load_tracker(ckpt)
    for name, p in loaded.net.state_dict().items():
        torch.testing.assert_close(p, module.net.state_dict()[name], rtol=0, atol=0)
    assert loaded.net.refine_head is None and loaded.net.mask_size == 63
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    loaded.init(frame, [60, 40, 30, 20])
    result = loaded.track(frame)
    assert np.isfinite(result.box).all() and result.mask.shape == (120, 160)
    # a run resumed inside the reset epoch does not clear the momenta again
    again = _module()
    again.on_load_checkpoint(stored)
    assert again._momentum_reset_epoch == 1


@pytest.mark.parametrize("guard", ["nan", "large"])
def test_steps_with_a_nan_or_too_large_loss_are_skipped_and_counted(tmp_path, caplog, guard):
    kw = {"mask_weight": float("nan")} if guard == "nan" else {"max_loss": 1e-3}
    module = _module(warmup_epochs=0, epochs=1, **kw)  # the fit above updates: this one may not
    before = {k: v.clone() for k, v in module.net.state_dict().items()}
    logger = L.pytorch.loggers.CSVLogger(tmp_path, name="", version="")
    trainer = _trainer(tmp_path, max_epochs=1, logger=logger)
    with caplog.at_level(logging.WARNING):
        trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(_Pairs(), batch_size=2))
    params = {n for n, _ in module.net.named_parameters()}
    after = module.net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in params)  # no update at all
    assert not trainer.optimizers[0].state  # no momentum either
    assert "epoch 0: 2 optimizer steps were skipped" in caplog.text
    assert trainer.global_step == 2 and trainer.callback_metrics["train/skipped_steps"] == 2
