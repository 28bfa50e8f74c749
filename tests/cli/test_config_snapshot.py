"""Every experiment and tracker preset composes to the values it had before issue 9's refactor.

``data/composed_configs.json`` was written by ``scripts/compare/compose_configs.py`` on the
checkout before the configs were split into groups (geometry/, data/augment/, data/pysot,
recipe/). The test composes them again with the same script and compares them after the
translation table below: the one place that lists what was renamed or moved on purpose.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from siamlightning.configs import config_dir

HERE = Path(__file__).resolve().parent
SNAPSHOT = HERE / "data" / "composed_configs.json"
SCRIPT = HERE.parents[1] / "scripts" / "compare" / "compose_configs.py"

# `_target_`s that moved (old dotted path -> new)
MOVED_TARGETS = {
    "siamlightning.data.datamodule.TrackingDataModule": (
        "siamlightning.data.pairs.datamodule.TrackingDataModule"
    ),
    "siamlightning.data.sampling.PairSampler": "siamlightning.data.pairs.sampling.PairSampler",
    "siamlightning.models.backbones.alexnet.AlexNetV1": (
        "siamlightning.models.backbones.siamfc_alexnet.SiamFCAlexNet"
    ),
    "siamlightning.models.backbones.pysot_alexnet.AlexNet": (
        "siamlightning.models.backbones.pysot_alexnet.PysotAlexNet"
    ),
    # helper C: a logger factory lives with the loggers
    "siamlightning.callbacks.wandb.make_wandb_logger": (
        "siamlightning.loggers.wandb.make_wandb_logger"
    ),
}
# (node, old key, new key): one name per crop-geometry quantity
RENAMED_KEYS = [
    ("data", "context", "context_amount"),
    ("tracker", "context", "context_amount"),
    ("tracker", "instance_size", "search_size"),
    ("tracker", "lost_instance_size", "lost_search_size"),
]
# (node, dropped key, the key it always equalled): data's template crop is exemplar_size px
MERGED_KEYS = [("data", "template_size", "exemplar_size")]
# dotted keys that are new and compared through what they feed, not by value: the geometry the
# data and tracker nodes interpolate; the export node (net + tracker) a checkpoint stores
NEW_KEYS = ["geometry", "model.export", "model.compile", "data.masks", "weights"]
# compile: issue 10; masks and eval weights= (a pysot / SiamMask config's released weights): 11
# issue 12: train's resume (auto-resume from the run folder's last.ckpt) and its time-based
# last.ckpt refresh
NEW_KEYS += ["resume", "callbacks.time_checkpoint"]
# issue 12: eval's tracker_file (a sweep's best_tracker.yaml), objective, in-process caches
NEW_KEYS += ["tracker_file", "objective", "cache_net", "cache_frames_mb"]
# issue 13: sequences tracked in lockstep (train's evaluate node; eval's new evaluate node)
NEW_KEYS += ["evaluate.batch_sequences"]
# issue 10: train's glibc malloc mode for CPU training (siamlightning.cpu_malloc)
NEW_KEYS += ["cpu_malloc"]
# (node, key, old value, new value) changed on purpose since the snapshot: issue 10 sizes the
# pysot recipes' loader workers to each rank's share of the cores (was 8 per rank)
CHANGED_VALUES = [("data", "num_workers", 8, "auto")]
# presets added since the snapshot, which has no old values for them (issue 11: foolwood's)
NEW_PRESETS = {f"eval tracker=siammask_{n}" for n in ("davis", "vot", "vot_ld")}
# issue 11: SiamMask training
NEW_PRESETS |= {
    f"train experiment=siammask_{n}" for n in ("base", "synthetic_base", "synthetic", "sharp")
}


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("compose_configs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _retarget(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: MOVED_TARGETS.get(v, v) if k == "_target_" else _retarget(v) for k, v in node.items()
        }
    if isinstance(node, list):
        return [_retarget(v) for v in node]
    return node


def translate(old: dict[str, Any]) -> dict[str, Any]:
    """A config composed before the refactor, in today's names."""
    new = _retarget(copy.deepcopy(old))
    for node, key, kept in MERGED_KEYS:
        if key in new.get(node, {}):
            assert new[node][key] == new[node][kept], f"{node}.{key} != {node}.{kept}"
            del new[node][key]
    for node, key, renamed in RENAMED_KEYS:
        if key in new.get(node, {}):
            new[node][renamed] = new[node].pop(key)
    for node, key, was, now in CHANGED_VALUES:
        if new.get(node, {}).get(key, now) == was:
            new[node][key] = now
    return new


def without_new_keys(cfg: dict[str, Any]) -> dict[str, Any]:
    """``cfg`` without the `NEW_KEYS` (and a node they leave empty)."""
    cfg = copy.deepcopy(cfg)
    for dotted in NEW_KEYS:
        *parents, leaf = dotted.split(".")
        node, chain = cfg, []
        for p in parents:
            chain.append((node, p))
            node = node.get(p, {})
        node.pop(leaf, None)
        if chain and node == {}:
            chain[-1][0].pop(chain[-1][1], None)
    return cfg


@pytest.fixture(scope="module")
def composed() -> dict[str, dict[str, Any]]:
    return _script().all_composed(config_dir())


SNAP = json.loads(SNAPSHOT.read_text())


def test_same_experiments_and_trackers(composed):
    assert sorted(set(composed) - NEW_PRESETS) == sorted(SNAP)
    assert NEW_PRESETS <= set(composed)


@pytest.mark.parametrize("label", sorted(SNAP))
def test_composed_values_unchanged(composed, label):
    assert without_new_keys(composed[label]) == translate(SNAP[label])


def test_translation_can_fail():
    old = SNAP["eval tracker=siamrpn_alex_dwxcorr"]
    changed = copy.deepcopy(old)
    changed["tracker"]["instance_size"] = 255
    assert translate(changed) != translate(old)
    assert translate(old)["tracker"]["search_size"] == 287


def test_experiment_presets_are_deltas():
    # 647 lines in conf/experiment before the refactor (the presets of the snapshot); recipes
    # now carry only what differs. Presets added since (NEW_PRESETS) are not in that count.
    new = {label.split("=", 1)[1] for label in NEW_PRESETS if label.startswith("train ")}
    presets = [p for p in (config_dir() / "experiment").glob("*.yaml") if p.stem not in new]
    lines = sum(len(p.read_text().splitlines()) for p in presets)
    assert lines <= 0.6 * 647, lines
