"""Compatibility contract: our state_dict keys and shapes equal pysot's, and its files load.

The reference key lists (``pysot_keys/<config>.txt``) and parameter counts
(``results/facts_*.json``) were dumped from pysot's ModelBuilder at d04028f; they live in the
shared reference bench beside the checkout (or at $SIAMLIGHTNING_SHARED). ``siammask_r50_l3`` is
compared whole: backbone, neck, rpn_head, mask_head and refine_head.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from siamlightning.configs import compose
from siamlightning.models.backbones import PysotAlexNet
from siamlightning.models.heads.rpn import DepthwiseRPN
from siamlightning.models.pysot_weights import (
    MODEL_YAML,
    PYSOT_CONFIGS,
    build_pysot_net,
    load_pysot_state_dict,
    pysot_net_config,
)
from siamlightning.models.siamrpn import SiamRPNNet

CONFIGS = [
    "siamrpn_alex_dwxcorr",
    "siamrpn_r50_l234_dwxcorr",
    "siamrpn_mobilev2_l234_dwxcorr",
    "siammask_r50_l3",
]


def _bench() -> Path:
    env = os.environ.get("SIAMLIGHTNING_SHARED")
    shared = Path(env) if env else Path(__file__).resolve().parents[3] / "shared"
    bench = shared / "reference-bench"
    if not (bench / "pysot_keys").is_dir():
        pytest.skip(
            f"pysot reference key lists not found under {bench} "
            "(set SIAMLIGHTNING_SHARED to the shared folder holding reference-bench/)"
        )
    return bench


def _pysot_keys(config: str) -> dict[str, tuple[int, ...]]:
    out = {}
    for line in (_bench() / "pysot_keys" / f"{config}.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, shape, _dtype = line.split("\t")
        out[key] = tuple(json.loads(shape))
    return out


@pytest.fixture(scope="module")
def nets() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {c: build_pysot_net(c) for c in CONFIGS}


@pytest.mark.parametrize("config", CONFIGS)
def test_state_dict_keys_and_shapes_equal_pysot(config, nets):
    ref = _pysot_keys(config)
    ours = {k: tuple(v.shape) for k, v in nets[config].state_dict().items()}
    assert [k for k in ref if k not in ours] == []
    assert [k for k in ours if k not in ref] == []
    assert {k: s for k, s in ours.items() if ref[k] != s} == {}
    assert list(ours) == list(ref)  # same order too


@pytest.mark.parametrize("config", CONFIGS)
def test_parameter_counts_equal_pysot(config, nets):
    facts = json.loads((_bench() / "results" / f"facts_{config}.json").read_text())["params"]
    net = nets[config]

    def count(module):
        return sum(p.numel() for p in module.parameters()) if module is not None else 0

    assert count(net.backbone) == facts["backbone"]
    assert count(net.neck) == facts.get("neck", 0)
    assert count(net.rpn_head) == facts["rpn_head"]
    assert count(getattr(net, "mask_head", None)) == facts.get("mask_head", 0)
    assert count(getattr(net, "refine_head", None)) == facts.get("refine_head", 0)
    assert count(net) == facts["total"]


def _fake_pysot_file(net: SiamRPNNet, seed: int = 1) -> dict:
    """A pysot training checkpoint: ``module.``-prefixed ``state_dict``, no BN counters."""
    g = torch.Generator().manual_seed(seed)
    state = {
        f"module.{k}": (torch.randn(v.shape, generator=g) if v.is_floating_point() else v)
        for k, v in net.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    return {"epoch": 20, "state_dict": state}


def test_load_checkpoint_with_module_prefix(nets):
    src = nets["siamrpn_alex_dwxcorr"]
    ckpt = _fake_pysot_file(src)
    net = build_pysot_net("siamrpn_alex_dwxcorr")
    load_pysot_state_dict(net, ckpt, "siamrpn_alex_dwxcorr")
    for k, v in ckpt["state_dict"].items():
        assert torch.equal(net.state_dict()[k[len("module.") :]], v)
    # a bare state dict loads too, and so does the legacy layout into the split PysotAlexNet
    bare = {k[len("module.") :]: v for k, v in ckpt["state_dict"].items()}
    load_pysot_state_dict(net, bare, "siamrpn_alex_dwxcorr")
    split = SiamRPNNet(backbone=PysotAlexNet(), head=DepthwiseRPN(in_channels=256))
    load_pysot_state_dict(split, ckpt, "siamrpn_alex_dwxcorr")
    torch.testing.assert_close(
        split.backbone.layer5[1].running_var, bare["backbone.features.15.running_var"]
    )


def test_wrong_file_raises_with_key_lists(nets):
    alex_file = _fake_pysot_file(nets["siamrpn_alex_dwxcorr"])
    with pytest.raises(ValueError, match="missing keys") as err:
        load_pysot_state_dict(nets["siamrpn_mobilev2_l234_dwxcorr"], alex_file, "x")
    msg = str(err.value)
    assert "unexpected keys" in msg and "backbone.features.0.weight" in msg
    r50 = {k: v for k, v in nets["siamrpn_r50_l234_dwxcorr"].state_dict().items()}
    r50["rpn_head.cls_weight"] = torch.ones(4)
    with pytest.raises(ValueError, match=r"shape mismatches.*rpn_head\.cls_weight"):
        load_pysot_state_dict(nets["siamrpn_r50_l234_dwxcorr"], r50, "siamrpn_r50_l234_dwxcorr")


def test_siammask_file_needs_its_mask_and_refine_keys(nets):
    net = nets["siammask_r50_l3"]
    state = dict(net.state_dict())
    assert sum(k.startswith(("mask_head.", "refine_head.")) for k in state) == 20 + 32
    load_pysot_state_dict(net, state, "siammask_r50_l3")
    box_only = {k: v for k, v in state.items() if not k.startswith(("mask_head.", "refine_head."))}
    with pytest.raises(ValueError, match=r"49 missing keys \(mask_head: 17, refine_head: 32\)"):
        load_pysot_state_dict(net, box_only, "siammask_r50_l3")
    with pytest.raises(ValueError, match=r"unexpected keys.*mask_head: 20, refine_head: 32"):
        load_pysot_state_dict(nets["siamrpn_r50_l234_dwxcorr"], state, "siamrpn_r50_l234_dwxcorr")


def test_pysot_nets_are_the_training_model_configs_nets():
    # one definition: every pysot net but siammask's (no training config yet) is its model yaml's
    assert sorted(PYSOT_CONFIGS) == sorted([*MODEL_YAML, "siammask_r50_l3"])
    for name, model in MODEL_YAML.items():
        net = OmegaConf.to_container(compose("train", [f"model={model}", "~experiment"]).model.net)
        ours = pysot_net_config(name)
        if "alex" in name:  # pysot's zoo files hold the un-split AlexNet
            assert ours["backbone"].pop("_target_").endswith(".PysotAlexNetLegacy")
            assert net["backbone"].pop("_target_").endswith(".PysotAlexNet")
        assert ours == net, name
