"""Names that moved: stored configs (old checkpoints' net and tracker) read with today's names.

A checkpoint keeps the ``_target_`` paths and keyword names of the code that wrote it.
`upgrade_config` rewrites them through two tables, the one place a rename is recorded:
`MOVED_TARGETS` (old dotted path -> new) and `RENAMED_KWARGS` (per new ``_target_``: old keyword
-> new). Applied to every stored config when it is read; a config already in today's names is
returned unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_BACKBONES = "siamlightning.models.backbones"
_TRACKING = "siamlightning.tracking"

#: old ``_target_`` -> new (issue 9: SiamFC's AlexNet and pysot's AlexNets named so)
MOVED_TARGETS: dict[str, str] = {
    f"{_BACKBONES}.alexnet.AlexNetV1": f"{_BACKBONES}.siamfc_alexnet.SiamFCAlexNet",
    f"{_BACKBONES}.AlexNetV1": f"{_BACKBONES}.siamfc_alexnet.SiamFCAlexNet",
    f"{_BACKBONES}.pysot_alexnet.AlexNet": f"{_BACKBONES}.pysot_alexnet.PysotAlexNet",
    f"{_BACKBONES}.AlexNet": f"{_BACKBONES}.pysot_alexnet.PysotAlexNet",
    f"{_BACKBONES}.pysot_alexnet.AlexNetLegacy": f"{_BACKBONES}.pysot_alexnet.PysotAlexNetLegacy",
    f"{_BACKBONES}.AlexNetLegacy": f"{_BACKBONES}.pysot_alexnet.PysotAlexNetLegacy",
}

# issue 9: one name per crop quantity (pysot's): the tracker's instance_size is search_size
_SEARCH = {"instance_size": "search_size"}

#: new ``_target_`` -> {old keyword: new keyword}
RENAMED_KWARGS: dict[str, dict[str, str]] = {
    f"{_TRACKING}.siamfc.SiamFCTracker": {**_SEARCH, "context": "context_amount"},
    f"{_TRACKING}.siamrpn.SiamRPNTracker": _SEARCH,
    f"{_TRACKING}.siammask.SiamMaskTracker": _SEARCH,
    f"{_TRACKING}.siamrpn_lt.SiamRPNLTTracker": {
        **_SEARCH,
        "lost_instance_size": "lost_search_size",
    },
}


def upgrade_config(node: Any) -> Any:
    """A stored config (nested dicts / lists) with moved ``_target_``s and renamed keywords
    replaced by today's; a keyword is renamed only when the new name is not set as well."""
    if isinstance(node, list | tuple):
        return [upgrade_config(v) for v in node]
    if not isinstance(node, Mapping):
        return node
    out = {k: upgrade_config(v) for k, v in node.items()}
    target = out.get("_target_")
    if isinstance(target, str):
        target = out["_target_"] = MOVED_TARGETS.get(target, target)
        for old, new in RENAMED_KWARGS.get(target, {}).items():
            if old in out and new not in out:
                out = {(new if k == old else k): v for k, v in out.items()}
    return out
