"""Shared plumbing for the Hydra entry points: where ``conf/`` lives, environment defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


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


def instantiate_group(node: Any) -> list[Any]:
    """Instantiate every ``_target_`` entry of a config group node (loggers, callbacks)."""
    if not node:
        return []
    from hydra.utils import instantiate

    return [instantiate(v) for v in node.values() if v is not None and "_target_" in v]
