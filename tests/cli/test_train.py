import csv
import json

import numpy as np
import pytest
import torch
from helpers import FAST, run_cli

import siamlightning
from siamlightning.data import open_dataset
from siamlightning.precision import cpu_has_native_bf16


def _losses(run_dir):
    with open(run_dir / "csv" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/loss")]
    return {int(r["step"]): float(r["train/loss"]) for r in rows}


def test_train_then_evaluate_writes_checkpoints_results_and_table(tmp_path):
    out = run_cli(
        "train",
        *FAST,
        "callbacks.pair_images.every_n_steps=5",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
    )
    run = tmp_path / "run"
    assert list((run / "media").glob("pairs_step*.jpg")), "no training pairs were rendered"
    assert (run / "plots" / "synthetic_success.png").is_file()
    for f in (
        "checkpoints/last.ckpt",
        "checkpoints/best.ckpt",
        "checkpoints/epoch000.ckpt",
        "metrics.json",
        "results_table.txt",
    ):
        assert (run / f).is_file(), f
    report = json.loads((run / "metrics.json").read_text())
    assert set(report["synthetic"]) == {"trained", "untrained", "static"}
    auc = {t: r["overall"]["success_auc"] for t, r in report["synthetic"].items()}
    # a box that never moves on the 2 held-out 10-frame sequences: counts of frames x thresholds
    assert auc["static"] == pytest.approx(0.49761904761904757, abs=1e-12)
    assert auc["trained"] > auc["untrained"] > auc["static"], auc  # 10 steps already help
    table = {r.split()[0]: r.split()[1] for r in out.stdout.splitlines() if "synthetic/" in r}
    assert table == {f"synthetic/{t}": f"{a:.3f}" for t, a in auc.items()}
    # the checkpoint is the evaluated network: loaded, it tracks the held-out sequences to the
    # boxes the run wrote (same tracker config, same precision)
    tracker = siamlightning.load_tracker(run / "checkpoints" / "last.ckpt")
    for seq in open_dataset("synthetic", None, seed=900000, num_sequences=2, length=10):
        tracker.init(seq.read_frame(0), seq.boxes[0])
        boxes = [seq.boxes[0], *(tracker.track(seq.read_frame(i)).box for i in range(1, 10))]
        written = np.loadtxt(run / "results/synthetic/trained" / f"{seq.name}.txt", delimiter=",")
        np.testing.assert_allclose(np.array(boxes), written, atol=1e-3)


# slow (22 s): a sample is a pure function of its key whatever process draws it
# (tests/data/pairs/test_sampling.py); this end-to-end check of the losses runs with -m slow
@pytest.mark.slow
def test_same_seed_same_losses_whatever_the_worker_count(tmp_path):
    common = [*FAST, "data.samples_per_epoch=80", "evaluate.enabled=false"]
    run_cli("train", *common, f"hydra.run.dir={tmp_path}/a", cwd=tmp_path)
    run_cli("train", *common, "data.num_workers=2", f"hydra.run.dir={tmp_path}/b", cwd=tmp_path)
    a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert len(a) == 20 and a == b


# slow (32 s): tests/reliability/test_resume_run.py resumes in the run folder in the fast suite
@pytest.mark.slow
def test_resume_continues_with_the_same_steps_and_pairs(tmp_path):
    common = [*FAST, "evaluate.enabled=false", "data.samples_per_epoch=24"]
    run_cli(
        "train", *common, "trainer.max_epochs=2", f"hydra.run.dir={tmp_path}/full", cwd=tmp_path
    )
    run_cli(
        "train", *common, "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}/part", cwd=tmp_path
    )
    ckpt = tmp_path / "part" / "checkpoints" / "last.ckpt"
    run_cli(
        "train",
        *common,
        "trainer.max_epochs=2",
        f"ckpt_path={ckpt}",
        f"hydra.run.dir={tmp_path}/resumed",
        cwd=tmp_path,
    )
    full, resumed = _losses(tmp_path / "full"), _losses(tmp_path / "resumed")
    assert sorted(resumed) == [s for s in sorted(full) if s >= 6]
    for step, loss in resumed.items():
        assert loss == pytest.approx(full[step], rel=1e-5, abs=1e-6)


def test_bf16_mixed_precision_trains_on_cpu(tmp_path):
    # tiny (2 steps of FAST's quarter-width net, 143 px search): emulated bf16 stays cheap
    out = run_cli(
        "train",
        *FAST,
        "trainer.precision=bf16-mixed",
        "data.samples_per_epoch=8",
        "data.search_size=143",
        "evaluate.enabled=false",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
    )
    losses = _losses(tmp_path / "run")
    assert len(losses) == 2 and all(np.isfinite(v) for v in losses.values())
    assert "training precision: bf16-mixed" in out.stdout + out.stderr
    emulated = "this CPU has no native bf16" in out.stderr
    assert emulated == (not cpu_has_native_bf16())


# slow (16 s): the offline decision is tested in tests/loggers/test_wandb, offline W&B files from
# a CLI in tests/sweeps/test_sweep_study
@pytest.mark.slow
def test_wandb_goes_offline_without_credentials(tmp_path):
    env = {"WANDB_MODE": None, "WANDB_API_KEY": None, "HOME": str(tmp_path), "NETRC": None}
    overrides = [o for o in FAST if o != "logger=csv"]
    run_cli(
        "train",
        *overrides,
        "logger=wandb",
        "evaluate.enabled=false",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*")), "no offline W&B run written"


def test_ddp_cpu_two_processes_train_and_evaluate(tmp_path):
    out = run_cli(
        "train",
        *FAST,
        "trainer=ddp_cpu",
        "data.samples_per_epoch=32",
        "evaluate.benchmarks.synthetic.options.num_sequences=3",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
        timeout=400,
    )
    run = tmp_path / "run"
    ckpt = run / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert state["global_step"] == 32 // 2 // 4  # per-rank share of the epoch, batch 4
    report = json.loads((run / "metrics.json").read_text())
    assert report["synthetic"]["trained"]["overall"]["num_sequences"] == 3
    assert not list(tmp_path.glob("outputs")), "a rank wrote outside the shared run dir"
    assert "synthetic/trained" in out.stdout
    siamlightning.load_tracker(ckpt)


def test_bad_config_key_names_it(tmp_path):
    out = run_cli("train", "trainer.max_epoch=3", cwd=tmp_path, check=False)
    assert out.returncode != 0
    assert "max_epoch" in out.stderr


@pytest.mark.slow
def test_quickstart_default_beats_both_baselines(tmp_path):
    run_cli("train", "logger=csv", f"hydra.run.dir={tmp_path}/run", cwd=tmp_path, timeout=1500)
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    auc = {t: r["overall"]["success_auc"] for t, r in report["synthetic"].items()}
    assert auc["trained"] >= max(auc["untrained"], auc["static"]) + 0.15, auc
    if "real" in report:  # ../shared/data/real beside the checkout
        real = {t: r["overall"]["success_auc"] for t, r in report["real"].items()}
        assert real["trained"] > real["untrained"], real


def test_corrupt_frames_are_skipped_and_counted(tmp_path):
    from siamlightning.data import open_dataset
    from siamlightning.data.tools.writers import write_otb

    index = open_dataset("synthetic", None, seed=21, num_sequences=3, length=12)
    root = write_otb(index, tmp_path / "otb")
    for seq in index:  # corrupt every third frame of every sequence
        for k, f in enumerate(sorted((root / seq.name / "img").iterdir())):
            if k % 3 == 1:
                f.write_bytes(b"\xff\xd8 truncated")
    out = run_cli(
        "train",
        *FAST,
        "evaluate.enabled=false",
        "data.samples_per_epoch=48",
        f"data.train_sources=[{{name: otb, root: {root}}}]",
        f"data.val_sources=[{{name: otb, root: {root}}}]",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
    )
    text = out.stdout + out.stderr
    assert "unusable training frames were skipped" in text
    assert "truncated" in text or "cannot be decoded" in text
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
