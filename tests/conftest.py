"""Shared fixtures: quiet environment, small thread pools, the real-sequence folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HYDRA_FULL_ERROR", "1")
# index caches of readers that opt in (CACHE = True) go to a throwaway folder, not ~/.cache
os.environ.setdefault(
    "SIAMLIGHTNING_CACHE_DIR", tempfile.mkdtemp(prefix="siamlightning-test-cache-")
)

import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]


def real_data_dir() -> Path | None:
    """../shared/data/real beside the checkout (or $SIAMLIGHTNING_REAL_DATA), None if absent."""
    env = os.environ.get("SIAMLIGHTNING_REAL_DATA")
    cand = Path(env) if env else REPO.parent / "shared" / "data" / "real"
    return cand if cand.is_dir() else None


@pytest.fixture
def real_data() -> Path:
    """The real sequences folder; skips the test with a reason when it is absent."""
    path = real_data_dir()
    if path is None:
        pytest.skip(
            "real sequences not found: ../shared/data/real is absent "
            "(set SIAMLIGHTNING_REAL_DATA to its location)"
        )
    return path
