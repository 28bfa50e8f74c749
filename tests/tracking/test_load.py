"""load_tracker: checkpoints written before names moved, and its typed keyword arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import siamlightning
from siamlightning.lit.common import EXPORT_KEY
from siamlightning.models.backbones.pysot_alexnet import PysotAlexNet
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.models.heads.rpn import DepthwiseRPN
from siamlightning.models.siamfc import SiamFCNet
from siamlightning.models.siamrpn import SiamRPNNet
from siamlightning.tracking import load
from siamlightning.tracking.moved_names import upgrade_config

OLD = "siamlightning.models.backbones"


def _old_checkpoint(path, net: torch.nn.Module, export: dict) -> str:
    """A checkpoint as siamlightning-train wrote it before issue 9 (old names in the export)."""
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "global_step": 7, "siamlightning": export}, path)
    return str(path)


def test_old_siamfc_checkpoint_loads_with_todays_names(tmp_path):
    torch.manual_seed(0)
    net = SiamFCNet(backbone=SiamFCAlexNet(width=0.25))
    export = {
        "net": {
            "_target_": "siamlightning.models.siamfc.SiamFCNet",
            "backbone": {"_target_": f"{OLD}.alexnet.AlexNetV1", "width": 0.25},
        },
        "tracker": {
            "_target_": "siamlightning.tracking.siamfc.SiamFCTracker",
            "exemplar_size": 127,
            "instance_size": 271,
            "context": 0.4,
            "precision": "auto",
        },
    }
    tracker = siamlightning.load_tracker(_old_checkpoint(tmp_path / "old.ckpt", net, export))
    assert isinstance(tracker.net.backbone, SiamFCAlexNet)
    assert (tracker.search_size, tracker.context_amount) == (271, 0.4)
    for k, v in net.state_dict().items():
        assert torch.equal(tracker.net.state_dict()[k], v)
    image = np.zeros((120, 160, 3), np.uint8)
    tracker.init(image, [60, 40, 30, 20])
    assert np.isfinite(tracker.track(image).box).all()


def test_old_siamrpn_checkpoint_loads_with_todays_names(tmp_path):
    torch.manual_seed(0)
    net = SiamRPNNet(backbone=PysotAlexNet(width_mult=0.25), head=DepthwiseRPN(in_channels=64))
    export = {
        "net": {
            "_target_": "siamlightning.models.siamrpn.SiamRPNNet",
            "backbone": {"_target_": f"{OLD}.pysot_alexnet.AlexNet", "width_mult": 0.25},
            "head": {"_target_": "siamlightning.models.heads.rpn.DepthwiseRPN", "in_channels": 64},
        },
        "tracker": {
            "_target_": "siamlightning.tracking.siamrpn.SiamRPNTracker",
            "instance_size": 271,
            "context_amount": 0.5,
            "penalty_k": 0.16,
            "window_influence": 0.4,
            "lr": 0.3,
        },
    }
    tracker = siamlightning.load_tracker(_old_checkpoint(tmp_path / "old.ckpt", net, export))
    assert isinstance(tracker.net.backbone, PysotAlexNet) and tracker.search_size == 271


def test_upgrade_config_renames_only_what_moved():
    new = {
        "_target_": "siamlightning.tracking.siamrpn_lt.SiamRPNLTTracker",
        "search_size": 255,
        "lost_search_size": 831,
        "context_amount": 0.5,
    }
    assert upgrade_config(new) == new
    old = {**new, "lost_instance_size": 767}
    del old["lost_search_size"]
    up = upgrade_config(old)
    assert up["lost_search_size"] == 767 and "lost_instance_size" not in up
    # "context" is SiamFC's old name only; a SiamRPN tracker keeps a key of that name as it is
    rpn = {"_target_": "siamlightning.tracking.siamrpn.SiamRPNTracker", "context": 1}
    assert upgrade_config(rpn) == rpn
    nested = {"backbone": {"_target_": f"{OLD}.AlexNetLegacy"}, "heads": [{"_target_": "x"}]}
    assert upgrade_config(nested) == {
        "backbone": {"_target_": f"{OLD}.pysot_alexnet.PysotAlexNetLegacy"},
        "heads": [{"_target_": "x"}],
    }


def test_keywords_device_and_precision_override_the_stored_config(tmp_path):
    torch.manual_seed(0)
    net = SiamFCNet(backbone=SiamFCAlexNet(width=0.25))
    export = {
        "net": {
            "_target_": "siamlightning.models.siamfc.SiamFCNet",
            "backbone": {"_target_": f"{OLD}.siamfc_alexnet.SiamFCAlexNet", "width": 0.25},
        },
        "tracker": {"_target_": "siamlightning.tracking.siamfc.SiamFCTracker", "precision": "bf16"},
    }
    path = _old_checkpoint(tmp_path / "new.ckpt", net, export)
    tracker = siamlightning.load_tracker(path, device="cpu", precision="fp32", scale_num=5)
    assert len(tracker.scale_factors) == 5
    assert (tracker.device, tracker.precision) == (torch.device("cpu"), "fp32")
    assert load.EXPORT_KEY == EXPORT_KEY  # the key the modules write is the one load reads
    with pytest.raises(TypeError):
        siamlightning.load_tracker(path, "model.pth")  # weights= is keyword-only
