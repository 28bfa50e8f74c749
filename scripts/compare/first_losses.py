"""Train an experiment for a few steps with its seed and print the per-step training losses as JSON.

A refactor that must not change behaviour is checked by running this before and after it:

    python scripts/compare/first_losses.py --experiment quickstart --steps 20 > before.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def first_losses(experiment: str, steps: int, extra: list[str]) -> list[float]:
    """Run ``siamlightning-train`` for ``steps`` steps (no validation, no scoring); the losses."""
    with tempfile.TemporaryDirectory() as run:
        cmd = [
            sys.executable,
            "-m",
            "siamlightning.cli.train",
            f"experiment={experiment}",
            "logger=csv",
            f"++trainer.max_steps={steps}",
            "++trainer.log_every_n_steps=1",
            "++trainer.limit_val_batches=0",
            "++trainer.precision=32-true",
            "evaluate.enabled=false",
            "~callbacks.pair_images",
            f"hydra.run.dir={run}",
            *extra,
        ]
        env = {**os.environ, "WANDB_MODE": "disabled"}
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        rows = list(csv.DictReader((Path(run) / "csv" / "metrics.csv").open()))
    key = "train/loss_step" if "train/loss_step" in rows[0] else "train/loss"
    return [float(r[key]) for r in rows if r.get(key)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="quickstart")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()
    losses = first_losses(args.experiment, args.steps, args.overrides)
    json.dump({"experiment": args.experiment, "losses": losses}, sys.stdout)
    sys.stdout.write("\n")
