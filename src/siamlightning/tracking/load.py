"""`load_tracker`: rebuild an inference tracker from a training checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from siamlightning.tracking.base import Tracker


def build_tracker(net: torch.nn.Module, tracker_cfg: dict[str, Any], **overrides: Any) -> Tracker:
    """Instantiate a tracker config (``_target_`` + hyper-parameters) around ``net``."""
    cfg = OmegaConf.merge(OmegaConf.create(tracker_cfg), OmegaConf.create(overrides))
    return instantiate(cfg, net=net)


def load_net(source: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Read a Lightning checkpoint written by `siamlightning-train`: (network, export config)."""
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    export = ckpt.get("siamlightning") if isinstance(ckpt, dict) else None
    if not export or "net" not in export:
        raise ValueError(
            f"{path} is not a siamlightning training checkpoint (no 'siamlightning' section); "
            "for third-party weights pass a model config name and weights=<file>"
        )
    net = instantiate(OmegaConf.create(export["net"]))
    state = {k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not match the network: missing {missing}, unexpected {unexpected}"
        )
    return net.eval(), export


def load_tracker(source: str | Path, **overrides: Any) -> Tracker:
    """A ready `Tracker` from a checkpoint; ``overrides`` replace tracking hyper-parameters."""
    net, export = load_net(source)
    return build_tracker(net, export["tracker"], **overrides)
