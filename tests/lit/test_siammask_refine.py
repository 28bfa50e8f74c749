"""SiamMaskRefineModule (SiamMask's refine stage): base weights from a Lightning, foolwood or pysot
file, SiamMask's Refine init, frozen parts and BN modes, loss = 36 x mask with the RPN outside
backward, the spec's LR table, and a fit from a base checkpoint whose result tracks at 255."""

from __future__ import annotations

import copy
import functools
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

import siamlightning
from siamlightning.configs import compose
from siamlightning.errors import ConfigError
from siamlightning.lit.siammask import SiamMaskModule
from siamlightning.lit.siammask_refine import (
    SiamMaskRefineModule,
    cap_cells,
    load_base_weights,
)
from siamlightning.models.pysot_weights import build_pysot_net
from siamlightning.models.siammask_weights import ANCHORS, to_foolwood_state_dict

SGD = functools.partial(torch.optim.SGD, momentum=0.9, weight_decay=1e-4)
# ResNet-50's layout at a quarter of the channels, one block per stage (143 -> p0 69, p1 35,
# p2 17, layer3 17 -> neck [4:-4] 9 -> 3x3 score map), the refinement on its narrower maps
NET = {
    "_target_": "siamlightning.models.siammask.SiamMaskNet",
    "backbone": {
        "_target_": "siamlightning.models.backbones.resnet_atrous.ResNet50Atrous",
        "used_layers": [0, 1, 2, 3],
        "depths": [1, 1, 1, 1],
        "width": 0.25,
    },
    "neck": {
        "_target_": "siamlightning.models.necks.AdjustAllLayer",
        "in_channels": [256],
        "out_channels": [16],
        "crop_margin": 4,
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
    "refine_head": {
        "_target_": "siamlightning.models.heads.mask.Refine",
        "in_channels": [16, 64, 128],
        "corr_channels": 16,
    },
}
# the base stage's net: no refinement, pysot's neck rule (trained at 255, where both agree)
BASE_NET = copy.deepcopy(NET) | {"refine_head": None}
BASE_NET["neck"] = {k: v for k, v in NET["neck"].items() if k != "crop_margin"}
# SiamMask sharp (config.json): log 0.01 -> 0.0025 over 20 epochs, no warm-up
SPEC_LR = [0.01, 0.009296, 0.008642, 0.008034, 0.007469, 0.006943, 0.006455, 0.006001]
SPEC_LR += [0.005578, 0.005186, 0.004821, 0.004482, 0.004166, 0.003873, 0.003601, 0.003347]
SPEC_LR += [0.003112, 0.002893, 0.002689, 0.0025]
SHARP = compose("train", ["experiment=siammask_sharp", "logger=csv"])
BN = torch.nn.modules.batchnorm._BatchNorm


def _module(**kw) -> SiamMaskRefineModule:
    torch.manual_seed(0)
    args = dict(net=instantiate(NET), optimizer=SGD, epochs=20, from_scratch=True)
    return SiamMaskRefineModule(**(args | kw))


def _base_state(seed: int = 1) -> dict[str, torch.Tensor]:
    """A base-stage module's state dict (``net.*``), BN statistics away from their init."""
    torch.manual_seed(seed)
    base = SiamMaskModule(net=instantiate(BASE_NET), optimizer=SGD, backbone_train_layers=[])
    for m in base.modules():
        if isinstance(m, BN):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return base.state_dict()


def _batch(has_mask=(True, False), seed=0, search=143):
    """Pairs with the target centred (positive anchors at the 3x3 map's centre) and its mask."""
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
        "negative": torch.zeros(b, dtype=torch.bool),
        "skipped": torch.zeros(b, dtype=torch.long),
        "search_mask": mask,
        "has_mask": torch.tensor(has_mask),
    }


def _parts(module: SiamMaskRefineModule, prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.net.state_dict().items() if k.startswith(prefixes)}


FIXED = ("backbone.", "neck.", "rpn_head.", "mask_head.head.")


