"""The study of a tracker search: refused settings, stale trials, the report it leaves."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from siamlightning.errors import ConfigError
from siamlightning.sweeps.report import OBJECTIVE_ATTR, write_best_tracker, write_trials
from siamlightning.sweeps.study import WORKER_ATTR, fail_stale_trials, open_study, storage_url

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _open(url: str, settings: dict, direction: str = "maximize") -> optuna.Study:
    sampler = optuna.samplers.RandomSampler(seed=0)
    return open_study(url=url, name="s", direction=direction, sampler=sampler, settings=settings)


def test_same_settings_continue_the_study_other_settings_are_refused(tmp_path: Path) -> None:
    url = storage_url(None, tmp_path / "sweep")
    assert url == f"sqlite:///{tmp_path / 'sweep' / 'optuna.db'}"
    study = _open(url, {"ckpt": "a.ckpt", "space": {"lr": "x"}})
    study.tell(study.ask(), 0.5)
    again = _open(url, {"ckpt": "a.ckpt", "space": {"lr": "x"}})
    assert len(again.trials) == 1
    with pytest.raises(ConfigError, match=r"ckpt: 'a.ckpt' -> 'b.ckpt'"):
        _open(url, {"ckpt": "b.ckpt", "space": {"lr": "x"}})
    with pytest.raises(ConfigError, match="minimize"):
        _open(url, {"ckpt": "a.ckpt", "space": {"lr": "x"}}, direction="minimize")


def test_running_trials_of_dead_local_processes_are_failed_others_kept(tmp_path: Path) -> None:
    study = _open(storage_url(None, tmp_path), {})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    import socket

    host = socket.gethostname()
    owners = [f"{host}:{dead}", f"{host}:{__import__('os').getpid()}", f"elsewhere:{dead}", None]
    for who in owners:
        trial = study.ask()
        if who:
            trial.set_user_attr(WORKER_ATTR, who)
    assert fail_stale_trials(study) == [0]  # the unclaimed one is young: kept for now
    assert fail_stale_trials(study, unclaimed_after_s=-1) == [3]
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "RUNNING", "RUNNING", "FAIL"]


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_trials_are_ranked_best_first_failed_last(tmp_path: Path, direction: str) -> None:
    study = _open(storage_url(None, tmp_path), {}, direction)
    for value in (0.3, None, 0.7, 0.5):
        trial = study.ask({"lr": optuna.distributions.UniformDistribution(0, 1)})
        trial.set_user_attr(OBJECTIVE_ATTR, "success_auc")
        if value is None:
            trial.set_user_attr("error", "RuntimeError: boom")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
    table = write_trials(study, tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "trials.csv")))
    order = [2, 3, 0] if direction == "maximize" else [0, 3, 2]
    assert [int(r["trial"]) for r in rows] == [*order, 1]
    assert [r["rank"] for r in rows] == ["1", "2", "3", ""]
    assert rows[-1]["state"] == "fail" and rows[-1]["error"] == "RuntimeError: boom"
    assert table.splitlines()[3].startswith(str(order[0]))
    tracker = {"_target_": "x.Tracker", "lr": 0.3, "window_influence": 0.4}
    path = write_best_tracker(study, tmp_path, tracker=tracker, source={"ckpt": "/c.ckpt"})
    doc = yaml.safe_load(path.read_text())
    best = study.trials[order[0]]
    assert doc["score"] == best.value and doc["params"] == best.params
    assert doc["tracker"] == {**tracker, **best.params} and doc["ckpt"] == "/c.ckpt"


def test_sweep_summary_goes_to_wandb_offline_files(tmp_path: Path, monkeypatch) -> None:
    from siamlightning.configs import sweep_group
    from siamlightning.sweeps.wandb_log import log_sweep, trial_logger_overrides

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    sweep = tmp_path / "tracker_search" / "otb100" / "run-last"
    study = _open(storage_url(None, sweep), {})
    trial = study.ask({"lr": optuna.distributions.UniformDistribution(0, 1)})
    trial.set_user_attr(OBJECTIVE_ATTR, "success_auc")
    study.tell(trial, 0.61)
    write_trials(study, sweep)
    best = write_best_tracker(study, sweep, tracker={"_target_": "x"}, source={"ckpt": "c"})
    assert sweep_group(sweep) == "tracker_search/otb100/run-last"
    assert trial_logger_overrides({"wandb": {}}, 7) == ["logger.wandb.name=trial_0007"]
    assert trial_logger_overrides({"csv": {}}, 7) == []
    import wandb

    try:
        where = log_sweep(sweep, study_name="s", best=best, wandb_cfg={"mode": "auto"})
    finally:
        wandb.teardown()  # stops this process's W&B service and unsets WANDB_SERVICE
    (record,) = where.glob("run-*.wandb")  # what `wandb sync` uploads
    data = record.read_bytes()
    for needle in (b"tracker-config", b"best_tracker.yaml", b"trials.csv", b"run-last",
                   b"tracker-search", b"best/score"):  # fmt: skip
        assert needle in data, needle
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert log_sweep(sweep, study_name="s", best=best, wandb_cfg={"mode": "auto"}) is None
