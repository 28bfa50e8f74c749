"""Issue 8 item 0: ``precision: auto`` resolves to what the machine runs natively.

The capability probes (`cpu_has_native_bf16`, `cuda_supports_bf16`) are mocked both ways, so
these cases give the same answers on an AVX2 laptop, an AMX server and a GPU machine.
"""

from __future__ import annotations

import logging
import warnings

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from siamlightning import precision as P
from siamlightning.configs import compose, config_dir
from siamlightning.tracking.load import build_tracker, load_tracker

TINY_NET = {
    "_target_": "siamlightning.models.siamfc.SiamFCNet",
    "backbone": {
        "_target_": "siamlightning.models.backbones.siamfc_alexnet.SiamFCAlexNet",
        "width": 0.1,
    },
}


@pytest.fixture
def machine(monkeypatch):
    """Set the probes: ``machine(cpu_bf16=..., gpu_bf16=...)``; resets the once-a-process state."""
    monkeypatch.setattr(P, "_warned", set())
    monkeypatch.setattr(P, "_logged", set())

    def set_caps(*, cpu_bf16: bool, gpu_bf16: bool = False, cuda: bool = False) -> None:
        monkeypatch.setattr(P, "cpu_has_native_bf16", lambda: cpu_bf16)
        monkeypatch.setattr(P, "cuda_supports_bf16", lambda: gpu_bf16)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)

    return set_caps


@pytest.mark.parametrize(
    ("cpu_bf16", "trainer", "tracker"), [(True, "bf16-mixed", "bf16"), (False, "32-true", "fp32")]
)
def test_auto_on_cpu_follows_native_bf16(machine, cpu_bf16, trainer, tracker):
    machine(cpu_bf16=cpu_bf16)
    assert P.resolve_trainer_precision("auto", "cpu") == trainer
    assert P.resolve_tracker_precision("auto", "cpu") == tracker
    # accelerator=auto without a GPU trains on the CPU
    assert P.resolve_trainer_precision("auto", "auto") == trainer


@pytest.mark.parametrize(
    ("gpu_bf16", "trainer", "tracker"), [(True, "bf16-mixed", "bf16"), (False, "16-mixed", "fp16")]
)
def test_auto_on_gpu_is_bf16_where_supported_else_fp16(machine, gpu_bf16, trainer, tracker):
    machine(cpu_bf16=False, gpu_bf16=gpu_bf16, cuda=True)
    for accelerator in ("gpu", "cuda", "auto"):
        assert P.resolve_trainer_precision("auto", accelerator) == trainer
    assert P.resolve_tracker_precision("auto", "cuda:0") == tracker
    assert P.resolve_tracker_precision("auto", "cpu") == "fp32"  # the tracker's own device


def test_explicit_bf16_without_native_support_warns_once_and_is_kept(machine):
    machine(cpu_bf16=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert P.resolve_trainer_precision("bf16-mixed", "cpu") == "bf16-mixed"
        assert P.resolve_trainer_precision("bf16-true", "cpu") == "bf16-true"
        assert P.resolve_tracker_precision("bf16", "cpu") == "bf16"
    msgs = [str(w.message) for w in caught if issubclass(w.category, P.EmulatedPrecisionWarning)]
    assert len(msgs) == 1, msgs
    assert "no native bf16" in msgs[0] and "emulated" in msgs[0] and "precision=auto" in msgs[0]


def test_explicit_values_pass_through_without_a_warning(machine):
    machine(cpu_bf16=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert P.resolve_trainer_precision("bf16-mixed", "cpu") == "bf16-mixed"
        assert P.resolve_tracker_precision("bf16", "cpu") == "bf16"
    machine(cpu_bf16=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert P.resolve_trainer_precision("32-true", "cpu") == "32-true"
        assert P.resolve_trainer_precision("bf16-mixed", "gpu") == "bf16-mixed"
        assert P.resolve_tracker_precision("fp16", "cpu") == "fp16"


def test_a_bad_tracker_precision_names_the_value():
    with pytest.raises(ValueError, match="auto, fp32, bf16 or fp16, got 'fp64'"):
        P.resolve_tracker_precision("fp64", "cpu")


@pytest.mark.parametrize(("cpu_bf16", "expected"), [(True, "bf16"), (False, "fp32")])
def test_tracker_from_an_auto_checkpoint_resolves_on_load(machine, tmp_path, cpu_bf16, expected):
    torch.manual_seed(0)
    net = instantiate(OmegaConf.create(TINY_NET))
    tracker_cfg = OmegaConf.to_container(compose("eval", ["tracker=siamfc"]).tracker, resolve=True)
    assert tracker_cfg["precision"] == "auto"
    ckpt = tmp_path / "last.ckpt"
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    export = {"net": TINY_NET, "tracker": tracker_cfg}
    torch.save({"siamlightning": export, "state_dict": state}, ckpt)
    machine(cpu_bf16=cpu_bf16)
    assert load_tracker(ckpt).precision == expected
    assert build_tracker(net, tracker_cfg).precision == expected
    assert load_tracker(ckpt, precision="fp32").precision == "fp32"  # an override still wins


def test_training_resolves_and_logs_the_precision_once(machine, caplog):
    from siamlightning.cli.train import trainer_precision

    machine(cpu_bf16=False)
    cfg = OmegaConf.create({"accelerator": "cpu", "precision": "auto"})
    with caplog.at_level(logging.INFO, logger="siamlightning.precision"):
        assert trainer_precision(cfg) == "32-true"
        assert trainer_precision(cfg) == "32-true"
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["training precision: 32-true (from auto)"]


@pytest.mark.parametrize("trainer", ["cpu", "ddp_cpu", "gpu", "ddp"])
def test_default_experiment_and_trainer_presets_say_auto(trainer):
    cfg = compose("train", [f"trainer={trainer}"])
    assert cfg.trainer.precision == "auto" and cfg.tracker.precision == "auto"


TRACKERS = sorted(p.stem for p in (config_dir() / "tracker").glob("*.yaml"))


@pytest.mark.parametrize("tracker", TRACKERS)
def test_every_tracker_preset_says_auto(tracker):
    assert compose("train", [f"tracker={tracker}"]).tracker.precision == "auto"
