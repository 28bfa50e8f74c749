"""Self-describing checkpoints: a Hydra-built module fitted by a plain Trainer loads as tracker."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from hydra.utils import instantiate

import siamlightning
from siamlightning.configs import compose
from siamlightning.lit.common import EXPORT_KEY, tracker_export

TINY = [
    "experiment=quickstart",
    "model.net.backbone.width=0.25",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.samples_per_epoch=4",
    "data.val_samples=2",
    "data.train_sources.0.options.num_sequences=2",
    "data.train_sources.0.options.length=10",
    "data.val_sources.0.options.num_sequences=1",
    "data.val_sources.0.options.length=10",
]


def test_plain_trainer_checkpoint_loads_as_a_tracker(tmp_path):
    cfg = compose("train", TINY)
    L.seed_everything(0)
    module, datamodule = instantiate(cfg.model), instantiate(cfg.data)
    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        accelerator="cpu",
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=datamodule)
    assert trainer.global_step == 2
    ckpt = tmp_path / "plain.ckpt"
    trainer.save_checkpoint(ckpt)
    stored = torch.load(ckpt, map_location="cpu", weights_only=False)[EXPORT_KEY]
    assert stored["net"]["backbone"]["width"] == 0.25
    assert stored["tracker"]["_target_"] == "siamlightning.tracking.siamfc.SiamFCTracker"

    tracker = siamlightning.load_tracker(ckpt)
    for name, p in tracker.net.state_dict().items():  # the trained weights, not a fresh net
        torch.testing.assert_close(p, module.net.state_dict()[name].cpu(), rtol=0, atol=0)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (3, 120, 160, 3), dtype=np.uint8)
    tracker.init(frames[0], [60, 40, 30, 20])
    boxes = [tracker.track(f).box for f in frames[1:]]
    assert len(boxes) == 2 and all(np.isfinite(b).all() and b[2] > 0 for b in boxes)


def test_export_needs_configs_with_a_target():
    net = {"_target_": "siamlightning.models.siamfc.SiamFCNet"}
    with pytest.raises(ValueError, match="tracker= must be a config with a _target_"):
        tracker_export(net=net, tracker={"scale_num": 3})
    out = tracker_export(net=net, tracker={"_target_": "x.Y", "scale_num": 3})
    assert out == {"net": net, "tracker": {"_target_": "x.Y", "scale_num": 3}}
