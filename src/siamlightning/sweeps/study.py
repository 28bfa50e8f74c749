"""The Optuna study of a tracker search: its storage, what it was started with, stale trials.

A study lives in its storage (default ``sqlite:///<sweep dir>/optuna.db``) under its name, so the
same command run again continues it, and several processes or nodes given the same storage
share it. The settings a study was started with (checkpoint, benchmark, objective, search space)
are kept in it; continuing with others is refused, since their trials would not be comparable.
"""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from siamlightning.errors import ConfigError

__all__ = ["SETTINGS_ATTR", "WORKER_ATTR", "fail_stale_trials", "open_study", "storage_url"]

SETTINGS_ATTR = "siamlightning_settings"  # study user attr: what the study was started with
WORKER_ATTR = "worker"  # trial user attr: "<host>:<pid>" of the process that runs it
SQLITE_TIMEOUT_S = 60  # several local workers on one SQLite file wait for its lock this long


def storage_url(storage: str | None, sweep_dir: Path) -> str:
    """``storage`` as given (``postgresql://...``, ``sqlite:///...``), or the sweep folder's
    ``sqlite:///<sweep dir>/optuna.db`` (absolute) when None."""
    if storage:
        return str(storage)
    return f"sqlite:///{(sweep_dir / 'optuna.db').resolve()}"


def _storage(url: str) -> optuna.storages.RDBStorage:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S}
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def open_study(
    *,
    url: str,
    name: str,
    direction: str,
    sampler: optuna.samplers.BaseSampler,
    settings: Mapping[str, Any],
) -> optuna.Study:
    """Create the study, or load it when it exists and was started with the same ``settings``
    (else `ConfigError` naming what differs)."""
    try:
        study = optuna.create_study(
            storage=_storage(url),
            study_name=name,
            sampler=sampler,
            direction=direction,
            load_if_exists=True,
        )
    except ValueError as exc:  # optuna: "Cannot overwrite study direction from ... to ..."
        raise ConfigError(f"study {name!r} in {url}: {exc} (direction={direction})") from exc
    stored = study.user_attrs.get(SETTINGS_ATTR)
    if stored is None:
        study.set_user_attr(SETTINGS_ATTR, dict(settings))
    elif dict(stored) != dict(settings):
        diff = "; ".join(_differences(stored, settings))
        raise ConfigError(
            f"study {name!r} in {url} was started with other settings ({diff}); its trials "
            "would not be comparable: give another hydra.sweep.dir (or hydra.sweeper.study_name)"
        )
    return study


def worker_id() -> str:
    """``<host>:<pid>`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale_trials(study: optuna.Study, *, unclaimed_after_s: float = 30.0) -> list[int]:
    """Mark FAIL the RUNNING trials of dead processes on this host (a killed sweep's last
    trial) -> their numbers. A trial is claimed by its worker right after it is asked; one
    never claimed (killed in between) is stale after ``unclaimed_after_s``. Trials of live
    processes or of other hosts are left alone."""
    host, stale = socket.gethostname(), []
    now = datetime.datetime.now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        who = str(trial.user_attrs.get(WORKER_ATTR, ""))
        h, _, pid = who.rpartition(":")
        if not who:
            started = trial.datetime_start or now
            dead = (now - started).total_seconds() > unclaimed_after_s
        else:
            dead = h == host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))
        if dead:
            study.tell(trial.number, state=TrialState.FAIL)
            stale.append(trial.number)
    return stale
