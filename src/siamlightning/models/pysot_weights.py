"""pysot model-zoo configs as our nets and loading of pysot ``model.pth`` files into them.

Our module names equal pysot's, so the key map is the identity, apart from: a ``module.`` prefix
(DataParallel) is stripped; a ``{"state_dict": ...}`` training checkpoint is unwrapped; an
``PysotAlexNetLegacy`` file (``backbone.features.N``) loads into the split ``PysotAlexNet``
(``backbone.layerK.M``); missing ``num_batches_tracked`` buffers are allowed (as pysot's
``load_pretrain``). Anything else missing, unexpected or of another shape is an error that lists
the keys. SiamRPN configs build a `SiamRPNNet`, ``siammask_r50_l3`` a `SiamMaskNet` (box, mask
and refine heads: all 356 of pysot's tensors).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from siamlightning.models.backbones.mobilenet_v2 import MobileNetV2
from siamlightning.models.backbones.pysot_alexnet import PysotAlexNetLegacy, legacy_to_layers_key
from siamlightning.models.backbones.resnet_atrous import ResNet50Atrous
from siamlightning.models.heads.mask import MaskCorr, Refine
from siamlightning.models.heads.rpn import DepthwiseRPN, MultiRPN
from siamlightning.models.necks import AdjustAllLayer
from siamlightning.models.siammask import SiamMaskNet
from siamlightning.models.siamrpn import SiamRPNNet


def _alex() -> SiamRPNNet:
    return SiamRPNNet(backbone=PysotAlexNetLegacy(), head=DepthwiseRPN(in_channels=256))


def _r50_l234(*, weighted: bool = True, channels: tuple[int, ...] = (256, 256, 256)) -> SiamRPNNet:
    """r50 [2, 3, 4] -> neck -> MultiRPN; the ``_lt`` config maps to 128/256/512 channels."""
    return SiamRPNNet(
        backbone=ResNet50Atrous(used_layers=(2, 3, 4)),
        neck=AdjustAllLayer(in_channels=(512, 1024, 2048), out_channels=channels),
        head=MultiRPN(in_channels=channels, weighted=weighted),
    )


def _mobilev2() -> SiamRPNNet:
    return SiamRPNNet(
        backbone=MobileNetV2(width_mult=1.4, used_layers=(3, 5, 7)),
        neck=AdjustAllLayer(in_channels=(44, 134, 448), out_channels=(256, 256, 256)),
        head=MultiRPN(in_channels=(256, 256, 256), weighted=False),
    )


def _siammask() -> SiamMaskNet:
    return SiamMaskNet(
        backbone=ResNet50Atrous(used_layers=(0, 1, 2, 3)),
        neck=AdjustAllLayer(in_channels=(1024,), out_channels=(256,)),
        head=DepthwiseRPN(in_channels=256, out_channels=256),
        mask_head=MaskCorr(in_channels=256, hidden=256, out_channels=63 * 63),
        refine_head=Refine(),
    )


#: pysot ``experiments/<name>/config.yaml`` -> builder of the matching (randomly initialised) net
PYSOT_CONFIGS: dict[str, Callable[[], nn.Module]] = {
    "siamrpn_alex_dwxcorr": _alex,
    "siamrpn_alex_dwxcorr_otb": _alex,
    "siamrpn_r50_l234_dwxcorr": _r50_l234,
    "siamrpn_r50_l234_dwxcorr_otb": lambda: _r50_l234(weighted=False),
    "siamrpn_r50_l234_dwxcorr_lt": lambda: _r50_l234(channels=(128, 256, 512)),
    "siamrpn_mobilev2_l234_dwxcorr": _mobilev2,
    "siammask_r50_l3": _siammask,
}


def build_pysot_net(config_name: str) -> nn.Module:
    """A freshly initialised net laid out as pysot's ``config_name`` (SiamRPNNet / SiamMaskNet)."""
    if config_name not in PYSOT_CONFIGS:
        raise ValueError(f"unknown pysot config {config_name!r}; known: {sorted(PYSOT_CONFIGS)}")
    return PYSOT_CONFIGS[config_name]()


def _unwrap(state: Mapping | str | Path) -> dict[str, torch.Tensor]:
    if isinstance(state, str | Path):
        state = torch.load(state, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise ValueError(f"expected a state dict, got {type(state).__name__}")
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    prefix = "module."
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in state.items()}


def _summary(keys: list[str], limit: int = 8) -> str:
    """``(rpn_head: 40, refine_head: 32): key, key, ... (+n more)``: counts per top module."""
    groups: dict[str, int] = {}
    for k in keys:
        groups[k.split(".")[0]] = groups.get(k.split(".")[0], 0) + 1
    counts = ", ".join(f"{g}: {n}" for g, n in groups.items())
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return f"({counts}): " + ", ".join(keys[:limit]) + more


def load_pysot_state_dict(net: nn.Module, state: Mapping | str | Path, config_name: str) -> None:
    """Load a pysot state dict / checkpoint (or its path) into ``net``, every key.

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
            src = split  # a PysotAlexNetLegacy file for the split PysotAlexNet
    missing = [k for k in ours if k not in src and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in src if k not in ours]
    shapes = [
        f"{k} {tuple(v.shape)} (ours {tuple(ours[k].shape)})"
        for k, v in src.items()
        if k in ours and tuple(v.shape) != tuple(ours[k].shape)
    ]
    if missing or unexpected or shapes:
        where = f"{state}: " if isinstance(state, str | Path) else ""
        parts = [f"{where}weights do not match pysot config {config_name!r}:"]
        if missing:
            parts.append(f"{len(missing)} missing keys {_summary(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys {_summary(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches {_summary(shapes)}")
        raise ValueError("\n  ".join(parts))
    net.load_state_dict({**ours, **src}, strict=True)
