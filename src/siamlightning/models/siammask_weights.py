"""foolwood/SiamMask weight files (``SiamMask_DAVIS.pth``, ``_VOT.pth``, ``_VOT_LD.pth``) as our
`SiamMaskNet`: the key map both ways, and the one loader of SiamMask weights.

foolwood/SiamMask (the paper's code, @a2b3ce3) writes its ``Custom`` model
(``experiments/siammask_sharp/custom.py``): the same 356 tensors as pysot's ``siammask_r50_l3``,
of the same shapes, under other prefixes (the modules inside each prefix are laid out alike:
foolwood's ``DepthCorr`` is pysot's ``DepthwiseXCorr``, ``ResDownS`` is ``AdjustLayer``):

==========================================  =================================  ===================
foolwood                                    ours (= pysot)                     module
==========================================  =================================  ===================
``features.features.*``                     ``backbone.*``                     ResNet-50 to layer3
``features.downsample.downsample.{0,1}.*``  ``neck.downsample.downsample.*``   conv 1x1 + BN
``rpn_model.{cls,loc}.*``                   ``rpn_head.{cls,loc}.*``           UP / DepthwiseRPN
``mask_model.mask.*``                       ``mask_head.*``                    MaskCorr (63 x 63)
``refine_model.*``                          ``refine_head.*``                  Refine
==========================================  =================================  ===================

A file is a bare state dict or ``{"state_dict": ...}`` (foolwood's ``save_checkpoint``), with or
without DataParallel's ``module.`` prefix (stripped, as foolwood's ``load_pretrain``); BN
``num_batches_tracked`` buffers may be missing (files of torch < 0.4.1). A file in pysot's layout
loads too: ``SiamMask_VOT_LD.pth`` and pysot's ``siammask_r50_l3/model.pth`` are the same
SiamMask-LD network (spec siammask-and-vos §0.7). When the file names its anchors
(``anchor_cfg``) they must be the ones our trackers decode: stride 8, ratios 0.33 0.5 1 2 3, one
scale 8 (foolwood ``utils/anchors.py``, as pysot).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from siamlightning.models.pysot_weights import check_weights_match, read_weights

#: (foolwood prefix, our prefix); foolwood's ResDownS crop [4:-4] of a <20-wide map is our
#: AdjustLayer's centre 7 of the 15-wide template map (the 31-wide search map is not cropped)
PREFIXES: tuple[tuple[str, str], ...] = (
    ("features.features.", "backbone."),
    ("features.downsample.", "neck.downsample."),
    ("rpn_model.", "rpn_head."),
    ("mask_model.mask.", "mask_head."),
    ("refine_model.", "refine_head."),
)
#: our config names of foolwood's models -> its experiments/siammask_sharp TRACK config
FOOLWOOD_CONFIGS: dict[str, str] = {
    "siammask_davis": "config_davis.json",
    "siammask_vot": "config_vot.json",
    "siammask_vot_ld": "config_vot18.json",
}
#: foolwood's ``anchors`` block (every config json), the anchors `tracking_anchors` builds
ANCHORS: dict[str, Any] = {"stride": 8, "ratios": [0.33, 0.5, 1, 2, 3], "scales": [8]}


def build_foolwood_net() -> nn.Module:
    """foolwood's ``Custom`` as a freshly initialised `SiamMaskNet`: pysot's siammask_r50_l3
    layout with ResDownS's crop rule (neck ``crop_margin=4``: 15 -> 7, 17 -> 9; 31 uncropped)."""
    from siamlightning.models.pysot_weights import build_pysot_net

    net = build_pysot_net("siammask_r50_l3")
    net.neck.downsample.crop_margin = 4
    return net


def ours_key(key: str) -> str | None:
    """foolwood state-dict key -> ours (``rpn_model.cls.head.3.bias`` -> ``rpn_head.cls...``),
    None for a key outside foolwood's five prefixes."""
    for theirs, mine in PREFIXES:
        if key.startswith(theirs):
            return mine + key[len(theirs) :]
    return None


def foolwood_key(key: str) -> str:
    """Our `SiamMaskNet` key -> foolwood's (``backbone.conv1.weight`` ->
    ``features.features.conv1.weight``); ValueError for a key foolwood's model has no place for."""
    for theirs, mine in PREFIXES:
        if key.startswith(mine):
            return theirs + key[len(mine) :]
    raise ValueError(
        f"key {key!r} has no foolwood/SiamMask name (prefixes {[m for _, m in PREFIXES]})"
    )


def to_foolwood_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our `SiamMaskNet` state dict -> the same tensors under foolwood's ``Custom`` names."""
    return {foolwood_key(k): v for k, v in state.items()}


def is_foolwood_layout(state: Mapping[str, Any]) -> bool:
    """True when a (``module.``-stripped) state dict uses foolwood's prefixes, not pysot's."""
    return any(ours_key(k) is not None for k in state)


def check_anchors(anchor_cfg: Mapping[str, Any] | None, where: str = "") -> None:
    """Raise when a file's ``anchor_cfg`` is not foolwood's default anchors (`ANCHORS`)."""
    if anchor_cfg is None:
        return
    got = {k: anchor_cfg.get(k) for k in ANCHORS}
    if [got["stride"], list(got["ratios"] or []), list(got["scales"] or [])] != list(
        ANCHORS.values()
    ):
        raise ValueError(f"{where}anchor_cfg {dict(anchor_cfg)} differs from {ANCHORS}")


def load_siammask_weights(
    net: nn.Module, weights: Mapping | str | Path, config_name: str = "siammask_r50_l3"
) -> str:
    """Load foolwood/SiamMask (or pysot ``siammask_r50_l3``) weights into a `SiamMaskNet`.

    Every tensor of ``net`` must come from the file (``num_batches_tracked`` excepted) and every
    tensor of the file must land in ``net`` with its shape, else ValueError naming the file and
    the missing / unexpected / misshapen keys in the file's own names. Returns the layout read,
    ``"foolwood"`` or ``"pysot"``.
    """
    where = f"{weights}: " if isinstance(weights, str | Path) else ""
    src, extra = read_weights(weights)
    check_anchors(extra.get("anchor_cfg"), where)
    layout = "foolwood" if is_foolwood_layout(src) else "pysot"
    name = {k: (ours_key(k) if layout == "foolwood" else k) for k in src}  # file key -> ours
    ours = net.state_dict()
    theirs = foolwood_key if layout == "foolwood" else str
    got = {v for v in name.values() if v is not None}
    missing = [theirs(k) for k in ours if k not in got and not k.endswith("num_batches_tracked")]
    unexpected = [k for k, v in name.items() if v not in ours]
    shapes = [
        f"{k} {tuple(src[k].shape)} (ours {tuple(ours[v].shape)})"
        for k, v in name.items()
        if v in ours and tuple(src[k].shape) != tuple(ours[v].shape)
    ]
    kind = "foolwood/SiamMask" if config_name in FOOLWOOD_CONFIGS else "pysot"
    head = f"{where}weights do not match {kind} config {config_name!r} ({layout} keys):"
    check_weights_match(head, missing, unexpected, shapes)
    net.load_state_dict({**ours, **{name[k]: v for k, v in src.items()}}, strict=True)
    return layout
