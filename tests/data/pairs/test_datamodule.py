"""TrackingDataModule's worker count: an int as given, ``auto`` = this process's share of cores."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch

from siamlightning.data.pairs.datamodule import TrackingDataModule
from siamlightning.errors import ConfigError

SOURCES = [{"name": "synthetic", "options": {"num_sequences": 2, "length": 8}}]


def _dm(num_workers) -> TrackingDataModule:
    return TrackingDataModule(train_sources=SOURCES, num_workers=num_workers)


def test_an_int_is_used_as_given():
    assert _dm(3).worker_count() == 3 and _dm(0).worker_count() == 0


@pytest.mark.parametrize("bad", [-1, "eight", 1.5])
def test_a_bad_value_names_the_key_and_value(bad):
    with pytest.raises(ConfigError, match=f"data.num_workers .*got {bad!r}"):
        _dm(bad)


def test_auto_splits_unbound_cores_over_the_node_ranks(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    dm = _dm("auto")
    assert dm.worker_count() == 16  # no trainer: one process
    dm.trainer = SimpleNamespace(num_devices=8)
    assert dm.worker_count() == 2  # 8 GPUs on 16 cores: 2 each
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun's count wins
    assert dm.worker_count() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert dm.worker_count() == 1  # never 0 with auto


def test_auto_keeps_cores_a_launcher_bound_this_rank_to(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {4, 5}, raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")
    assert _dm("auto").worker_count() == 2


def test_the_loader_gets_the_resolved_count(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    dm = _dm("auto")
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert loader.num_workers == 2 and loader.persistent_workers


def test_masks_reach_the_train_and_val_batches():
    dm = TrackingDataModule(
        train_sources=SOURCES, val_sources=SOURCES, num_workers=0, batch_size=4, masks=True
    )
    dm.setup("fit")
    assert dm.train_set.masks and dm.val_set.masks
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        batch = next(iter(loader))
        assert batch["search_mask"].shape == (4, 1, 239, 239) and batch["has_mask"].all()
        assert batch["search_mask"].dtype == torch.uint8 and int(batch["search_mask"].sum()) > 0
    off = TrackingDataModule(train_sources=SOURCES, num_workers=0, batch_size=4)
    off.setup("fit")
    assert "search_mask" not in next(iter(off.train_dataloader()))
