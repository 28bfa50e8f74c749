"""``siamlightning-eval``: run a checkpoint on a benchmark, or score existing result files.

    siamlightning-eval ckpt=<last.ckpt> benchmark=otb100 benchmark.root=/data/OTB100
    siamlightning-eval results=[dirA,dirB] benchmark=vot2018 benchmark.root=/data/VOT2018

Under ``torchrun`` (or any launcher that sets ``WORLD_SIZE``) sequences are sharded across the
processes and the trajectories gathered, so the numbers equal a single-process run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import hydra
import torch
import torch.distributed as dist
from hydra.utils import get_original_cwd
from omegaconf import DictConfig, ListConfig, OmegaConf

from siamlightning.cli.common import instantiate_group, report_errors, setup_environment
from siamlightning.configs import config_dir
from siamlightning.errors import DataError
from siamlightning.evaluation.compare import compare, open_benchmark
from siamlightning.evaluation.log_report import log_reports
from siamlightning.evaluation.ope import score_ope
from siamlightning.evaluation.plots import ar_plot, eao_plot, ope_plots
from siamlightning.evaluation.report import (
    folder_labels,
    format_table,
    write_metrics_json,
)
from siamlightning.evaluation.result_files import (
    read_results,
    write_trackingnet_submission,
)
from siamlightning.evaluation.vot_anchor_experiment import (
    run_vot_multistart,
    score_vot_multistart_folder,
)
from siamlightning.evaluation.vot_reset_runner import run_vot
from siamlightning.evaluation.vot_reset_scoring import score_vot_folder
from siamlightning.metrics.vot_eao import eao_interval
from siamlightning.tracking.load import build_tracker, load_net

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
    "fps",
)


def _abs(p: str, base: Path) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else base / q


def _init_distributed() -> tuple[int, int]:
    """Join the process group a launcher (torchrun, SLURM srun) describes in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _score(folder: Path, index: Any, bench: dict[str, Any]) -> dict[str, Any]:
    if bench.get("kind") == "vot_multistart":
        interval = bench.get("interval")
        return score_vot_multistart_folder(
            folder, index, year=bench.get("year", 2020), interval=interval and tuple(interval)
        )
    if bench.get("kind") == "vot":
        return score_vot_folder(
            folder, index, year=bench.get("year", 2018), variant=bench.get("variant", "legacy")
        )
    return score_ope(read_results(folder, index), index, protocol=bench.get("protocol", "otb"))


def _track(cfg: DictConfig, bench: dict[str, Any], index: Any, out_dir: Path) -> dict[str, Any]:
    base = Path(get_original_cwd())
    net, export = load_net(_abs(str(cfg.ckpt), base))
    tracker_cfg = export["tracker"]
    if cfg.get("tracker"):
        tracker_cfg = OmegaConf.to_container(cfg.tracker, resolve=True)
    overrides = OmegaConf.to_container(cfg.tracker_overrides, resolve=True)
    label = cfg.name or Path(str(cfg.ckpt)).stem
    factory = lambda: build_tracker(net, tracker_cfg, **overrides)  # noqa: E731
    factory()  # a tracker config of another family fails here, not mid-sequence
    res_dir = out_dir / "results" / bench["name"] / label
    if bench.get("kind") == "vot_multistart":
        rank, world = _init_distributed()
        shard = {"rank": rank, "world_size": world, "progress": cfg.progress, "name": label}
        run_vot_multistart(factory, index, res_dir, output=bench.get("output", "auto"), **shard)
        if world > 1:
            dist.barrier()
        return {label: _score(res_dir, index, bench)} if rank == 0 else {}
    if bench.get("kind") == "vot":
        rank, world = _init_distributed()
        run_vot(
            factory,
            index,
            res_dir,
            repetitions=int(bench.get("repetitions", 15)),
            rank=rank,
            world_size=world,
            progress=cfg.progress,
            name=label,
        )
        if world > 1:
            dist.barrier()
        return {label: _score(res_dir, index, bench)} if rank == 0 else {}
    _init_distributed()
    reports = compare(
        {label: factory},
        {bench["name"]: (index, bench.get("protocol", "otb"))},
        out_dir,
        progress=cfg.progress,
        score=not bench.get("gt_withheld"),
        layout="got10k" if bench.get("layout") == "got10k" else "otb",
        repetitions=int(bench.get("repetitions", 1)),
    )
    by_tracker = reports.get(bench["name"], {})
    for name, rep in by_tracker.items():
        _export_layout(rep.pop("trajectories", {}), bench, res_dir.parent / name)
    return {k: v for k, v in by_tracker.items() if not bench.get("gt_withheld")}


