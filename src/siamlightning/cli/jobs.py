"""One ``siamlightning-train`` job among many: multirun isolation, auto-resume, SLURM requeue.

- `isolated_job`: a Hydra multirun (basic launcher) runs its jobs one after another in one
  process; each job starts as a fresh process would and leaves nothing behind (environment
  variables, W&B run, DDP process group, torch threads and flags, once-a-process notices), and
  the DDP ranks it starts re-run this job alone in its folder, not the whole sweep.
- `auto_resume_path`: ``resume: auto`` continues a run folder that already holds
  ``checkpoints/last.ckpt`` (a requeued or re-run job), instead of starting it over.
- `cluster_plugins`: under submitit (``hydra/launcher=slurm``) only submitit requeues a job;
  Lightning's own SLURM auto-requeue is turned off so the two signal handlers do not fight.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from siamlightning.configs import multirun_job
from siamlightning.precision import reset_notices

log = logging.getLogger("siamlightning.train")

RESUME_MODES = ("auto", "never")


def quiet_launcher_schema_notice() -> None:
    """Silence Hydra's deprecation notice for ``conf/hydra/launcher/{joblib,submitit_local}.yaml``.

    They share their plugins' schema names on purpose (``hydra/launcher=joblib`` gets our
    settings) and are complete on their own, so Hydra merging the schema under them is harmless.
    """
    warnings.filterwarnings(
        "ignore",
        message=r"\s*'hydra/launcher/\w+' is validated against ConfigStore schema",
        category=UserWarning,
    )


def _children_rerun_this_job(hc: Any) -> None:
    """Make Lightning's DDP launcher start this job's ranks as a single run in its folder.

    Lightning re-runs ``sys.argv`` (here ``-m`` and every sweep value) with
    ``hydra.run.dir=<hydra.run.dir>``; a multirun job's own overrides and output folder are
    what its ranks must run instead.
    """
    from omegaconf import open_dict, read_write

    sys.argv[1:] = list(hc.overrides.task)
    with read_write(hc), open_dict(hc):
        hc.run.dir = hc.runtime.output_dir


def _close_process_group() -> None:
    """Destroy the DDP process group a job's trainer left (Lightning keeps it after ``fit``);
    the next job's ranks would otherwise talk to the last job's, which have exited."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def finish_wandb_run() -> None:
    """Close a W&B run left open (else the next job's WandbLogger logs into it)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


@contextlib.contextmanager
def isolated_job() -> Iterator[None]:
    """Run one training job as if in a fresh process, and restore this process afterwards.

    Restored on exit: ``os.environ`` (Lightning's DDP / seed variables, ``WANDB_MODE``),
    ``sys.argv``, torch's thread count and deterministic-algorithms flag; the W&B run is
    finished and the DDP process group destroyed. On entry the once-a-process precision
    notices are reset, so every job's log says its precision.
    """
    env, argv = dict(os.environ), list(sys.argv)
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    reset_notices()
    hc = multirun_job()
    if hc is not None:
        _children_rerun_this_job(hc)
    log.info("torch threads: %d", threads)
    try:
        yield
    finally:
        finish_wandb_run()
        _close_process_group()
        os.environ.clear()
        os.environ.update(env)
        sys.argv[:] = argv
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _slurm_detected() -> bool:
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect()


def auto_resume_path(resume: str, ckpt_path: Any, output_dir: str | Path) -> str | None:
    """``ckpt_path`` for ``trainer.fit``: ``<output_dir>/checkpoints/last.ckpt`` when ``resume``
    is ``auto``, no ``ckpt_path`` was given and that file exists, else ``ckpt_path`` (logged).

    Under SLURM a Lightning HPC checkpoint (``hpc_ckpt_*.ckpt``, written by Lightning's own
    auto-requeue) in ``output_dir`` takes precedence: ``None`` lets Lightning load it.
    """
    if resume not in RESUME_MODES:
        raise ValueError(f"resume must be one of {RESUME_MODES}, got {resume!r}")
    if ckpt_path is not None or resume == "never":
        return ckpt_path
    out = Path(output_dir)
    if _slurm_detected() and list(out.glob("hpc_ckpt_*.ckpt")):
        log.info("resume=auto: Lightning resumes from its HPC checkpoint in %s", out)
        return None
    last = out / "checkpoints" / "last.ckpt"
    if not last.is_file():
        return None
    log.info("resume=auto: continuing from %s (resume=never starts over)", last)
    return str(last)


def cluster_plugins() -> list[Any]:
    """Trainer plugins for the cluster this job runs on: under a submitit SLURM job, a
    `SLURMEnvironment` without auto-requeue (submitit requeues; ``resume: auto`` resumes)."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "slurm" or not _slurm_detected():
        return []
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)]
