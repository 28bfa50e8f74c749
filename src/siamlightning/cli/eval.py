"""``siamlightning-eval``: run a checkpoint on a benchmark, or score existing result files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from siamlightning.cli.common import config_dir, setup_environment

setup_environment()

import hydra  # noqa: E402
from hydra.utils import get_original_cwd  # noqa: E402
from omegaconf import DictConfig, ListConfig, OmegaConf  # noqa: E402

from siamlightning.evaluation.compare import compare, open_benchmark  # noqa: E402
from siamlightning.evaluation.formats import read_results  # noqa: E402
from siamlightning.evaluation.ope import score_ope  # noqa: E402
from siamlightning.evaluation.plots import ope_plots  # noqa: E402
from siamlightning.evaluation.report import format_table, write_metrics_json  # noqa: E402
from siamlightning.tracking.load import build_tracker, load_net  # noqa: E402

log = logging.getLogger("siamlightning.eval")


def _abs(p: str, base: Path) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else base / q


def score_folder(folder: Path, index: Any, protocol: str) -> dict[str, Any]:
    """Score raw result files (OTB, GOT-10k, pysot or pytracking layout) in ``folder``."""
    if not folder.is_dir():
        raise FileNotFoundError(f"results folder {folder} does not exist")
    return score_ope(read_results(folder, index), index, protocol=protocol)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate and print the table; returns ``{benchmark: {tracker: report}}``."""
    base = Path(get_original_cwd())
    bench = OmegaConf.to_container(cfg.benchmark, resolve=True)
    index = open_benchmark(bench, base)
    if index is None:
        raise FileNotFoundError(
            f"benchmark {bench.get('name')!r} root {bench.get('root')} not found"
        )
    bname, protocol = bench.get("name", "benchmark"), bench.get("protocol", "otb")
    out_dir = Path(cfg.paths.output_dir)
    if cfg.results is not None:
        folders = cfg.results if isinstance(cfg.results, ListConfig) else [cfg.results]
        reports = {bname: {}}
        for f in folders:
            folder = _abs(str(f), base)
            label = cfg.name if (cfg.name and len(folders) == 1) else folder.name
            reports[bname][label] = score_folder(folder, index, protocol)
    elif cfg.ckpt is not None:
        net, export = load_net(_abs(str(cfg.ckpt), base))
        tracker_cfg = export["tracker"]
        if cfg.get("tracker"):
            tracker_cfg = OmegaConf.to_container(cfg.tracker, resolve=True)
        overrides = OmegaConf.to_container(cfg.tracker_overrides, resolve=True)
        label = cfg.name or Path(str(cfg.ckpt)).stem
        reports = compare(
            {label: lambda: build_tracker(net, tracker_cfg, **overrides)},
            {bname: (index, protocol)},
            out_dir,
            progress=cfg.progress,
        )
    else:
        raise ValueError("give ckpt=<checkpoint> or results=<folder of result files>")
    if reports:
        write_metrics_json(out_dir / "metrics.json", reports)
        ope_plots(reports, out_dir / "plots")
        rows = {
            f"{b}/{t}": {
                "success_auc": r["overall"]["success_auc"],
                "precision_20": r["overall"]["precision_20"],
                "fps": r.get("fps", float("nan")),
            }
            for b, by_t in reports.items()
            for t, r in by_t.items()
        }
        print(format_table(rows, columns=["success_auc", "precision_20", "fps"]), flush=True)
    return reports


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    run(cfg)


if __name__ == "__main__":
    main()