@pytest.mark.parametrize("layout", ["lightning", "foolwood", "pysot"])
def test_init_from_loads_a_base_network_and_keeps_the_new_refine(tmp_path, layout):
    state = _base_state()
    net_state = {k.removeprefix("net."): v for k, v in state.items()}
    path = tmp_path / f"base_{layout}.pth"
    if layout == "lightning":
        torch.save({"state_dict": state, "epoch": 12, "pytorch-lightning_version": "2.6"}, path)
    elif layout == "foolwood":  # train_siammask.py's checkpoint_e*.pth
        torch.save({"state_dict": to_foolwood_state_dict(net_state), "anchor_cfg": ANCHORS}, path)
    else:
        torch.save(net_state, path)
    module = _module()
    refine = _parts(module, ("refine_head.",))
    report = load_base_weights(module.net, path)
    after = module.net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in net_state.items())
    assert all(torch.equal(after[k], v) for k, v in refine.items())
    assert sorted(report["new"]) == sorted(refine) and report["unexpected"] == []


def test_a_file_without_the_base_parts_is_refused_naming_the_file(tmp_path):
    net_state = {k.removeprefix("net."): v for k, v in _base_state().items()}
    rpn_only = tmp_path / "siamrpn.pth"
    torch.save({k: v for k, v in net_state.items() if not k.startswith("mask_head.")}, rpn_only)
    with pytest.raises(ValueError, match=r"siamrpn\.pth.*\n.*missing .*mask_head\.conv_kernel"):
        load_base_weights(_module().net, rpn_only)
    wide = tmp_path / "wide.pth"
    torch.save(net_state | {"neck.downsample.downsample.0.weight": torch.zeros(8, 256, 1, 1)}, wide)
    with pytest.raises(ValueError, match=r"wide\.pth.*\n.*1 shape mismatches: neck"):
        load_base_weights(_module().net, wide)


def test_init_from_is_required_and_not_loaded_on_resume(tmp_path):
    module = _module(from_scratch=False, init_from=str(tmp_path / "missing.ckpt"))
    module._trainer = SimpleNamespace(ckpt_path="last.ckpt", max_epochs=20)
    module.on_fit_start()  # a resume: its checkpoint holds the weights, the file is not read
    module._trainer = SimpleNamespace(ckpt_path=None, max_epochs=20)
    with pytest.raises(ValueError, match=r"missing\.ckpt"):
        module.on_fit_start()
    module = _module(from_scratch=False)
    module._trainer = SimpleNamespace(ckpt_path=None, max_epochs=20)
    with pytest.raises(ConfigError, match=r"experiment=siammask_base .*model\.init_from="):
        module.on_fit_start()


def test_refine_convs_start_from_kaiming_uniform_a1_and_the_deconv_from_the_default():
    refine = _module().net.refine_head
    for conv in (refine.v2[0], refine.h0[2], refine.post0, refine.post2):
        fan_in = conv.weight[0].numel()  # a=1: bound sqrt(3 / fan_in); default: 1 / sqrt(fan_in)
        assert 1.0 / fan_in**0.5 < conv.weight.abs().max() <= (3.0 / fan_in) ** 0.5
    fan_in = refine.deconv.weight.shape[1] * 15 * 15
    assert refine.deconv.weight.abs().max() <= 1.0 / fan_in**0.5


def test_only_maskcorr_and_refine_train_and_the_fixed_parts_batchnorms_stay_in_eval():
    module = _module().train()
    net = module.net
    trained = {n.split(".")[0] + "." + n.split(".")[1] for n, p in net.named_parameters()
               if p.requires_grad}  # fmt: skip
    assert {n for n in trained if not n.startswith("refine_head.")} == {
        "neck.downsample",  # for the clip norm, at LR 0
        "mask_head.conv_kernel",
        "mask_head.conv_search",
    }
    assert all(p.requires_grad for p in net.refine_head.parameters())
    for part in (net.backbone, net.neck, net.rpn_head):
        assert not part.training and not any(m.training for m in part.modules())
    assert all(m.training for m in net.mask_head.modules() if isinstance(m, BN))
    frozen_neck = _module(neck_grads=False).net.neck
    assert not any(p.requires_grad for p in frozen_neck.parameters())


