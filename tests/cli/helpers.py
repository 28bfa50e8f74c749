"""Run the console entry points as subprocesses, exactly as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch


def run_cli(
    app: str,
    *overrides: str,
    cwd: Path,
    timeout: float = 300,
    env: dict | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """``python -m siamlightning.cli.<app> overrides...`` with a quiet, offline environment."""
    full_env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "NO_ALBUMENTATIONS_UPDATE": "1",
        "HYDRA_FULL_ERROR": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        # a W&B service an in-process test started is not the child's
        "WANDB_SERVICE": None,
    }
    full_env.update(env or {})
    for k, v in list(full_env.items()):
        if v is None:
            del full_env[k]
    out = subprocess.run(
        [sys.executable, "-m", f"siamlightning.cli.{app}", *overrides],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and out.returncode != 0:
        raise AssertionError(
            f"{app} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-5000:]}"
        )
    return out


# small, fast settings shared by the CLI tests (a quarter-width AlexNet keeps steps cheap)
FAST = [
    "logger=csv",
    "data.num_workers=0",
    "data.batch_size=4",
    "data.samples_per_epoch=40",
    "data.val_samples=8",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "model.net.backbone.width=0.25",
    "evaluate.progress=false",
    "evaluate.benchmarks.synthetic.options.num_sequences=2",
    "evaluate.benchmarks.synthetic.options.length=10",
    "~evaluate.benchmarks.real",
    "data.train_sources.0.options.num_sequences=8",
    "data.val_sources.0.options.num_sequences=2",
]


# a quarter-width SiamFC as siamlightning-train exports it (network and tracker configs)
NET = {
    "_target_": "siamlightning.models.siamfc.SiamFCNet",
    "backbone": {
        "_target_": "siamlightning.models.backbones.siamfc_alexnet.SiamFCAlexNet",
        "width": 0.25,
    },
}
TRACKER = {"_target_": "siamlightning.tracking.siamfc.SiamFCTracker", "scale_num": 3}


def make_checkpoint(path: Path) -> Path:
    """A small SiamFC checkpoint in the format siamlightning-train writes (state_dict + export)."""
    from siamlightning.lit.siamfc import SiamFCModule
    from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
    from siamlightning.models.siamfc import SiamFCNet

    torch.manual_seed(0)
    module = SiamFCModule(
        net=SiamFCNet(backbone=SiamFCAlexNet(width=0.25)), optimizer=torch.optim.SGD
    )
    torch.save(
        {"state_dict": module.state_dict(), "siamlightning": {"net": NET, "tracker": TRACKER}}, path
    )
    return path
