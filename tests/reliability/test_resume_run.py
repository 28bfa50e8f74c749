"""Issue 8 item 7: a run resumed in its own folder stays one run.

``ckpt_path=<run>/checkpoints/last.ckpt`` (with or without ``hydra.run.dir=<run>``) keeps
writing ``last.ckpt`` (no ``last-v1.ckpt``), appends to ``csv/metrics.csv``, and resumes the
same W&B run id; ``last.ckpt`` and ``epochNNN.ckpt`` are written every epoch, so a second crash
loses at most one epoch.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from helpers import run_cli

TINY = [
    "logger=csv",
    "evaluate.enabled=false",
    "data.num_workers=0",
    "data.batch_size=4",
    "data.samples_per_epoch=8",  # 2 steps per epoch
    "data.val_samples=4",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "model.net.backbone.width=0.25",
    "data.train_sources.0.options.num_sequences=4",
    "data.val_sources.0.options.num_sequences=2",
]


def _rows(run: Path) -> list[dict[str, str]]:
    with open(run / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_resume_in_the_run_folder_keeps_last_ckpt_metrics_and_epochs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_cli("train", *TINY, "trainer.max_epochs=2", f"hydra.run.dir={run}", cwd=tmp_path)
    assert len([r for r in _rows(run) if r["train/loss"]]) == 4
    # no hydra.run.dir: a checkpoint inside a run folder resumes in that folder
    ckpt = run / "checkpoints" / "last.ckpt"
    run_cli("train", *TINY, "trainer.max_epochs=4", f"ckpt_path={ckpt}", cwd=tmp_path)
    assert not (tmp_path / "outputs").exists()
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["best.ckpt", *(f"epoch{e:03d}.ckpt" for e in range(4)), "last.ckpt"]
    rows = _rows(run)
    losses = [(int(r["step"]), int(r["epoch"])) for r in rows if r["train/loss"]]
    assert losses == [(s, s // 2) for s in range(8)]  # every step of the 4 epochs, once
    assert sorted(int(r["epoch"]) for r in rows if r["val/loss"]) == [0, 1, 2, 3]
    last = torch.load(ckpt, map_location="cpu", weights_only=False)
    assert (last["epoch"], last["global_step"]) == (3, 8)  # updated by the last epoch
    # the documented explicit form resumes there too and keeps writing last.ckpt
    args = [f"hydra.run.dir={run}", f"ckpt_path={ckpt}", "trainer.max_epochs=5"]
    run_cli("train", *TINY, *args, cwd=tmp_path)
    assert not list((run / "checkpoints").glob("*-v*.ckpt"))
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["global_step"] == 10
    assert len([r for r in _rows(run) if r["train/loss"]]) == 10


def test_wandb_run_id_is_kept_in_the_run_folder(tmp_path: Path, monkeypatch) -> None:
    from siamlightning.loggers.wandb import make_wandb_logger

    monkeypatch.delenv("WANDB_MODE", raising=False)
    first = make_wandb_logger(mode="offline", save_dir=str(tmp_path))
    run_id = (tmp_path / "wandb_run_id.txt").read_text().strip()
    assert len(run_id) == 8 and first.version == run_id  # the W&B run id, public
    again = make_wandb_logger(mode="offline", save_dir=str(tmp_path))  # the resumed process
    assert again.version == run_id and again._wandb_init["resume"] == "allow"  # no public API
    other = make_wandb_logger(mode="offline", save_dir=str(tmp_path / "other"))
    assert other.version != run_id


def test_resume_dir_only_for_a_checkpoint_inside_a_run_folder(tmp_path: Path) -> None:
    from siamlightning.loggers.resume import resume_run_dir

    (tmp_path / "run" / ".hydra").mkdir(parents=True)
    inside = str(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert resume_run_dir(inside, "new") == str(tmp_path / "run")
    assert resume_run_dir(str(tmp_path / "elsewhere" / "checkpoints" / "last.ckpt"), "new") == "new"
    assert resume_run_dir(str(tmp_path / "run" / "last.ckpt"), "new") == "new"
    assert resume_run_dir(None, "new") == "new" and resume_run_dir("last", "new") == "new"