def test_loss_is_36_times_the_refine_mask_loss_and_backward_stays_out_of_the_rpn():
    module = _module().train()
    out = module(*(_batch()[k] for k in ("template", "search")))
    assert out.cls.shape[-2:] == (3, 3) and out.mask is None
    terms = module._losses(out, _batch(), 0, "train")
    torch.testing.assert_close(terms["loss"], 36 * terms["mask_loss"])
    assert terms["mask_cells"] > 0 and terms["cls_loss"] > 0 and terms["loc_loss"] > 0
    assert terms["cls_loss"].grad_fn is None  # logged only
    terms["loss"].backward()
    trained = [p for p in module.net.parameters() if p.requires_grad]
    assert all(p.grad is not None for p in trained)
    assert all(p.grad is None for p in module.net.rpn_head.parameters())
    # no mask pairs: zero gradients, not None, on every trained parameter (DDP waits for each)
    module.zero_grad(set_to_none=True)
    batch = _batch(has_mask=(False, False))
    terms = module._losses(module(batch["template"], batch["search"]), batch, 0, "train")
    terms["loss"].backward()
    assert terms["mask_cells"] == 0 and terms["loss"] == 0
    assert all(p.grad is not None and not p.grad.any() for p in trained)


def test_cap_cells_keeps_at_most_k_random_cells_of_each_sample_in_order():
    cells = torch.tensor([[0, 0, 0], [0, 0, 1], [0, 1, 1], [1, 2, 2], [3, 0, 0], [3, 0, 1]])
    cells = torch.cat([cells, torch.tensor([[3, 1, 0], [3, 2, 2]])])
    torch.manual_seed(0)
    seen = set()
    for _ in range(200):
        kept = cap_cells(cells, 2)
        b = kept[:, 0].tolist()
        assert b.count(0) == 2 and b.count(1) == 1 and b.count(3) == 2
        rows = [cells.tolist().index(c) for c in kept.tolist()]
        assert rows == sorted(rows)  # a subset, in the original order
        seen.update(map(tuple, kept.tolist()))
    assert seen == set(map(tuple, cells.tolist()))  # every cell can be drawn
    assert torch.equal(cap_cells(cells, 4), cells)
    assert cap_cells(cells[:0], 2).shape == (0, 3)


def test_cells_per_sample_caps_the_training_loss_only():
    module = _module(cells_per_sample=1).train()
    batch = _batch(has_mask=(True, True))
    out = module(batch["template"], batch["search"])
    everything = _module()._losses(out, batch, 0, "val")["mask_cells"]
    assert everything > 2
    assert module._losses(out, batch, 0, "train")["mask_cells"] == 2  # one per mask pair
    assert module._losses(out, batch, 0, "val")["mask_cells"] == everything
    with pytest.raises(ValueError, match="cells_per_sample must be None or >= 1, got 0"):
        _module(cells_per_sample=0)


def test_the_clip_norm_over_the_optimisers_parameters_is_siammasks_global_norm():
    batch = _batch()
    module = _module().train()
    module._losses(module(batch["template"], batch["search"]), batch, 0, "train")["loss"].backward()
    module._trainer = SimpleNamespace(world_size=1, max_epochs=20)
    opt = module.configure_optimizers()["optimizer"]  # what Lightning's clipping sees
    name = {id(p): n for n, p in module.net.named_parameters()}
    ours = {name[id(p)]: p.grad for g in opt.param_groups for p in g["params"]}
    # SiamMask: all but the backbone require grad, loss = 0 cls + 0 loc + 36 mask, clip over all
    official = _module().train()
    for n, p in official.net.named_parameters():
        p.requires_grad_(not n.startswith("backbone."))
    out = official(batch["template"], batch["search"])
    loss = official._losses(out, batch, 0, "train")["loss"]
    (loss + 0 * out.cls.sum() + 0 * out.loc.sum()).backward()
    grads = {n: p.grad for n, p in official.net.named_parameters() if p.grad is not None}
    assert not any(grads[n].any() for n in grads if n not in ours)  # the RPN's zeros
    assert any(n.startswith("neck.") for n in ours)  # counted, never applied
    for n, grad in ours.items():
        torch.testing.assert_close(grad, grads[n], msg=n)


def test_learning_rates_per_epoch_are_the_spec_table_and_the_neck_never_moves():
    module = _module()
    module._trainer = SimpleNamespace(world_size=1, max_epochs=20)
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    lrs: dict[str, list[float]] = {g["name"]: [] for g in opt.param_groups}
    for _ in range(20):
        for g in opt.param_groups:
            lrs[g["name"]].append(g["lr"])
        opt.step()
        sched.step()
    assert lrs["mask"] == pytest.approx(SPEC_LR, rel=2e-3) and lrs["neck_fixed"] == [0.0] * 20
    group = {id(p) for p in opt.param_groups[0]["params"]}
    assert group == {id(p) for p in module.trained_parameters()}
    m = SHARP.model  # the experiment's values
    assert (m.base_lr, m.lr_start, m.lr_end, m.warmup_epochs, m.mask_lr_mult) == (
        0.01, 0.01, 0.0025, 0, 1.0
    )  # fmt: skip
    assert (m.cls_weight, m.loc_weight, m.mask_weight, m.momentum_reset) == (0, 0, 36, "epoch")


