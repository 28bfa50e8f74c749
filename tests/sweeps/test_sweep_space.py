"""Search spaces: tracker families, command-line search parameters, samplers."""

from __future__ import annotations

import optuna
import pytest

from siamlightning.errors import ConfigError
from siamlightning.sweeps.space import (
    baseline,
    make_sampler,
    search_params,
    split_arguments,
    tracker_family,
    trial_overrides,
)


@pytest.mark.parametrize(
    ("target", "family"),
    [
        ("siamlightning.tracking.siamfc.SiamFCTracker", "siamfc"),
        ("siamlightning.tracking.siamrpn.SiamRPNTracker", "siamrpn"),
        ("siamlightning.tracking.siamrpn_lt.SiamRPNLTTracker", "siamrpn"),
        ("siamlightning.tracking.siammask.SiamMaskTracker", "siammask"),
    ],
)
def test_tracker_family(target: str, family: str) -> None:
    assert tracker_family({"_target_": target}) == family


def test_unknown_tracker_has_no_space() -> None:
    with pytest.raises(ConfigError, match="StaticTracker"):
        tracker_family({"_target_": "siamlightning.tracking.base.StaticTracker"})
    with pytest.raises(ConfigError, match="'siamfc'"):
        search_params(None, {"siamrpn": {"lr": "interval(0,1)"}}, "siamfc")


def test_command_line_searches_fixes_and_passes_on() -> None:
    searched, fixed, rest = split_arguments(
        ["ckpt=a.ckpt", "+tracker_overrides.lr=interval(0.1,0.5)",
         "+tracker_overrides.penalty_k=0.2", "benchmark=otb100"]
    )  # fmt: skip
    assert searched == {"lr": optuna.distributions.UniformDistribution(0.1, 0.5)}
    assert fixed == {"penalty_k": 0.2} and rest == ["ckpt=a.ckpt", "benchmark=otb100"]
    with pytest.raises(ConfigError, match="benchmark=otb100,lasot"):
        split_arguments(["benchmark=otb100,lasot"])
    assert trial_overrides({"lr": 0.3}) == ["++tracker_overrides.lr=0.3"]
    with pytest.raises(ConfigError, match="tracker hyper-parameter name"):
        trial_overrides({"model.lr": 0.3})


def test_grid_sampler_takes_choices_only() -> None:
    d = optuna.distributions
    grid = make_sampler("grid", None, {"k": d.CategoricalDistribution((0.1, 0.2))})
    assert isinstance(grid, optuna.samplers.GridSampler)
    with pytest.raises(ConfigError, match="choice"):
        make_sampler("grid", None, {"k": d.UniformDistribution(0, 1)})
    with pytest.raises(ConfigError, match="'nope'"):
        make_sampler("nope", None, {})


def test_trial_zero_is_the_checkpoints_own_tracker_when_inside_the_space() -> None:
    d = optuna.distributions
    space = {
        "scale_lr": d.UniformDistribution(0.2, 0.8),
        "scale_num": d.CategoricalDistribution((3, 5)),
    }
    cfg = {"_target_": "siamlightning.tracking.siamfc.SiamFCTracker", "scale_lr": 0.5}
    assert baseline(cfg, space) == {"scale_lr": 0.5, "scale_num": 3}  # scale_num: class default
    assert baseline({**cfg, "scale_lr": 0.9}, space) == {}
