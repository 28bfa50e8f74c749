"""Shared plumbing for the Hydra entry points: where ``conf/`` lives, environment defaults."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """The Hydra config tree: ``siamlightning/conf`` in a wheel, else ``<checkout>/conf``."""
    here = Path(__file__).resolve().parent.parent  # .../siamlightning
    for cand in (here / "conf", here.parent.parent / "conf"):
        if (cand / "train.yaml").is_file():
            return cand
    raise FileNotFoundError(
        f"siamlightning config tree not found (looked in {here / 'conf'} and "
        f"{here.parent.parent / 'conf'}); reinstall the package"
    )


def setup_environment() -> None:
    """Quiet, offline-safe defaults set before heavy imports (albumentations, W&B)."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    os.environ.setdefault("WANDB_SILENT", "true")
