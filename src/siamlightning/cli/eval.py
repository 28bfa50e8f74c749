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

from siamlightning.cli.common import (
    in_multirun,
    instantiate_group,
    report_errors,
    setup_environment,
)
from siamlightning.cli.jobs import finish_wandb_run
from siamlightning.configs import config_dir
from siamlightning.data.core.frame_cache import enable_frame_cache, file_key
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
from siamlightning.tracking.exported import TRACKER_YAML, is_export_dir
from siamlightning.tracking.load import (
    build_tracker,
    load_exported_net,
    load_net,
    load_pysot_net,
)

__all__ = ["Score", "main", "objective", "resolve_tracker", "run"]

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


def sweep_label(ckpt: str | None, tracker_file: str | None = None) -> str:
    """A tracker search's folder name: ``<run>-<stem>`` of ``<run>/checkpoints/<stem>.ckpt``, a
    pysot config name as it is, else the file's stem (``tracker_file``'s folder without ckpt)."""
    if ckpt is None:
        return Path(str(tracker_file)).resolve().parent.name if tracker_file else "none"
    p = Path(str(ckpt))
    run = p.parent.parent if p.parent.name == "checkpoints" else p.parent
    label = f"{run.name}-{p.stem}" if run.name not in ("", ".", "..") else p.stem
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


OmegaConf.register_new_resolver("siamlightning_sweep_label", sweep_label, replace=True)
# nets a process keeps between runs of the same checkpoint (the trials of a tracker search):
# one, since a SiamRPN++ / SiamMask net holds 50-100 MB
_NET_CACHE: dict[tuple, tuple[Any, dict[str, Any]]] = {}


def _load(
    ckpt: str, weights: Path | None, base: Path, *, keep: bool = True
) -> tuple[Any, dict[str, Any]]:
    """(net, tracker config) of a checkpoint, an export directory, or of a pysot / foolwood
    config name + weights; with ``keep`` the last one loaded is kept, keyed by the files' paths,
    sizes and modification times (`file_key`; a directory's ``tracker.yaml``)."""
    path = _abs(ckpt, base)
    if weights is not None:
        key: tuple = ("weights", ckpt, file_key(str(weights.resolve())))
    else:
        stamp = path / TRACKER_YAML if is_export_dir(path) else path
        key = ("ckpt", file_key(str(stamp.resolve())) if stamp.is_file() else str(path))
    if not (keep and key in _NET_CACHE):
        if weights is not None:
            loaded = load_pysot_net(ckpt, weights)
        elif is_export_dir(path):  # a siamlightning-export directory: its graphs (onnxruntime)
            loaded = load_exported_net(path)
        else:
            net, export = load_net(path)
            loaded = (net, export["tracker"])
        _NET_CACHE.clear()
        if not keep:
            return loaded[0], dict(loaded[1])
        _NET_CACHE[key] = loaded
    net, tracker_cfg = _NET_CACHE[key]
    return net, dict(tracker_cfg)


def read_tracker_file(path: Path) -> dict[str, Any]:
    """A ``best_tracker.yaml`` (or any yaml with a ``tracker`` node) -> its mapping."""
    if not path.is_file():
        raise FileNotFoundError(f"tracker_file {path} does not exist")
    doc = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(doc, dict) or not isinstance(doc.get("tracker"), dict):
        raise DataError("has no 'tracker' mapping (as a sweep's best_tracker.yaml)", path=path)
    return doc


