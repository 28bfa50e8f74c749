"""A tracker search in Weights & Biases: its trials grouped, and one summary run holding the
ranked trials and ``best_tracker.yaml`` + ``trials.csv`` as an artifact (offline without
credentials or network, as every siamlightning W&B run; ``wandb sync`` uploads it later)."""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from siamlightning.configs import sweep_group
from siamlightning.loggers.wandb import resolve_mode

__all__ = ["log_sweep", "trial_logger_overrides"]

log = logging.getLogger(__name__)


def trial_logger_overrides(logger_cfg: Mapping[str, Any] | None, number: int) -> list[str]:
    """The override that names a trial's W&B run by its trial number (its group, the sweep
    folder, comes from ``conf/logger/wandb.yaml``)."""
    if not logger_cfg or "wandb" not in logger_cfg:
        return []
    return [f"logger.wandb.name=trial_{number:04d}"]


def log_sweep(
    sweep_dir: Path, *, study_name: str, best: Path | None, wandb_cfg: Mapping[str, Any]
) -> Path | None:
    """Log the sweep's summary run (``job_type="tracker-search"``) -> its local run folder, or
    None when W&B is disabled."""
    mode = resolve_mode(str(wandb_cfg.get("mode", "auto")))
    if mode == "disabled":
        return None
    import wandb

    group = sweep_group(sweep_dir)
    run = wandb.init(
        project=wandb_cfg.get("project") or "siamlightning",
        entity=wandb_cfg.get("entity"),
        group=group,
        job_type="tracker-search",
        name=f"{study_name}-summary",
        dir=str(sweep_dir),
        mode=mode,
        tags=list(wandb_cfg.get("tags") or []),
        reinit="finish_previous",
    )
    try:
        with open(sweep_dir / "trials.csv", newline="") as f:
            rows = list(csv.reader(f))
        if rows:
            run.log({"trials": wandb.Table(columns=rows[0], data=rows[1:])})
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{study_name}-{group}").strip("-")
        art = wandb.Artifact(name[:120], type="tracker-config", metadata={"group": group})
        art.add_file(str(sweep_dir / "trials.csv"))
        if best is not None:
            art.add_file(str(best))
            import yaml

            doc = yaml.safe_load(best.read_text())
            run.summary.update(
                {"best/score": doc["score"], "best/trial": doc["trial"], "best/objective":
                 doc["objective"], **{f"best/{k}": v for k, v in doc["params"].items()}}
            )  # fmt: skip
        run.log_artifact(art)
        where = Path(run.dir).parent
    finally:
        run.finish()
    log.info("W&B (%s): sweep summary in group %s, %s", mode, group, where)
    return where
