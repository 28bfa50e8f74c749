"""The sweep loop of ``hydra/sweeper=tracker_search``: ask Optuna for trials, run them as
``siamlightning-eval`` jobs through Hydra's launcher, tell Optuna their scores.

A job that fails (an exception, a NaN score) is recorded FAIL with its error and the sweep goes
on; the sweep fails only when none of its trials finished. Each call runs ``n_trials`` more
trials of the study (a re-run continues it). Under ``torchrun`` every rank runs the same trials
and each shards the benchmark's sequences as ``siamlightning-eval`` does; rank 0 asks and tells.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import torch.distributed as dist
import yaml
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from omegaconf import DictConfig, OmegaConf

from siamlightning.errors import ConfigError
from siamlightning.evaluation.distributed import join_launcher_group, leave_group
from siamlightning.sweeps.report import OBJECTIVE_ATTR, write_best_tracker, write_trials
from siamlightning.sweeps.space import (
    baseline,
    distributions_of,
    grid_points,
    make_sampler,
    search_params,
    split_arguments,
    tracker_family,
    trial_overrides,
)
from siamlightning.sweeps.study import (
    WORKER_ATTR,
    fail_stale_trials,
    open_study,
    storage_url,
    worker_id,
)
from siamlightning.sweeps.wandb_log import log_sweep, trial_logger_overrides

log = logging.getLogger("siamlightning.sweeps")
__all__ = ["TrackerSearch"]


# command-line overrides that do not change a trial's score (a continued study may differ in them)
OWN_ARGS = ("progress=", "name=", "cache_frames_mb=", "logger=", "tags=")


def _record(study: optuna.Study, trial: optuna.Trial, **outcome: Any) -> None:
    """``study.tell``; a GridSampler's ``study.stop()`` once its grid is done (which Optuna
    allows only inside ``optimize``) is not an error: the state was stored first."""
    try:
        study.tell(trial, **outcome)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def _error_text(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}".splitlines() or [""])[0][:300]


class TrackerSearch:
    """Hydra Sweeper logic (the plugin `TrackerSearchSweeper` delegates here)."""

    def __init__(
        self,
        *,
        sampler: Any,
        seed: int | None = None,
        direction: str,
        storage: str | None,
        study_name: str,
        n_trials: int,
        n_jobs: int,
        params: Mapping[str, Any] | None,
        spaces: Mapping[str, Mapping[str, Any]],
        cache_frames_mb: int = 0,
        sweep_dir: str | None = None,  # read through hydra.sweep.dir
    ) -> None:
        if n_trials < 1 or n_jobs < 1:
            raise ConfigError(f"n_trials ({n_trials}) and n_jobs ({n_jobs}) must be >= 1")
        self.sampler, self.seed = sampler, seed
        self.direction, self.storage = str(direction), storage
        self.cache_frames_mb = int(cache_frames_mb)
        self.study_name, self.n_trials, self.n_jobs = str(study_name), n_trials, n_jobs
        self.params = dict(params) if params else None
        self.spaces = {str(k): dict(v) for k, v in (spaces or {}).items()}

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        """Keep the config and build the launcher (Hydra calls this before `sweep`)."""
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def _tracker(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The base tracker config and its source (ckpt, weights) as a trial job resolves them."""
        from siamlightning.cli.eval import resolve_tracker

        with_hydra = OmegaConf.create(OmegaConf.to_container(self.config, resolve=False))
        _, tracker_cfg, source = resolve_tracker(with_hydra)
        return tracker_cfg, source

    def sweep(self, arguments: list[str]) -> None:
        """Run ``n_trials`` trials (rank 0 asks Optuna; other ranks run what it broadcasts)."""
        rank, world = join_launcher_group()
        try:
            if rank == 0:
                try:
                    self._lead(arguments)
                finally:  # the other ranks stop, also when rank 0 fails
                    if world > 1:
                        dist.broadcast_object_list([None], src=0)
            else:
                self._follow()
        finally:
            if world > 1:
                leave_group(wait=True)

    def _launch(self, overrides: Sequence[Sequence[str]], first_job: int) -> list[Any]:
        if dist.is_initialized() and dist.get_world_size() > 1:
            box = [(list(map(list, overrides)), first_job)]
            dist.broadcast_object_list(box, src=0)
        return list(self.launcher.launch(overrides, initial_job_idx=first_job))

    def _follow(self) -> None:
        while True:
            box: list[Any] = [None]
            dist.broadcast_object_list(box, src=0)
            if box[0] is None:
                return
            overrides, first_job = box[0]
            self.launcher.launch(overrides, initial_job_idx=first_job)

    def _lead(self, arguments: list[str]) -> None:
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        tracker_cfg, source = self._tracker()
        family = tracker_family(tracker_cfg)
        searched, fixed_cli, arguments = split_arguments(arguments)
        # what is searched: the command line's sweeps, else hydra.sweeper.params, else the
        # family's space; the command line's fixed values leave the space
        distributions, fixed = distributions_of(search_params(self.params, self.spaces, family))
        distributions = {k: v for k, v in (searched or distributions).items() if k not in fixed_cli}
        fixed = {k: yaml.safe_load(str(v)) for k, v in fixed.items()} | fixed_cli
        space = {k: str(d) for k, d in distributions.items()} | {k: v for k, v in fixed.items()}
        if not distributions:
            raise ConfigError(
                f"nothing to search: every tracker hyper-parameter is fixed ({fixed})"
            )
        sampler = make_sampler(self.sampler, self.seed, distributions)
        url = storage_url(self.storage, sweep_dir)
        settings = {
            "ckpt": source["ckpt"],
            "weights": source["weights"],
            "arguments": sorted(a for a in arguments if not a.startswith(OWN_ARGS)),
            "search_space": dict(space),
            "objective": str(self.config.get("objective", "auto")),
        }
        study = open_study(
            url=url,
            name=self.study_name,
            direction=self.direction,
            sampler=sampler,
            settings=settings,
        )
        if not study.trials and not isinstance(sampler, optuna.samplers.GridSampler):
            own = baseline(tracker_cfg, distributions)
            if own:  # trial 0: the checkpoint's own tracker, what the search must beat
                study.enqueue_trial(own)
                log.info("trial 0 is the checkpoint's own tracker: %s", own)
        stale = fail_stale_trials(study)
        if stale:
            log.warning("trials %s of a process that died were marked failed", stale)
        if study.trials and getattr(sampler, "reseed_rng", None):
            sampler.reseed_rng()  # a seeded sampler continuing a study must not redraw its points
        log.info(
            "study %r (%d trials so far) in %s; %s search over %s",
            study.study_name,
            len(study.trials),
            url,
            family,
            space,
        )
        try:
            finished = self._run(study, arguments, distributions, fixed, sweep_dir)
        finally:
            table = write_trials(study, sweep_dir)
            print(table, flush=True)
            best = write_best_tracker(
                study,
                sweep_dir,
                tracker={**tracker_cfg, **fixed},
                source={**source, "benchmark": str(self.config.benchmark.get("name", ""))},
            )
            log.info("trials.csv%s in %s", " and best_tracker.yaml" if best else "", sweep_dir)
            wandb_cfg = (self.config.get("logger") or {}).get("wandb")
            if wandb_cfg:
                log_sweep(
                    sweep_dir,
                    study_name=study.study_name,
                    best=best,
                    wandb_cfg={k: wandb_cfg.get(k) for k in ("mode", "project", "entity", "tags")},
                )
        if finished == 0:
            raise RuntimeError(
                f"none of this sweep's trials finished (see {sweep_dir / 'trials.csv'} and the "
                "job logs)"
            )

    def _run(
        self,
        study: optuna.Study,
        arguments: list[str],
        distributions: Mapping[str, Any],
        fixed: Mapping[str, Any],
        sweep_dir: Path,
    ) -> int:
        """Launch ``n_trials`` trials in batches of ``n_jobs`` -> how many finished."""
        left, finished = self.n_trials, 0
        if isinstance(study.sampler, optuna.samplers.GridSampler):
            size = math.prod(len(v) for v in grid_points(distributions).values())
            visited = sum("grid_id" in t.system_attrs for t in study.get_trials(deepcopy=False))
            left = min(left, size - visited)
            log.info("grid of %d points, %d visited: %d trials now", size, visited, left)
        while left > 0:
            trials = [study.ask() for _ in range(min(self.n_jobs, left))]
            overrides = []
            for trial in trials:
                params = {n: trial._suggest(n, d) for n, d in distributions.items()}
                if "fixed_params" in trial.system_attrs:
                    trial.set_user_attr("note", "the checkpoint's own tracker")
                trial.set_user_attr(WORKER_ATTR, worker_id())
                job_dir = sweep_dir / f"trial_{trial.number:04d}"
                trial.set_user_attr("job_dir", str(job_dir))
                overrides.append(
                    (
                        f"cache_frames_mb={self.cache_frames_mb}",
                        "progress=false",
                        *arguments,
                        *trial_overrides({**fixed, **params}),
                        f"hydra.sweep.subdir=trial_{trial.number:04d}",
                        *trial_logger_overrides(self.config.get("logger"), trial.number),
                    )
                )
            returns = self._launch(overrides, trials[0].number)
            for trial, ret in zip(trials, returns):
                finished += self._tell(study, trial, ret)
            left -= len(trials)
        return finished

    def _tell(self, study: optuna.Study, trial: optuna.Trial, ret: Any) -> int:
        """Record a job's outcome -> 1 if it finished with a finite score, else 0."""
        if ret.status == JobStatus.FAILED:
            error = _error_text(ret._return_value)
        else:
            value = ret.return_value
            name = getattr(value, "name", "score")
            try:
                value = float(value)
            except (TypeError, ValueError):
                value, name = math.nan, f"not a number: {value!r}"
            trial.set_user_attr(OBJECTIVE_ATTR, name)
            if math.isfinite(value):
                _record(study, trial, values=value)
                log.info("trial %d: %s %.4f %s", trial.number, name, value, trial.params)
                return 1
            error = f"the job returned {name} = {value}"
        trial.set_user_attr("error", error)
        _record(study, trial, state=optuna.trial.TrialState.FAIL)
        log.warning("trial %d failed (%s) %s", trial.number, error, trial.params)
        return 0