def test_experiment_is_siammasks_sharp_config_on_pysots_siammask_keys():
    ours = OmegaConf.to_container(SHARP.model.net, resolve=True)
    assert ours["neck"]["crop_margin"] == 4
    ours["backbone"]["depths"] = [1, 1, 1, 1]  # the layout, not ResNet-50's weights
    theirs = build_pysot_net("siammask_r50_l3")
    theirs.backbone = instantiate(ours["backbone"])
    want = {k: v.shape for k, v in theirs.state_dict().items()}
    assert {k: v.shape for k, v in instantiate(ours).state_dict().items()} == want
    d = SHARP.data
    names = [(s.name, s.frame_range, s.num_use) for s in d.train_sources]
    assert names == [("youtube_vos", 20, 100000), ("coco", 1, -1)]
    assert (d.samples_per_epoch, d.batch_size, d.search_size, d.masks) == (200000, 16, 143, True)
    assert (d.search_shift, d.search_scale, d.blur_prob, d.gray_prob) == (8, 0.18, 0.18, 0.25)
    assert (d.template_shift, d.template_scale, d.sampler.neg_prob) == (4, 0.05, 0.0)
    assert SHARP.tracker.search_size == 255 and SHARP.geometry.train_search_size == 143
    assert SHARP.trainer.max_epochs == 20 and SHARP.trainer.gradient_clip_val == 10
    assert SHARP.model.init_from is None and not SHARP.model.from_scratch


class _Pairs(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        batch = _batch(has_mask=(i % 2 == 0,), seed=i)
        return {k: v[0] for k, v in batch.items()}


def test_fit_from_a_base_checkpoint_trains_refine_only_and_tracks_at_255(tmp_path):
    state = _base_state()
    base = tmp_path / "base.ckpt"
    torch.save({"state_dict": state}, base)
    tracker = OmegaConf.to_container(SHARP.tracker, resolve=True) | {"precision": "fp32"}
    module = _module(
        from_scratch=False, init_from=str(base), export={"net": NET, "tracker": tracker}
    )
    refine0 = _parts(module, ("refine_head.",))
    seen: dict[str, object] = {}

    class Spy(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen[f"momenta {trainer.current_epoch}.{batch_idx}"] = len(trainer.optimizers[0].state)

    logger = L.pytorch.loggers.CSVLogger(tmp_path, name="", version="")
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=2, logger=logger, log_every_n_steps=1, callbacks=[Spy()],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        gradient_clip_val=10, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(_Pairs(), batch_size=2))
    n = len(module.trained_parameters()) + 3  # + the neck's conv and BN (LR 0)
    assert seen == {"momenta 0.0": 0, "momenta 0.1": n, "momenta 1.0": 0, "momenta 1.1": n}
    after = module.net.state_dict()
    fixed = {
        k.removeprefix("net."): v
        for k, v in state.items()
        if k.startswith(tuple("net." + f for f in FIXED))
    }
    assert fixed and all(torch.equal(after[k], v) for k, v in fixed.items())  # BN stats too
    bn = "mask_head.conv_search.1.running_mean"
    assert not torch.equal(after[bn], state["net." + bn])  # MaskCorr's BNs train
    assert all(not torch.equal(after[k], v) for k, v in refine0.items() if k.endswith("weight"))
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {f"train/{n}" for n in ("loss", "mask_loss", "cls_loss", "iou_m", "mask_cells")} <= set(
        header
    )

    ckpt = tmp_path / "sharp.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = siamlightning.load_tracker(ckpt)
    assert all(torch.equal(v, after[k]) for k, v in loaded.net.state_dict().items())
    assert loaded.search_size == 255 and loaded.net.mask_size == 127
    frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    loaded.init(frame, [60, 40, 30, 20])
    result = loaded.track(frame)
    assert np.isfinite(result.box).all() and result.mask.shape == (120, 160)
    # a refine checkpoint is itself a valid init_from (nothing new, nothing ignored)
    again = _module()
    assert load_base_weights(again.net, ckpt) == {"new": [], "unexpected": []}
    assert all(torch.equal(v, after[k]) for k, v in again.net.state_dict().items())
