"""``siamlightning-train``: fit a tracker with Lightning, then score it (and baselines).

With no arguments this runs the CPU quick start (``experiment=quickstart``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.utils import get_original_cwd, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from siamlightning.cli.common import instantiate_group, report_errors, setup_environment
from siamlightning.cli.jobs import (
    auto_resume_path,
    cluster_plugins,
    isolated_job,
    quiet_launcher_schema_notice,
)
from siamlightning.configs import config_dir
from siamlightning.cpu_malloc import check_mode, set_cpu_malloc, trains_on_cpu
from siamlightning.evaluation.benchmarks import (
    benchmark_kind,
    check_batch_sequences,
    open_benchmark,
    run_benchmark,
)
from siamlightning.evaluation.log_report import log_reports
from siamlightning.evaluation.plots import benchmark_plots
from siamlightning.evaluation.report import results_table, write_metrics_json
from siamlightning.evaluation.result import Results
from siamlightning.loggers.resume import resume_run_dir
from siamlightning.precision import log_precision_once, resolve_trainer_precision
from siamlightning.tracking.base import StaticTracker
from siamlightning.tracking.checkpoint_file import check_checkpoint_file
from siamlightning.tracking.load import build_tracker

log = logging.getLogger("siamlightning.train")
# conf/hydra/train.yaml: ckpt_path=<run>/checkpoints/x.ckpt resumes inside <run>
OmegaConf.register_new_resolver("siamlightning_resume_dir", resume_run_dir, replace=True)
# before Hydra composes (here, and in each joblib / submitit worker that unpickles `main`)
quiet_launcher_schema_notice()
LIGHTNING_CKPT_KEYWORDS = ("last", "best", "hpc", "registry")  # trainer.fit's ckpt_path names
# results_table.txt: the columns some benchmark fills (OPE: success / precision, VOS: J&F, J, F)
TABLE_COLUMNS = ("success_auc", "precision_20", "jf_mean", "j_mean", "f_mean", "fps", "sequences")


def _container(node: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]


def evaluate(cfg: DictConfig, module: L.LightningModule, trainer: L.Trainer | None) -> Results:
    """Score the trained network and ``cfg.evaluate.baselines`` on ``cfg.evaluate``
    -> ``{benchmark: {tracker: result}}`` (rank 0; ``{}`` elsewhere).

    Baselines: ``untrained`` (the same network at its initial weights), ``static`` (the first
    box, never moved) and, on VOS benchmarks, ``box`` (the trained tracker's box filled as its
    mask, from the trained run's own tracking: what the mask branch must beat)."""
    out_dir = Path(cfg.paths.output_dir)
    tracker_cfg = _container(cfg.tracker)
    trained = module.net.eval()
    trackers = {"trained": lambda: build_tracker(trained, tracker_cfg)}
    if "untrained" in cfg.evaluate.baselines:
        torch.manual_seed(cfg.seed)
        untrained = instantiate(cfg.model.net).eval()
        trackers["untrained"] = lambda: build_tracker(untrained, tracker_cfg)
    if "static" in cfg.evaluate.baselines:
        trackers["static"] = StaticTracker
    with_box = "box" in cfg.evaluate.baselines
    base = Path(get_original_cwd())
    opened = []  # every benchmark is opened (and a missing root reported) before any runs
    for key, node in (cfg.evaluate.benchmarks or {}).items():
        spec = _container(node)
        index = open_benchmark(spec, base)
        if index is not None:
            opened.append((spec.get("name", key), index, spec))
    results: Results = {}
    progress = cfg.evaluate.progress
    batch = cfg.evaluate.get("batch_sequences", 1)  # checked by `run` before training
    for name, index, spec in opened:
        box_of = "trained" if with_box and benchmark_kind(spec) == "vos" else None
        by_tracker = run_benchmark(
            trackers,
            index,
            spec,
            out_dir,
            name=name,
            progress=progress,
            batch_sequences=batch,
            box_of=box_of,
        )
        if by_tracker:
            results[name] = by_tracker
    if results:
        write_metrics_json(out_dir / "metrics.json", results)
        # a static box has no meaningful speed
        table = results_table(results, TABLE_COLUMNS, only_filled=True, no_speed=("static",))
        print(table, flush=True)
        (out_dir / "results_table.txt").write_text(table + "\n")
        pngs = benchmark_plots(results, out_dir / "plots")
        if trainer is not None:
            log_reports(trainer.loggers, results, pngs)
    return results


def resume_path(ckpt_path: str | None) -> str | None:
    """``ckpt_path`` checked before the run starts: Lightning's keywords, or a torch file."""
    if ckpt_path is None or str(ckpt_path) in LIGHTNING_CKPT_KEYWORDS:
        return ckpt_path
    return str(check_checkpoint_file(Path(get_original_cwd()) / Path(str(ckpt_path)).expanduser()))


def trainer_precision(trainer_cfg: DictConfig) -> Any:
    """The trainer config's ``precision`` with ``auto`` resolved for its accelerator (logged)."""
    asked = trainer_cfg.get("precision", "32-true")
    resolved = resolve_trainer_precision(asked, str(trainer_cfg.get("accelerator", "cpu")))
    log_precision_once("training", asked, resolved)
    return resolved


# command-line overrides that belong to the main run only (see `pretrain`)
OWN_KEYS = ("experiment=", "pretrain", "hydra.", "ckpt_path=")


def command_line_overrides() -> list[str]:
    """The overrides this Hydra run was launched with (``[]`` outside a Hydra app)."""
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def pretrain(cfg: DictConfig) -> Path | None:
    """Run ``cfg.pretrain.experiment`` (its ``overrides`` too) into ``<run dir>/pretrain``,
    without evaluation, and return its ``last.ckpt`` (None when ``cfg`` has no ``pretrain``).

    A two-stage recipe in one command (``experiment=siammask_synthetic``: base, then refine from
    it). The command line's overrides apply to both stages (``logger=csv``, ``seed=1``,
    ``data.num_workers=0``), except ``experiment``, ``pretrain.*``, ``ckpt_path`` and
    ``hydra.*``; ``pretrain.overrides`` apply to the first stage only. A run resumed with
    ``ckpt_path`` does not pretrain again: its checkpoint holds the weights, and a finished
    pretrain folder (its ``last.ckpt`` present) is reused as it is.
    """
    stage = cfg.get("pretrain")
    if not stage:
        return None
    out = Path(cfg.paths.output_dir) / "pretrain"
    last = out / "checkpoints" / "last.ckpt"
    if cfg.ckpt_path is not None or last.is_file():
        log.info("pretrain %s: using %s", stage.experiment, last)
        return last
    shared = [o for o in command_line_overrides() if not o.lstrip("~+").startswith(OWN_KEYS)]
    overrides = [f"experiment={stage.experiment}", *shared, *stage.get("overrides", [])]
    first = hydra.compose(config_name="train", overrides=overrides)
    with open_dict(first):
        first.paths.output_dir = str(out)  # not the main run's ${hydra:runtime.output_dir}
        first.evaluate.enabled = False
        first.ckpt_path = None
        first.pop("pretrain", None)
    log.info("pretrain: experiment=%s into %s", stage.experiment, out)
    run(first)
    if not last.is_file():
        raise FileNotFoundError(
            f"pretrain experiment={stage.experiment} wrote no {last} (callbacks.epoch_checkpoint "
            "with save_last: true is needed)"
        )
    return last


def run(cfg: DictConfig) -> dict:
    """Fit (unless ``train=false``) and evaluate; returns the evaluation report (rank 0)."""
    check_batch_sequences(cfg.evaluate.get("batch_sequences", 1))  # before hours of training
    malloc = check_mode(cfg.get("cpu_malloc", "system"))
    if cfg.train and trains_on_cpu(str(cfg.trainer.get("accelerator", "cpu"))):
        set_cpu_malloc(malloc)
    init = pretrain(cfg) if cfg.train else None
    if init is not None:
        with open_dict(cfg):
            cfg.model.init_from = str(init)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.data)
    module = instantiate(cfg.model)
    extra: dict[str, Any] = {}
    if cluster := cluster_plugins():  # the trainer config's own plugins, then the cluster's
        extra["plugins"] = [*(instantiate(p) for p in cfg.trainer.get("plugins") or []), *cluster]
    trainer = instantiate(
        cfg.trainer,
        precision=trainer_precision(cfg.trainer),
        callbacks=instantiate_group(cfg.get("callbacks")),
        logger=instantiate_group(cfg.get("logger")) or False,
        **extra,
    )
    if trainer.is_global_zero:
        for lg in trainer.loggers:
            lg.log_hyperparams(_container(cfg))
    if cfg.train:
        given = resume_path(cfg.ckpt_path)
        ckpt = auto_resume_path(cfg.get("resume", "never"), given, cfg.paths.output_dir)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt)
    reports: dict = {}
    if cfg.evaluate.enabled:
        reports = evaluate(cfg, module, trainer)
    for lg in trainer.loggers:
        lg.finalize("success")
    return reports


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
@report_errors
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    setup_environment()
    with isolated_job():
        run(cfg)


if __name__ == "__main__":
    main()
