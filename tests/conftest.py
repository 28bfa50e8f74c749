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

from siamlightning.precision import cpu_has_native_bf16  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NATIVE_BF16 = cpu_has_native_bf16()


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``native_bf16`` marker."""
    config.addinivalue_line(
        "markers",
        "native_bf16: runs bf16 on real-sized inputs; skipped where the CPU emulates bf16",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``native_bf16`` tests on a CPU without AVX512-BF16 / AMX (emulated, ~10x slower)."""
    if NATIVE_BF16:
        return
    skip = pytest.mark.skip(
        reason="this CPU has no native bf16 (AVX512-BF16 / AMX): bf16 is emulated and ~10x "
        "slower; the small bf16 checks still run"
    )
    for item in items:
        if "native_bf16" in item.keywords:
            item.add_marker(skip)


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
