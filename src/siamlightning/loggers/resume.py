"""A resumed run stays one run: its CSV metrics grow, its W&B run continues, its folder is kept.

- `AppendingCSVLogger`: Lightning's `CSVLogger` deletes an existing ``metrics.csv`` when it
  starts; this one keeps the rows and appends (the header grows if new columns appear).
- `wandb_run_id`: the W&B run id kept in ``<run>/wandb_run_id.txt`` (written on first start,
  read back on resume) so `siamlightning.loggers.wandb.make_wandb_logger` resumes that run.
- `resume_run_dir`: the Hydra resolver behind ``siamlightning-train ckpt_path=<run>/checkpoints/
  last.ckpt``: a checkpoint inside a run folder sends the resumed run back into that folder.
"""

from __future__ import annotations

import csv
import secrets
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.utilities import rank_zero_only

__all__ = ["AppendingCSVLogger", "resume_run_dir", "wandb_run_id"]

RUN_ID_FILE = "wandb_run_id.txt"


class _AppendingWriter(ExperimentWriter):
    """An `ExperimentWriter` that starts from the columns of an existing ``metrics.csv``."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as f:
                self.metrics_keys = list(csv.DictReader(f).fieldnames or [])


class AppendingCSVLogger(CSVLogger):
    """`CSVLogger` that appends to an existing ``metrics.csv`` instead of deleting it."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        """The metrics writer (made on first use), keeping the rows already written."""
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def wandb_run_id(save_dir: str | Path) -> str:
    """The W&B run id of the run folder ``save_dir``: read from ``wandb_run_id.txt``, else a
    new one (written there by rank 0; other ranks log nothing to W&B)."""
    path = Path(save_dir) / RUN_ID_FILE
    found = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    if found:
        return found
    run_id = secrets.token_hex(4)
    if rank_zero_only.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(run_id + "\n", encoding="utf-8")
    return run_id


def resume_run_dir(ckpt_path: Any, default: str) -> str:
    """``<run>`` when ``ckpt_path`` is ``<run>/checkpoints/<name>.ckpt`` of a Hydra run folder
    (it holds ``.hydra/``), else ``default`` (a new timestamped folder)."""
    if not isinstance(ckpt_path, str) or not ckpt_path.endswith(".ckpt"):
        return default
    run = Path(ckpt_path).expanduser().parent.parent
    if Path(ckpt_path).parent.name == "checkpoints" and (run / ".hydra").is_dir():
        return str(run)
    return default