def resolve_tracker(cfg: DictConfig) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The eval config's network, tracker config (before ``tracker_overrides``) and source
    (absolute ``ckpt`` and ``weights``): ``ckpt`` / ``weights``, else those of ``tracker_file``;
    the tracker is ``tracker_file``'s, else ``tracker=``'s, else the checkpoint's own.
    Relative paths are read from the launch folder."""
    from hydra.core.hydra_config import HydraConfig

    base = Path(get_original_cwd()) if HydraConfig.initialized() else Path.cwd()
    doc = read_tracker_file(_abs(str(cfg.tracker_file), base)) if cfg.get("tracker_file") else {}
    ckpt, weights = cfg.get("ckpt"), cfg.get("weights")
    if ckpt is None and doc:
        ckpt, weights = doc.get("ckpt"), doc.get("weights")
    if ckpt is None:
        raise ValueError("give ckpt=<checkpoint> (or tracker_file=<best_tracker.yaml>)")
    wpath = _abs(str(weights), base) if weights is not None else None
    if wpath is not None and not wpath.is_file():
        raise FileNotFoundError(f"weights {wpath} do not exist")
    net, tracker_cfg = _load(str(ckpt), wpath, base, keep=bool(cfg.get("cache_net", True)))
    if doc:
        tracker_cfg = dict(doc["tracker"])
    elif cfg.get("tracker"):
        tracker_cfg = OmegaConf.to_container(cfg.tracker, resolve=True)
    is_file = wpath is None and _abs(str(ckpt), base).exists()
    source = {
        "ckpt": str(_abs(str(ckpt), base)) if is_file else str(ckpt),
        "weights": None if wpath is None else str(wpath),
    }
    return net, tracker_cfg, source


def _track(
    cfg: DictConfig, bench: dict[str, Any], index: Any, out_dir: Path
) -> dict[str, BenchmarkResult]:
    net, tracker_cfg, source = resolve_tracker(cfg)
    overrides = OmegaConf.to_container(cfg.tracker_overrides, resolve=True)
    label = cfg.name or Path(source["ckpt"]).stem
    factory = lambda: build_tracker(net, tracker_cfg, **overrides)  # noqa: E731
    factory()  # a tracker config of another family fails here, not mid-sequence
    join_launcher_group()
    return run_benchmark(
        {label: factory},
        index,
        bench,
        out_dir,
        progress=cfg.progress,
        batch_sequences=cfg.evaluate.batch_sequences,
    )


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
    finish_wandb_run()  # the next run in this process (a sweep's trial) gets its own


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
    elif cfg.ckpt is not None or cfg.get("tracker_file"):
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


class Score(float):
    """The number `main` returns to Hydra (a sweeper's objective), with its metric's ``name``."""

    name: str = "score"

    def __new__(cls, value: float, name: str) -> Score:
        self = super().__new__(cls, value)
        self.name = name
        return self

    def __reduce__(self) -> tuple:  # pickled by joblib / submitit launchers
        return (Score, (float(self), self.name))


def objective(cfg: DictConfig, reports: Results) -> Score | None:
    """The tracked checkpoint's ``cfg.objective`` score (``auto``: the benchmark's headline,
    `BenchmarkResult.headline`) -> a `Score`; None without a checkpoint's report (scoring
    folders, ranks > 0)."""
    if cfg.get("results") is not None or not reports:
        return None
    (by_tracker,) = reports.values()
    if len(by_tracker) != 1:
        return None
    (result,) = by_tracker.values()
    name, value = result.headline()
    asked = str(cfg.get("objective") or "auto")
    if asked != "auto":
        found = result.value(asked)
        if found is None:
            raise ValueError(
                f"objective={asked}: benchmark {result.benchmark!r} ({result.protocol}) has no "
                f"such score; it has {sorted(result.scalars())}"
            )
        name, value = asked, float(found)
    return Score(value, name)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval")
@report_errors
def main(cfg: DictConfig) -> Score | None:
    """Hydra entry point; returns the objective score (a sweeper maximises it)."""
    setup_environment()
    if cfg.get("cache_frames_mb"):
        enable_frame_cache(int(cfg.cache_frames_mb) << 20)
    ok = False
    try:
        score = objective(cfg, run(cfg))
        ok = True
    finally:
        if not in_multirun():  # a sweep's trials share the process group (`sweeps.search`)
            leave_group(wait=ok)
    return score


if __name__ == "__main__":
    main()
