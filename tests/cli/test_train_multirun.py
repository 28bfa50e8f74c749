"""Issue 12 item 5: training multiruns under the basic, joblib and submitit_local launchers.

Every job gets its own run folder and checkpoint; jobs run one after another in one process
(basic launcher) do not leak into each other; a job re-run or requeued into its folder continues
from its ``last.ckpt`` (``resume: auto``), also when submitit requeues it after its USR2 signal.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import run_cli

# 1 optimiser step per epoch (4 pairs, batch 4) of a quarter-width SiamFC, no evaluation
TINY = [
    "logger=csv",
    "evaluate.enabled=false",
    "data.num_workers=0",
    "data.batch_size=4",
    "data.samples_per_epoch=4",
    "data.val_samples=4",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "model.net.backbone.width=0.25",
    "data.train_sources.0.options.num_sequences=2",
    "data.val_sources.0.options.num_sequences=1",
]


def _losses(run: Path) -> dict[int, float]:
    with open(run / "csv" / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/loss")]
    return {int(r["step"]): float(r["train/loss"]) for r in rows}


def _last(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


def _assert_same_run(a: Path, b: Path) -> None:
    assert _losses(a) == _losses(b) and _losses(a)
    wa, wb = _last(a)["state_dict"], _last(b)["state_dict"]
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def _assert_jobs(sweep: Path, n: int, steps: int) -> None:
    """``n`` job folders ``<sweep>/<num>``, each with its own checkpoint at ``steps``."""
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == [str(i) for i in range(n)]
    for i in range(n):
        assert _last(sweep / str(i))["global_step"] == steps, i


def test_basic_multirun_jobs_do_not_leak_into_each_other(tmp_path: Path) -> None:
    # job 2 repeats job 0's point after job 1 (another learning rate) ran in the same process:
    # the same losses and weights as job 0, which ran first, as in a fresh process
    sweep = tmp_path / "sweep"
    lrs = "model.optimizer.lr=0.01,0.05,0.01"
    out = run_cli("train", "-m", *TINY, lrs, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    _assert_jobs(sweep, 3, steps=1)
    _assert_same_run(sweep / "0", sweep / "2")
    assert _last(sweep / "1")["state_dict"] != _last(sweep / "0")["state_dict"]
    for i in range(3):  # each job's own log says its precision (not once a process)
        assert "training precision:" in (sweep / str(i) / "train.log").read_text(), i
    assert "training precision:" in out.stdout + out.stderr
    assert not (tmp_path / "outputs").exists()


def test_slurm_preset_asks_one_task_per_gpu_and_a_signal_before_the_limit(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate
    from submitit.slurm.slurm import _make_sbatch_string

    from siamlightning.configs import config_dir

    overrides = ["hydra/launcher=slurm", "trainer=ddp", "hydra.launcher.gpus_per_node=4"]
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
        params = instantiate(cfg.hydra.launcher).params
    assert (params["gpus_per_node"], params["tasks_per_node"], params["nodes"]) == (4, 4, 1)
    assert (params["signal_delay_s"], params["max_num_timeout"]) == (120, 3)
    assert cfg.resume == "auto"
    text = _make_sbatch_string(  # the sbatch file submitit would submit (private helper)
        command="python -m x",
        folder=tmp_path,
        nodes=params["nodes"],
        ntasks_per_node=params["tasks_per_node"],
        gpus_per_node=params["gpus_per_node"],
        cpus_per_task=params["cpus_per_task"],
        signal_delay_s=params["signal_delay_s"],
        time=params["timeout_min"],
    )
    for line in ("--ntasks-per-node=4", "--gpus-per-node=4", "--signal=USR2@120", "--nodes=1"):
        assert f"#SBATCH {line}" in text, line


# slow (~8 s): one CLI run in a faked one-task SLURM allocation, as submitit starts it
@pytest.mark.slow
def test_inside_a_submitit_slurm_job_lightning_does_not_requeue(tmp_path: Path) -> None:
    slurm = {"SLURM_NTASKS": "1", "SLURM_NTASKS_PER_NODE": "1", "SLURM_JOB_NAME": "train"}
    slurm |= {"SLURM_NODELIST": "localhost", "SLURM_JOB_ID": "7", "SLURM_PROCID": "0"}
    slurm |= {"SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SUBMITIT_EXECUTOR": "slurm"}
    out = run_cli("train", *TINY, f"hydra.run.dir={tmp_path}/run", cwd=tmp_path, env=slurm)
    assert "SLURM auto-requeueing enabled" not in out.stdout + out.stderr  # Lightning's own
    assert _last(tmp_path / "run")["global_step"] == 1


def _submitit_task_pids(sweep: Path) -> list[int]:
    """The running task processes of the submitit local jobs (children of each controller,
    whose pid names the job's folder under ``.submitit``)."""
    pids = []
    for job in (sweep / ".submitit").iterdir():
        if job.name.isdigit():
            kids = Path(f"/proc/{job.name}/task/{job.name}/children")
            pids += [int(p) for p in kids.read_text().split()] if kids.exists() else []
    return pids


# slow (~25 s): 2 DDP jobs of 2 CPU ranks, one after another in one process
@pytest.mark.slow
def test_ddp_jobs_in_a_basic_multirun_each_start_their_own_ranks(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = [*TINY, "trainer=ddp_cpu", "data.samples_per_epoch=16", "model.optimizer.lr=0.01,0.02"]
    run_cli("train", "-m", *args, f"hydra.sweep.dir={sweep}", cwd=tmp_path, timeout=400)
    _assert_jobs(sweep, 2, steps=16 // 2 // 4)  # each rank's share, batch 4
    for i in range(2):  # rank 1 ran this job alone, in its folder (not the sweep again)
        assert (sweep / str(i) / "train_ddp_process_1.log").is_file(), i
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


# slow (~15 s): W&B offline runs, one per job
@pytest.mark.slow
def test_each_job_of_a_multirun_has_its_own_wandb_run(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = [*(o for o in TINY if o != "logger=csv"), "logger=wandb", "logger.wandb.mode=offline"]
    env = {"WANDB_MODE": None, "HOME": str(tmp_path)}
    run_cli("train", "-m", *args, "seed=1,2", f"hydra.sweep.dir={sweep}", cwd=tmp_path, env=env)
    ids = [(sweep / str(i) / "wandb_run_id.txt").read_text().strip() for i in range(2)]
    assert ids[0] != ids[1]
    for i, run_id in enumerate(ids):  # job 1 did not log into job 0's still-open run
        assert list((sweep / str(i) / "wandb").glob(f"offline-run-*-{run_id}")), i


def _two_jobs(tmp_path: Path, launcher: str) -> tuple[Path, Any]:
    """A 2-point training multirun under ``launcher``, each job checked -> (sweep dir, output)."""
    sweep = tmp_path / "sweep"
    args = [*TINY, "model.optimizer.lr=0.01,0.02", f"hydra/launcher={launcher}"]
    out = run_cli("train", "-m", *args, f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    _assert_jobs(sweep, 2, steps=1)
    return sweep, out


# slow (~30 s on 2 cores, each loky worker imports the package and trains)
@pytest.mark.slow
def test_joblib_multirun_runs_two_jobs_in_parallel_processes(tmp_path: Path) -> None:
    sweep, out = _two_jobs(tmp_path, "joblib")
    assert "Joblib.Parallel(n_jobs=2" in out.stdout + out.stderr
    for i in range(2):  # loky caps each worker's threads at cores // n_jobs
        log = (sweep / str(i) / "train.log").read_text()
        assert f"torch threads: {max(1, (os.cpu_count() or 1) // 2)}" in log, log[:500]


# slow (~20 s): two submitit local jobs, each its own process
@pytest.mark.slow
def test_submitit_local_multirun_gives_each_job_its_checkpoint(tmp_path: Path) -> None:
    sweep, out = _two_jobs(tmp_path, "submitit_local")
    assert "schema" not in out.stderr  # Hydra's notice about the preset's name is silenced
    assert len([p for p in (sweep / ".submitit").iterdir() if p.name.isdigit()]) == 2


# slow (~15 s): two CLI runs into the same folder
@pytest.mark.slow
def test_rerun_into_the_same_folder_continues_from_last_ckpt(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_cli("train", *TINY, "trainer.max_epochs=2", f"hydra.run.dir={run}", cwd=tmp_path)
    assert _last(run)["global_step"] == 2
    out = run_cli("train", *TINY, "trainer.max_epochs=3", f"hydra.run.dir={run}", cwd=tmp_path)
    assert f"resume=auto: continuing from {run}/checkpoints/last.ckpt" in out.stdout + out.stderr
    assert _last(run)["global_step"] == 3
    assert sorted(_losses(run)) == [0, 1, 2]  # steps 0-1 once, then step 2: not started over
    out = run_cli("train", *TINY, "trainer.max_epochs=3", "resume=never", f"hydra.run.dir={run}",
                  cwd=tmp_path)  # fmt: skip
    assert "resume=auto" not in out.stdout + out.stderr
    with open(run / "csv" / "metrics.csv", newline="") as f:  # started over: steps 0-2 again
        steps = [int(r["step"]) for r in csv.DictReader(f) if r.get("train/loss")]
    assert steps == [0, 1, 2, 0, 1, 2]


# slow (~20 s): a run killed mid-epoch resumes from the time-based last.ckpt
@pytest.mark.slow
def test_killed_mid_epoch_resumes_from_the_time_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [*TINY, "data.samples_per_epoch=160", f"hydra.run.dir={run}"]  # 40 steps
    every_step = "callbacks.time_checkpoint.train_time_interval.minutes=0"
    cmd = [sys.executable, "-m", "siamlightning.cli.train", *args, every_step]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    last = run / "checkpoints" / "last.ckpt"
    try:
        deadline = time.monotonic() + 240
        while not last.is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    stopped = _last(run)["global_step"]
    assert 0 < stopped < 40 and not (run / "checkpoints" / "epoch000.ckpt").exists()
    out = run_cli("train", *args, cwd=tmp_path)
    assert "resume=auto: continuing from" in out.stdout + out.stderr
    assert _last(run)["global_step"] == 40
    # every step from the checkpoint on (rows the killed process had not flushed are lost)
    assert set(range(stopped, 40)) <= set(_losses(run)) <= set(range(40))


# slow (~40 s): a submitit local job signalled with USR2 is requeued into its folder and resumes
@pytest.mark.slow
def test_submitit_requeue_after_usr2_resumes_from_last_ckpt(tmp_path: Path) -> None:
    # the default, timestamped sweep folder: the requeued job must land in the same one
    args = [*TINY, "trainer.max_epochs=12", "hydra/launcher=submitit_local"]
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1"}
    cmd = [sys.executable, "-m", "siamlightning.cli.train", "-m", *args]
    with open(tmp_path / "out.txt", "w") as out:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    found: list[Path] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if found := list(tmp_path.glob("multirun/*/*/0/checkpoints/last.ckpt")):
                break
            time.sleep(0.05)
        assert found, "the job wrote no last.ckpt"
        last = found[0]
        sweep = last.parents[2]
        pids = _submitit_task_pids(sweep)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGUSR2)  # submitit's preemption / time-limit signal under SLURM
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (tmp_path / "out.txt").read_text()[-3000:]
    assert list(tmp_path.glob("multirun/*/*")) == [sweep]  # requeued into the same sweep
    logs = "".join(p.read_text() for p in (sweep / ".submitit").rglob("*_log.*"))
    assert "Requeued job" in logs, logs[-3000:]
    text = (sweep / "0" / "train.log").read_text()
    assert f"resume=auto: continuing from {last}" in text
    assert _last(sweep / "0")["global_step"] == 12
    losses = _losses(sweep / "0")
    assert sorted(losses) == list(range(12)), sorted(losses)  # no step missing
