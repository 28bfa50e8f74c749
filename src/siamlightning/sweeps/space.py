"""Search spaces of tracking hyper-parameters, per tracker family, as trial overrides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import get_class

from siamlightning.errors import ConfigError

__all__ = ["FAMILIES", "TRACKER_KEY", "search_params", "tracker_family", "trial_overrides"]

# the eval config node whose keys replace the tracker's hyper-parameters in a trial
TRACKER_KEY = "tracker_overrides"
FAMILIES = ("siammask", "siamrpn", "siamfc")  # most specific first (SiamMask is a SiamRPN)


def tracker_family(tracker_cfg: Mapping[str, Any]) -> str:
    """``siamfc``, ``siamrpn`` or ``siammask`` from a tracker config's ``_target_`` class."""
    from siamlightning.tracking.siamfc import SiamFCTracker
    from siamlightning.tracking.siammask import SiamMaskTracker
    from siamlightning.tracking.siamrpn import SiamRPNTracker

    target = tracker_cfg.get("_target_")
    if not target:
        raise ConfigError(f"tracker config has no _target_: {dict(tracker_cfg)}")
    cls = get_class(str(target))
    for family, base in zip(FAMILIES, (SiamMaskTracker, SiamRPNTracker, SiamFCTracker)):
        if issubclass(cls, base):
            return family
    raise ConfigError(f"no search space for tracker {target}: not a SiamFC, SiamRPN or SiamMask")


def search_params(
    params: Mapping[str, Any] | None, spaces: Mapping[str, Mapping[str, Any]], family: str
) -> dict[str, str]:
    """The search space as ``{hyper-parameter: Hydra sweep syntax}``: ``params`` when given
    (the user's), else the family's entry of ``spaces``."""
    if params:
        return {str(k): str(v) for k, v in params.items()}
    if family not in spaces:
        raise ConfigError(f"hydra.sweeper.spaces has no {family!r} search space: {list(spaces)}")
    return {str(k): str(v) for k, v in spaces[family].items()}


def trial_overrides(params: Mapping[str, Any]) -> list[str]:
    """Hydra overrides that run a trial: ``++tracker_overrides.<name>=<value>`` per parameter."""
    out = []
    for name, value in params.items():
        if "." in name or "=" in name:
            raise ConfigError(
                f"search parameter {name!r}: give a tracker hyper-parameter name (penalty_k, "
                "window_influence, ...); other overrides go on the command line"
            )
        out.append(f"++{TRACKER_KEY}.{name}={value}")
    return out
