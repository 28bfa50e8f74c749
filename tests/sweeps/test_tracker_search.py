"""hydra/sweeper=tracker_search end to end: the CLI as a user runs it, on a tiny benchmark."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from helpers import make_checkpoint, run_cli

TINY = ["benchmark.options.num_sequences=2", "benchmark.options.length=8"]
SWEEP_DIR = Path("outputs/tracker_search/synthetic/tiny")


def _trials(sweep: Path) -> list[dict[str, str]]:
    with open(sweep / "trials.csv") as f:
        return list(csv.DictReader(f))


def _study(sweep: Path) -> optuna.Study:
    sweep.mkdir(parents=True, exist_ok=True)  # SQLite needs the folder
    return optuna.load_study(study_name="tracker_search", storage=f"sqlite:///{sweep}/optuna.db")


def test_failed_trial_is_recorded_and_best_tracker_reproduces_its_score(tmp_path: Path) -> None:
    make_checkpoint(tmp_path / "tiny.ckpt")
    # a grid of two points: response_up=0 crashes on the first tracked frame, 16 works
    grid = [
        "-m",
        "hydra/sweeper=tracker_search",
        "hydra.sweeper.sampler=grid",
        "+tracker_overrides.response_up=choice(0,16)",
        "+tracker_overrides.scale_lr=choice(0.4)",
        "+tracker_overrides.scale_step=1.05",
        "ckpt=tiny.ckpt",
        *TINY,
    ]
    run_cli("eval", *grid, cwd=tmp_path)
    sweep = tmp_path / SWEEP_DIR
    rows = {r["response_up"]: r for r in _trials(sweep)}
    assert rows["0"]["state"] == "fail" and "output (H: 0, W: 0)" in rows["0"]["error"]
    assert rows["16"]["state"] == "complete" and rows["16"]["rank"] == "1"
    assert [t.state.name for t in _study(sweep).trials].count("FAIL") == 1

    best = yaml.safe_load((sweep / "best_tracker.yaml").read_text())
    assert best["params"] == {"response_up": 16, "scale_lr": 0.4}
    assert best["tracker"]["response_up"] == 16 and best["objective"] == "success_auc"
    assert best["ckpt"] == str(tmp_path / "tiny.ckpt")
    # the best trial's score from best_tracker.yaml alone (no ckpt=, no tracker overrides)
    run_cli(
        "eval",
        f"tracker_file={sweep / 'best_tracker.yaml'}",
        "hydra.run.dir=again",
        *TINY,
        cwd=tmp_path,
    )
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["synthetic"]["tiny"]["overall"]["success_auc"] == best["score"]
    trial = json.loads((sweep / f"trial_{best['trial']:04d}" / "metrics.json").read_text())
    assert trial["synthetic"]["tiny"]["overall"]["success_auc"] == best["score"]


def _sweep_cmd(n_trials: int) -> list[str]:
    return [
        sys.executable, "-m", "siamlightning.cli.eval", "-m", "hydra/sweeper=tracker_search",
        f"hydra.sweeper.n_trials={n_trials}", "ckpt=tiny.ckpt", *TINY,
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_killed_sweep_continues_and_two_workers_share_the_study(tmp_path: Path) -> None:
    make_checkpoint(tmp_path / "tiny.ckpt")
    sweep = tmp_path / SWEEP_DIR
    proc = subprocess.Popen(
        _sweep_cmd(6), cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 240
    while time.time() < deadline:
        try:
            trials = _study(sweep).trials
            done = sum(t.state.name == "COMPLETE" for t in trials)
            if done >= 3 and "worker" in trials[-1].user_attrs:  # killed during trial 4's job
                break
        except KeyError:  # the study is not created yet
            pass
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _study(sweep).trials
    done = [t.number for t in before if t.state.name == "COMPLETE"]
    assert len(done) >= 3 and len(before) < 6

    # the same command again, as two parallel workers on the one SQLite study
    workers = [
        subprocess.Popen(_sweep_cmd(2), cwd=tmp_path, env=_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]  # fmt: skip
    for w in workers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err.decode()[-3000:]
    after = _study(sweep).trials
    assert [t.number for t in after] == list(range(len(before) + 4))
    states = {t.number: t.state.name for t in after}
    assert all(states[n] == "COMPLETE" for n in done)  # the killed run's trials are all kept
    assert all(states[t.number] == "FAIL" for t in before if t.number not in done)  # stale
    assert all(states[n] == "COMPLETE" for n in range(len(before), len(after)))
    workers_seen = {t.user_attrs["worker"] for t in after if t.number >= len(before)}
    assert len(workers_seen) == 2
    rows = _trials(sweep)
    assert len(rows) == len(after) and all((sweep / f"trial_{n:04d}").is_dir() for n in done)


@pytest.mark.slow
def test_torchrun_shards_each_trial_and_scores_as_one_process(tmp_path: Path) -> None:
    make_checkpoint(tmp_path / "tiny.ckpt")
    three = ["benchmark.options.num_sequences=3", "benchmark.options.length=8"]
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "siamlightning.cli.eval", "-m", "hydra/sweeper=tracker_search",
        "hydra.sweeper.sampler=grid", "+tracker_overrides.window_influence=choice(0.25)",
        "ckpt=tiny.ckpt", *three,
    ]  # fmt: skip
    out = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    best = yaml.safe_load((tmp_path / SWEEP_DIR / "best_tracker.yaml").read_text())
    run_cli("eval", "ckpt=tiny.ckpt", "+tracker_overrides.window_influence=0.25",
            "hydra.run.dir=single", *three, cwd=tmp_path)  # fmt: skip
    single = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert single["synthetic"]["tiny"]["overall"]["success_auc"] == best["score"]
    assert len(list((tmp_path / SWEEP_DIR / "trial_0000").glob("results/*/*/*.txt"))) == 3


@pytest.mark.slow
def test_each_trial_is_its_own_wandb_run_in_the_sweeps_group(tmp_path: Path) -> None:
    make_checkpoint(tmp_path / "tiny.ckpt")
    args = ["-m", "hydra/sweeper=tracker_search", "hydra.sweeper.n_trials=2", "ckpt=tiny.ckpt",
            "logger=wandb", *TINY]  # fmt: skip
    run_cli("eval", *args, cwd=tmp_path, env={"WANDB_MODE": "offline"})
    sweep = tmp_path / SWEEP_DIR
    runs = [list((sweep / f"trial_{n:04d}" / "wandb").glob("offline-run-*")) for n in range(2)]
    assert [len(r) for r in runs] == [1, 1] and runs[0][0].name != runs[1][0].name
    for n, (run,) in enumerate(runs):
        data = next(run.glob("run-*.wandb")).read_bytes()
        assert b"tracker_search/synthetic/tiny" in data and f"trial_{n:04d}".encode() in data
    (summary,) = (sweep / "wandb").glob("offline-run-*")
    assert b"best_tracker.yaml" in next(summary.glob("run-*.wandb")).read_bytes()


@pytest.mark.slow
def test_trials_run_as_submitit_jobs_two_at_a_time(tmp_path: Path) -> None:
    make_checkpoint(tmp_path / "tiny.ckpt")
    args = ["-m", "hydra/sweeper=tracker_search", "hydra/launcher=submitit_local",
            "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4", "ckpt=tiny.ckpt",
            *TINY]  # fmt: skip
    run_cli("eval", *args, cwd=tmp_path)
    sweep = tmp_path / SWEEP_DIR
    rows = _trials(sweep)
    assert sorted(int(r["trial"]) for r in rows) == [0, 1, 2, 3]
    assert all(r["state"] == "complete" and 0 < float(r["score"]) <= 1 for r in rows)
    assert len([p for p in (sweep / ".submitit").iterdir() if p.name.isdigit()]) == 4
