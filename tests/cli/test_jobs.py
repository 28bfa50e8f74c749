"""siamlightning.cli.jobs in-process: what one job restores, and where ``resume: auto`` resumes."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
import torch

from siamlightning.cli import jobs


def test_isolated_job_restores_environment_argv_threads_and_closes_wandb(monkeypatch) -> None:
    finished = []
    fake = types.SimpleNamespace(run=object(), finish=lambda: finished.append(True))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setenv("SIAMLIGHTNING_KEEP", "1")
    argv, threads, mode = list(sys.argv), torch.get_num_threads(), os.environ.get("WANDB_MODE")
    with jobs.isolated_job():
        os.environ["MASTER_PORT"] = "12345"  # what Lightning's DDP launcher leaves behind
        os.environ["WANDB_MODE"] = "offline"  # what make_wandb_logger sets
        del os.environ["SIAMLIGHTNING_KEEP"]
        sys.argv.append("-m")
        torch.set_num_threads(threads + 1)
    assert "MASTER_PORT" not in os.environ and os.environ["SIAMLIGHTNING_KEEP"] == "1"
    assert os.environ.get("WANDB_MODE") == mode
    assert sys.argv == argv and torch.get_num_threads() == threads
    assert finished == [True]  # the open W&B run was finished


def test_isolated_job_resets_the_once_a_process_precision_notices(caplog) -> None:
    from siamlightning.precision import log_precision_once

    caplog.set_level("INFO", logger="siamlightning.precision")
    for _ in range(2):
        with jobs.isolated_job():
            log_precision_once("training", "auto", "32-true")
            log_precision_once("training", "auto", "32-true")
    assert caplog.text.count("training precision: 32-true") == 2  # once per job


def test_isolated_job_destroys_the_ddp_process_group(tmp_path: Path) -> None:
    import torch.distributed as dist

    with jobs.isolated_job():  # what a DDP job's trainer leaves initialised after fit
        dist.init_process_group("gloo", init_method=f"file://{tmp_path}/pg", rank=0, world_size=1)
        assert dist.is_initialized()
    assert not dist.is_initialized()


def test_restored_even_when_the_job_fails() -> None:
    with pytest.raises(RuntimeError), jobs.isolated_job():
        os.environ["NODE_RANK"] = "0"
        raise RuntimeError("diverged")
    assert "NODE_RANK" not in os.environ


def test_multirun_job_makes_ddp_ranks_rerun_only_itself(monkeypatch, tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    from siamlightning.configs import config_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=["seed=3"], return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.runtime.output_dir = str(tmp_path / "sweep" / "1")
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)
    HydraConfig.instance().set_config(cfg)
    monkeypatch.setattr(sys, "argv", ["train", "-m", "seed=1,3", "hydra.sweep.dir=x"])
    with jobs.isolated_job():
        # Lightning's _hydra_subprocess_cmd: sys.argv[1:] + hydra.run.dir=<hydra.run.dir>
        assert sys.argv == ["train", "seed=3"]
        assert HydraConfig.get().run.dir == str(tmp_path / "sweep" / "1")
    assert sys.argv == ["train", "-m", "seed=1,3", "hydra.sweep.dir=x"]


def _ckpt(run: Path) -> Path:
    path = run / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    return path


def test_auto_resume_path(tmp_path: Path, caplog) -> None:
    caplog.set_level("INFO", logger="siamlightning.train")
    assert jobs.auto_resume_path("auto", None, tmp_path) is None  # a fresh folder starts
    last = _ckpt(tmp_path)
    assert jobs.auto_resume_path("auto", None, tmp_path) == str(last)
    assert f"continuing from {last}" in caplog.text
    assert jobs.auto_resume_path("never", None, tmp_path) is None
    assert jobs.auto_resume_path("auto", "/x/epoch3.ckpt", tmp_path) == "/x/epoch3.ckpt"
    with pytest.raises(ValueError, match=r"resume must be one of .* got 'yes'"):
        jobs.auto_resume_path("yes", None, tmp_path)


def test_slurm_hpc_checkpoint_wins_over_last_under_slurm(tmp_path: Path, monkeypatch) -> None:
    _ckpt(tmp_path)
    (tmp_path / "hpc_ckpt_1.ckpt").write_bytes(b"x")
    monkeypatch.setattr(jobs, "_slurm_detected", lambda: True)
    assert jobs.auto_resume_path("auto", None, tmp_path) is None  # Lightning loads "hpc"
    monkeypatch.setattr(jobs, "_slurm_detected", lambda: False)
    assert jobs.auto_resume_path("auto", None, tmp_path).endswith("last.ckpt")


def test_cluster_plugins_turn_lightning_requeue_off_only_in_submitit_slurm_jobs(
    monkeypatch,
) -> None:
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "4")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    monkeypatch.delenv("SUBMITIT_EXECUTOR", raising=False)
    assert jobs.cluster_plugins() == []  # plain sbatch: Lightning's auto-requeue stays
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    (env,) = jobs.cluster_plugins()
    assert isinstance(env, SLURMEnvironment) and not env.auto_requeue
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
    assert jobs.cluster_plugins() == []