def _export_layout(trajectories: dict[str, Any], bench: dict[str, Any], folder: Path) -> None:
    if bench.get("source") == "trackingnet" and trajectories:
        z = write_trackingnet_submission(
            folder / "submission", {n: r.boxes for n, r in trajectories.items()}
        )
        print(f"TrackingNet submission: {z}")
    if bench.get("gt_withheld") and trajectories:
        print(f"{bench['name']}: ground truth is withheld; submit the results in {folder}")


def _print_table(reports: dict[str, Any], failed: dict[str, str], bench_name: str) -> None:
    """The console table; a folder that could not be scored is a row with its reason."""
    rows = {
        f"{b}/{t}": {k: r["overall"].get(k, r.get(k)) for k in COLUMNS}
        for b, bt in reports.items()
        for t, r in bt.items()
    }
    used = [c for c in COLUMNS if any(row.get(c) is not None for row in rows.values())]
    if failed:
        rows = {k: {**v, "status": "ok"} for k, v in rows.items()}
        rows.update(
            {f"{bench_name}/{t}": {"status": f"FAILED: {why}"} for t, why in failed.items()}
        )
        used.append("status")
    print(format_table(rows, columns=used), flush=True)


def _score_folders(
    folders: list[Path], labels: list[str], index: Any, bench: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Score each folder -> ({label: report}, {label: reason}); one bad folder hides no other."""
    by_tracker, failed = {}, {}
    for label, folder in zip(labels, folders):
        try:
            by_tracker[label] = _score(folder, index, bench)
        except (DataError, FileNotFoundError) as exc:
            if len(folders) == 1:
                raise
            log.error("%s (%s) not scored: %s", label, folder, exc)
            failed[label] = str(exc)
    return by_tracker, failed


def _report(reports: dict[str, Any], bench: dict[str, Any], out_dir: Path) -> list[Path]:
    write_metrics_json(out_dir / "metrics.json", reports)
    pngs = ope_plots(reports, out_dir / "plots")
    by_t = next(iter(reports.values()))
    if bench.get("kind") in ("vot", "vot_multistart"):
        anchor = bench["kind"] == "vot_multistart"  # anchor R is already a fraction in [0, 1]
        curves = {t: (r["overall"]["eao_curve"], r["overall"]["eao"]) for t, r in by_t.items()}
        interval = next(iter(by_t.values()))["overall"]["eao_interval"] if anchor else None
        pngs.append(
            eao_plot(
                curves,
                out_dir / "plots" / f"{bench['name']}_eao.png",
                interval=interval or eao_interval(bench.get("year", 2018)),
            )
        )
        ar = {
            t: (
                r["overall"]["accuracy"],
                min(1.0, r["overall"]["robustness"] / (1 if anchor else 100)),
            )
            for t, r in by_t.items()
        }
        pngs.append(ar_plot(ar, out_dir / "plots" / f"{bench['name']}_ar.png", title=bench["name"]))
    return pngs


def _log(cfg: DictConfig, reports: dict[str, Any], pngs: list[Path]) -> None:
    """Send the report to the configured loggers (``logger=wandb`` / ``logger=csv``)."""
    loggers = instantiate_group(cfg.get("logger"))
    if not loggers:
        return
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    log_reports(loggers, reports, pngs)
    for lg in loggers:
        lg.finalize("success")


def run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate and print the table; returns ``{benchmark: {tracker: report}}`` (rank 0)."""
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
    reports = {bench["name"]: by_tracker} if by_tracker else {}
    pngs = _report(reports, bench, out_dir) if reports else []
    if reports or failed:
        _print_table(reports, failed, bench["name"])
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
        _shutdown_distributed(wait=ok)


def _shutdown_distributed(*, wait: bool) -> None:
    """Leave the process group; a rank exiting with live gloo threads aborts (SIGABRT).

    ``wait`` meets the other ranks first; a failing rank does not wait (that would hang them).
    """
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
