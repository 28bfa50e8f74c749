"""``siamlightning-eval``: run a checkpoint on a benchmark, or score existing result files.

    siamlightning-eval ckpt=<last.ckpt> benchmark=otb100 benchmark.root=/data/OTB100
    siamlightning-eval results=[dirA,dirB] benchmark=vot2018 benchmark.root=/data/VOT2018
    siamlightning-eval results=<DAVIS PNG folder> benchmark=davis2017_val benchmark.root=/data/DAVIS
    siamlightning-eval ckpt=siammask_davis weights=SiamMask_DAVIS.pth benchmark=davis2017_val ...

Under ``torchrun`` (or any launcher that sets ``WORLD_SIZE``) sequences are sharded across the
processes and the trajectories gathered, so the numbers equal a single-process run.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import get_original_cwd
from omegaconf import DictConfig, ListConfig, OmegaConf

from siamlightning.cli.common import instantiate_group, report_errors, setup_environment
from siamlightning.configs import config_dir
from siamlightning.errors import DataError
from siamlightning.evaluation.benchmarks import open_benchmark, run_benchmark, score_folder
from siamlightning.evaluation.distributed import join_launcher_group, leave_group
from siamlightning.evaluation.log_report import log_reports
from siamlightning.evaluation.plots import benchmark_plots
from siamlightning.evaluation.report import (
    folder_labels,
    format_table,
    results_table,
    write_metrics_json,
)
from siamlightning.evaluation.result import BenchmarkResult, Results
from siamlightning.evaluation.vos_scoring import GLOBAL_COLUMNS, OBJECT_COLUMNS
from siamlightning.tracking.load import build_tracker, load_net, load_pysot_net

log = logging.getLogger("siamlightning.eval")
COLUMNS = (
    "success_auc",
    "precision_20",
    "norm_precision_20",
    "ao",
    "sr50",
    "sr75",
    "eao",
    "accuracy",
    "robustness",
    "failures",
    *GLOBAL_COLUMNS,
    "fps",
)


def _abs(p: str, base: Path) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else base / q


def _track(
    cfg: DictConfig, bench: dict[str, Any], index: Any, out_dir: Path
) -> dict[str, BenchmarkResult]:
    base = Path(get_original_cwd())
    if cfg.get("weights") is not None:  # ckpt names a pysot / foolwood SiamMask config
        net, tracker_cfg = load_pysot_net(str(cfg.ckpt), _abs(str(cfg.weights), base))
    else:
        net, export = load_net(_abs(str(cfg.ckpt), base))
        tracker_cfg = export["tracker"]
    if cfg.get("tracker"):
        tracker_cfg = OmegaConf.to_container(cfg.tracker, resolve=True)
    overrides = OmegaConf.to_container(cfg.tracker_overrides, resolve=True)
    label = cfg.name or Path(str(cfg.ckpt)).stem
    factory = lambda: build_tracker(net, tracker_cfg, **overrides)  # noqa: E731
    factory()  # a tracker config of another family fails here, not mid-sequence
    join_launcher_group()
    return run_benchmark({label: factory}, index, bench, out_dir, progress=cfg.progress)


def _score_folders(
    folders: list[Path], labels: list[str], index: Any, bench: dict[str, Any]
) -> tuple[dict[str, BenchmarkResult], dict[str, str]]:
    """Score each folder -> ({label: report}, {label: reason}); one bad folder hides no other."""
    by_tracker, failed = {}, {}
    for label, folder in zip(labels, folders):
        try:
            by_tracker[label] = replace(score_folder(folder, index, bench), tracker=label)
        except (DataError, FileNotFoundError) as exc:
            if len(folders) == 1:
                raise
            log.error("%s (%s) not scored: %s", label, folder, exc)
            failed[label] = str(exc)
    return by_tracker, failed


def _log(cfg: DictConfig, reports: Results, pngs: list[Path]) -> None:
    """Send the report to the configured loggers (``logger=wandb`` / ``logger=csv``)."""
    loggers = instantiate_group(cfg.get("logger"))
    if not loggers:
        return
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    log_reports(loggers, reports, pngs)
    for lg in loggers:
        lg.finalize("success")


def run(cfg: DictConfig) -> Results:
    """Evaluate and print the table; returns ``{benchmark: {tracker: result}}`` (rank 0)."""
    base = Path(get_original_cwd())
    bench = OmegaConf.to_container(cfg.benchmark, resolve=True)
    index = open_benchmark(bench, base)
    if index is None:
        raise FileNotFoundError(
            f"benchmark {bench.get('name')!r} root {bench.get('root')} not found"
        )
    out_dir = Path(cfg.paths.output_dir)
    if cfg.results is not None:
        if bench.get("gt_withheld"):
            raise ValueError(f"{bench['name']}: ground truth is withheld; score on its server")
        given = cfg.results if isinstance(cfg.results, ListConfig) else [cfg.results]
        folders = [_abs(str(f), base) for f in given]
        labels = [cfg.name] if (cfg.name and len(folders) == 1) else folder_labels(folders)
        by_tracker, failed = _score_folders(folders, labels, index, bench)
    elif cfg.ckpt is not None:
        by_tracker, failed = _track(cfg, bench, index, out_dir), {}
    else:
        raise ValueError("give ckpt=<checkpoint> or results=<folder of result files>")
    reports: Results = {bench["name"]: by_tracker} if by_tracker else {}
    pngs: list[Path] = []
    if reports:
        write_metrics_json(out_dir / "metrics.json", reports)
        pngs = benchmark_plots(reports, out_dir / "plots")
    if reports or failed:
        table = results_table(
            reports, COLUMNS, only_filled=True, failed=failed, failed_benchmark=bench["name"]
        )
        print(table, flush=True)
    for tracker, result in by_tracker.items():
        if result.kind == "vos":  # davis2017-evaluation's per-object table too
            cols = ("jf_mean", *OBJECT_COLUMNS)
            print(format_table(result.sequences, cols, index_name=f"{tracker} object"), flush=True)
    if reports:
        _log(cfg, reports, pngs)
    if failed:
        why = "; ".join(f"{t}: {m}" for t, m in failed.items())
        rest = f"the others are in {out_dir / 'metrics.json'}" if reports else "none could"
        raise DataError(
            f"{len(failed)} of {len(folders)} result folders could not be scored ({rest}): {why}"
        )
    return reports


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval")
@report_errors
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    setup_environment()
    ok = False
    try:
        run(cfg)
        ok = True
    finally:
        leave_group(wait=ok)


if __name__ == "__main__":
    main()
