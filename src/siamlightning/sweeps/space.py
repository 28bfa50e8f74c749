"""Search spaces of tracking hyper-parameters: per tracker family, from the command line, as
Optuna distributions and samplers, and as the overrides that run a trial."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import optuna
import yaml
from hydra.utils import get_class

from siamlightning.errors import ConfigError

__all__ = [
    "FAMILIES",
    "SAMPLERS",
    "TRACKER_KEY",
    "baseline",
    "distributions_of",
    "grid_points",
    "make_sampler",
    "search_params",
    "split_arguments",
    "tracker_family",
    "trial_overrides",
]

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


def distributions_of(space: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Hydra sweep syntax (``interval(0, 0.5)``, ``choice(...)``, ``range(...)``) -> (Optuna
    distributions, fixed values), parsed as hydra-optuna-sweeper parses ``params``."""
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

    return create_params_from_overrides([f"{k}={v}" for k, v in space.items()])


def split_arguments(arguments: list[str]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Command-line overrides -> (searched tracker hyper-parameters as Optuna distributions,
    fixed ones, the other overrides). ``tracker_overrides.<name>=interval(a, b)`` (or
    ``choice`` / ``range``) searches ``name`` over that range, ``+tracker_overrides.<name>=v``
    fixes it; any other sweep is an error (one study searches one checkpoint on one benchmark)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra_plugins.hydra_optuna_sweeper._impl import (
        create_optuna_distribution_from_override,
    )

    searched, fixed, rest = {}, {}, []
    for arg, ov in zip(arguments, OverridesParser.create().parse_overrides(arguments)):
        key = str(ov.key_or_group)
        if key.startswith(f"{TRACKER_KEY}."):
            name = key[len(TRACKER_KEY) + 1 :]
            if ov.is_sweep_override():
                searched[name] = create_optuna_distribution_from_override(ov)
            else:
                fixed[name] = yaml.safe_load(ov.get_value_element_as_str())
        elif ov.is_sweep_override():
            raise ConfigError(
                f"{arg}: a tracker search sweeps tracker hyper-parameters only "
                f"({TRACKER_KEY}.<name>=interval(a,b)); run one search per checkpoint/benchmark"
            )
        else:
            rest.append(arg)
    return searched, fixed, rest


def grid_points(distributions: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Grid points of discrete distributions (choice / range); a continuous one is an error."""
    from optuna.distributions import CategoricalDistribution, IntUniformDistribution

    out = {}
    for name, d in distributions.items():
        if isinstance(d, CategoricalDistribution):
            out[name] = list(d.choices)
        elif isinstance(d, IntUniformDistribution):
            out[name] = list(range(d.low, d.high + 1, d.step))
        else:
            raise ConfigError(f"the grid sampler needs choice(...) values; {name} is {d}")
    return out


SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "cmaes": "CmaEsSampler",
    "grid": "GridSampler",
}


def make_sampler(
    sampler: Any, seed: int | None, distributions: Mapping[str, Any]
) -> optuna.samplers.BaseSampler:
    """A sampler by name (`SAMPLERS`; ``grid`` over the choice(...) values), or as built."""
    if not isinstance(sampler, str):
        return sampler
    if sampler not in SAMPLERS:
        raise ConfigError(f"hydra.sweeper.sampler={sampler!r}: not one of {list(SAMPLERS)}")
    cls = getattr(optuna.samplers, SAMPLERS[sampler])
    if sampler == "grid":
        return cls(grid_points(distributions))
    return cls(seed=seed)


def baseline(tracker_cfg: Mapping[str, Any], distributions: Mapping[str, Any]) -> dict:
    """The tracker config's own values of the searched parameters (its class's defaults where
    the config has none), when all lie in the space."""
    defaults = inspect.signature(get_class(str(tracker_cfg["_target_"]))).parameters
    out = {}
    for name, d in distributions.items():
        value = tracker_cfg.get(name, getattr(defaults.get(name), "default", None))
        if hasattr(d, "choices"):
            inside = value in d.choices
        else:
            inside = isinstance(value, int | float) and d.low <= value <= d.high
        if not inside:
            return {}
        out[name] = value
    return out
