"""pysot model-zoo configs as our nets, and the one loader of pysot weight files into them.

The architectures are defined once: a pysot config's net is the ``net`` of its training model
config (``conf/model/<name>.yaml``, composed by Hydra as ``siamlightning-train model=<name>``).
pysot's zoo files store the un-split AlexNet (``backbone.features.N``), so the alex configs build
it with `PysotAlexNetLegacy` in place of the yaml's split `PysotAlexNet` (same layers, same
weights). ``siammask_r50_l3`` has no training config yet: its net is defined here.

Our module names equal pysot's, so the key map is the identity, apart from: a ``module.`` prefix
(DataParallel) is stripped; a ``{"state_dict": ...}`` training checkpoint is unwrapped; an
``PysotAlexNetLegacy`` file (``backbone.features.N``) loads into the split ``PysotAlexNet``
(``backbone.layerK.M``); missing ``num_batches_tracked`` buffers are allowed (as pysot's
``load_pretrain``). Anything else missing, unexpected or of another shape is an error that lists
the keys. SiamRPN configs build a `SiamRPNNet`, ``siammask_r50_l3`` a `SiamMaskNet` (box, mask
and refine heads: all 356 of pysot's tensors). `load_backbone_weights` loads an ImageNet
pre-trained backbone file (pysot's ``BACKBONE.PRETRAINED``) the same way, keeping what matches.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from siamlightning.configs import compose
from siamlightning.models.backbones.pysot_alexnet import legacy_to_layers_key
from siamlightning.models.backbones.resnet_atrous import ResNet50Atrous
from siamlightning.models.heads.mask import MaskCorr, Refine
from siamlightning.models.heads.rpn import DepthwiseRPN
from siamlightning.models.necks import AdjustAllLayer
from siamlightning.models.siammask import SiamMaskNet

_LEGACY_ALEX = "siamlightning.models.backbones.pysot_alexnet.PysotAlexNetLegacy"

#: pysot configs that have no yamls of their own and share another's conf/model and
#: conf/tracker yaml (the same net; the same TRACK block)
SHARED_YAML: dict[str, str] = {"siamrpn_alex_dwxcorr_otb": "siamrpn_alex_dwxcorr"}
#: pysot ``experiments/<name>`` -> our training model config (conf/model/<yaml>.yaml) of that net
MODEL_YAML: dict[str, str] = {
    name: SHARED_YAML.get(name, name)
    for name in (
        "siamrpn_alex_dwxcorr",
        "siamrpn_alex_dwxcorr_otb",
        "siamrpn_r50_l234_dwxcorr",
        "siamrpn_r50_l234_dwxcorr_otb",
        "siamrpn_r50_l234_dwxcorr_lt",
        "siamrpn_mobilev2_l234_dwxcorr",
    )
}


@functools.cache
def _model_net_config(model: str) -> dict[str, Any]:
    cfg = compose("train", [f"model={model}", "~experiment"]).model.net
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def pysot_net_config(config_name: str) -> dict[str, Any]:
    """The net config (``_target_`` + arguments) of a pysot config with a model yaml, laid out
    as pysot's zoo files (the alex configs with the un-split `PysotAlexNetLegacy`)."""
    cfg = copy.deepcopy(_model_net_config(MODEL_YAML[config_name]))
    if "alex" in config_name:
        cfg["backbone"]["_target_"] = _LEGACY_ALEX
    return cfg


def _from_model_yaml(config_name: str) -> nn.Module:
    return instantiate(OmegaConf.create(pysot_net_config(config_name)))


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
    **{name: functools.partial(_from_model_yaml, name) for name in MODEL_YAML},
    "siammask_r50_l3": _siammask,
}


def build_pysot_net(config_name: str) -> nn.Module:
    """A freshly initialised net laid out as pysot's ``config_name`` (SiamRPNNet / SiamMaskNet)."""
    if config_name not in PYSOT_CONFIGS:
        raise ValueError(f"unknown pysot config {config_name!r}; known: {sorted(PYSOT_CONFIGS)}")
    return PYSOT_CONFIGS[config_name]()


def read_weights(source: Mapping | str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A weight file (or loaded object) -> (state dict without ``module.``, the other entries)."""
    obj = source
    if isinstance(source, str | Path):
        try:
            obj = torch.load(source, map_location="cpu", weights_only=True)
        except Exception as err:  # a pickle of arbitrary objects: refuse, say what
            raise ValueError(f"{source}: not a readable weights file ({err})") from err
    if not isinstance(obj, Mapping):
        raise ValueError(f"{source}: expected a state dict, got {type(obj).__name__}")
    extra: dict[str, Any] = {}
    if isinstance(obj.get("state_dict"), Mapping):
        extra = {k: v for k, v in obj.items() if k != "state_dict"}
        obj = obj["state_dict"]
    return {k.removeprefix("module."): v for k, v in obj.items()}, extra


def _summary(keys: list[str], limit: int = 8) -> str:
    """``(rpn_head: 40, refine_head: 32): key, key, ... (+n more)``: counts per top module."""
    groups: dict[str, int] = {}
    for k in keys:
        groups[k.split(".")[0]] = groups.get(k.split(".")[0], 0) + 1
    counts = ", ".join(f"{g}: {n}" for g, n in groups.items())
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return f"({counts}): " + ", ".join(keys[:limit]) + more


def check_weights_match(
    head: str, missing: list[str], unexpected: list[str], shapes: list[str]
) -> None:
    """Raise ValueError ``head`` + the missing / unexpected / misshapen keys, if there are any."""
    if not (missing or unexpected or shapes):
        return
    parts = [head]
    if missing:
        parts.append(f"{len(missing)} missing keys {_summary(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys {_summary(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape mismatches {_summary(shapes)}")
    raise ValueError("\n  ".join(parts))


def load_pysot_state_dict(net: nn.Module, state: Mapping | str | Path, config_name: str) -> None:
    """Load a pysot state dict / checkpoint (or its path) into ``net``, every key.

    Raises ValueError naming the missing, unexpected and wrongly shaped keys when the file does
    not belong to ``config_name``'s layout.
    """
    src, _ = read_weights(state)
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
    where = f"{state}: " if isinstance(state, str | Path) else ""
    check_weights_match(
        f"{where}weights do not match pysot config {config_name!r}:", missing, unexpected, shapes
    )
    net.load_state_dict({**ours, **src}, strict=True)


def load_backbone_weights(backbone: nn.Module, path: str) -> list[str]:
    """pysot ``load_pretrain`` for a backbone file: strip ``module.``, load the matching keys.

    Returns the backbone keys the file does not hold; raises if no key matches or a shape differs.
    """
    state = {k.removeprefix("backbone."): v for k, v in read_weights(path)[0].items()}
    ours = backbone.state_dict()
    if not state.keys() & ours.keys() and any(k.startswith("features.") for k in state):
        state = {legacy_to_layers_key(k): v for k, v in state.items()}  # legacy AlexNet file
    used = {k: v for k, v in state.items() if k in ours}
    bad = [f"{k} {tuple(v.shape)} vs {tuple(ours[k].shape)}" for k, v in used.items()
           if v.shape != ours[k].shape]  # fmt: skip
    if not used or bad:
        why = f"shape mismatches {bad[:5]}" if bad else f"no key matches (file: {list(state)[:5]})"
        raise ValueError(f"{path}: not weights for {type(backbone).__name__}: {why}")
    backbone.load_state_dict(used, strict=False)
    return [k for k in ours if k not in used and not k.endswith("num_batches_tracked")]
