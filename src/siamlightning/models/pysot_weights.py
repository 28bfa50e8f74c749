"""pysot model-zoo configs as SiamRPNNet and loading of pysot ``model.pth`` files into them.

Our module names equal pysot's, so the key map is the identity, apart from: a ``module.`` prefix
(DataParallel) is stripped; an ``AlexNetLegacy`` file (``backbone.features.N``) loads into the
split ``AlexNet`` (``backbone.layerK.M``); missing ``num_batches_tracked`` buffers are allowed (as
pysot's ``load_pretrain``); for ``siammask*`` configs the ``mask_head.`` / ``refine_head.`` keys
are skipped when the net has no such modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from siamlightning.models.backbones.mobilenet_v2 import MobileNetV2
from siamlightning.models.backbones.pysot_alexnet import AlexNetLegacy, legacy_to_layers_key
from siamlightning.models.backbones.resnet_atrous import ResNet50Atrous
from siamlightning.models.heads.rpn import DepthwiseRPN, MultiRPN
from siamlightning.models.necks import AdjustAllLayer
from siamlightning.models.siamrpn import SiamRPNNet


def _alex() -> SiamRPNNet:
    return SiamRPNNet(backbone=AlexNetLegacy(), head=DepthwiseRPN(in_channels=256))


def _r50_l234(weighted: bool = True) -> SiamRPNNet:
    return SiamRPNNet(
        backbone=ResNet50Atrous(used_layers=(2, 3, 4)),
        neck=AdjustAllLayer(in_channels=(512, 1024, 2048), out_channels=(256, 256, 256)),
        head=MultiRPN(in_channels=(256, 256, 256), weighted=weighted),
    )


def _mobilev2() -> SiamRPNNet:
    return SiamRPNNet(
        backbone=MobileNetV2(width_mult=1.4, used_layers=(3, 5, 7)),
        neck=AdjustAllLayer(in_channels=(44, 134, 448), out_channels=(256, 256, 256)),
        head=MultiRPN(in_channels=(256, 256, 256), weighted=False),
    )


def _siammask_rpn() -> SiamRPNNet:
    return SiamRPNNet(
        backbone=ResNet50Atrous(used_layers=(0, 1, 2, 3)),
        neck=AdjustAllLayer(in_channels=(1024,), out_channels=(256,)),
        head=DepthwiseRPN(in_channels=256, out_channels=256),
        head_layers=(3,),
    )


#: pysot ``experiments/<name>/config.yaml`` -> builder of the matching net (SiamMask: box part)
PYSOT_CONFIGS: dict[str, Callable[[], SiamRPNNet]] = {
    "siamrpn_alex_dwxcorr": _alex,
    "siamrpn_alex_dwxcorr_otb": _alex,
    "siamrpn_r50_l234_dwxcorr": _r50_l234,
    "siamrpn_r50_l234_dwxcorr_otb": lambda: _r50_l234(weighted=False),
    "siamrpn_mobilev2_l234_dwxcorr": _mobilev2,
    "siammask_r50_l3": _siammask_rpn,
}

_OPTIONAL_PREFIXES = ("mask_head.", "refine_head.")


def build_pysot_net(config_name: str) -> SiamRPNNet:
    """A freshly initialised SiamRPNNet laid out as pysot's ``config_name``."""
    if config_name not in PYSOT_CONFIGS:
        raise ValueError(f"unknown pysot config {config_name!r}; known: {sorted(PYSOT_CONFIGS)}")
    return PYSOT_CONFIGS[config_name]()


def _unwrap(state: Mapping | str | Path) -> dict[str, torch.Tensor]:
    if isinstance(state, str | Path):
        state = torch.load(state, map_location="cpu", weights_only=True)
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    prefix = "module."
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in state.items()}


def _summary(keys: list[str], limit: int = 8) -> str:
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_pysot_state_dict(
    net: nn.Module, state: Mapping | str | Path, config_name: str
) -> list[str]:
    """Load a pysot state dict / checkpoint (or its path) into ``net``; returns skipped keys.

    Raises ValueError naming the missing, unexpected and wrongly shaped keys when the file does
    not belong to ``config_name``'s layout.
    """
    src = _unwrap(state)
    ours = net.state_dict()
    if any(k.startswith("backbone.features.") for k in src):
        split = {
            ("backbone." + legacy_to_layers_key(k[9:]) if k.startswith("backbone.") else k): v
            for k, v in src.items()
        }
        if split.keys() <= ours.keys() and not src.keys() <= ours.keys():
            src = split  # an AlexNetLegacy file for the split AlexNet
    skipped = []
    if config_name.startswith("siammask"):
        for k in list(src):
            if k.startswith(_OPTIONAL_PREFIXES) and k not in ours:
                skipped.append(k)
                del src[k]
    missing = [k for k in ours if k not in src and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in src if k not in ours]
    shapes = [
        f"{k} {tuple(v.shape)} (ours {tuple(ours[k].shape)})"
        for k, v in src.items()
        if k in ours and tuple(v.shape) != tuple(ours[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = [f"weights do not match pysot config {config_name!r}:"]
        if missing:
            parts.append(f"{len(missing)} missing keys: {_summary(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {_summary(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches: {_summary(shapes)}")
        raise ValueError("\n  ".join(parts))
    net.load_state_dict({**ours, **src}, strict=True)
    return skipped
