"""siamlightning-export: the command, its three formats, pysot weights and its errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import siamlightning
from siamlightning.cli.export import run
from siamlightning.configs import compose
from siamlightning.errors import ConfigError
from siamlightning.tracking.load import build_pysot_model

# the quarter-width SiamFC checkpoint of the CLI tests (tests/cli/helpers.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from helpers import TRACKER, make_checkpoint


def _cli(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "disabled"}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "siamlightning.cli.export", *overrides, f"hydra.run.dir={cwd}/h"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_bad_inputs_are_clear_errors(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.ckpt")

    def cfg(*overrides):
        return compose("export", [f"ckpt={ckpt}", f"out={tmp_path}/out", *overrides])

    with pytest.raises(ConfigError, match=r"format=tflite is not one of \['onnx'"):
        run(cfg("format=tflite"), base=tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty; pass overwrite=true"):
        run(cfg(), base=tmp_path)
    assert (tmp_path / "out" / "keep.txt").exists()
    with pytest.raises(FileNotFoundError, match=r"nope\.ckpt does not exist"):
        run(cfg("ckpt=nope.ckpt", "out=other"), base=tmp_path)
    with pytest.raises(ValueError, match="unknown pysot config"):
        run(cfg("ckpt=siamrpn_nothing", "weights=w.pth", "out=third"), base=tmp_path)


@pytest.mark.slow
def test_cli_writes_each_format_that_tracks_as_pytorch(tmp_path):
    ckpt = make_checkpoint(tmp_path / "m.ckpt")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(4)]
    box = [60.0, 40.0, 30.0, 24.0]
    ref = siamlightning.load_tracker(ckpt, precision="fp32")
    ref.init(frames[0], box)
    want = [ref.track(f).box for f in frames[1:]]
    for fmt in ("onnx", "torchscript", "export"):
        out = _cli(f"ckpt={ckpt}", f"format={fmt}", f"out=x_{fmt}", cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-3000:]
        assert f"max |{fmt} - torch|" in out.stdout
        spec = yaml.safe_load((tmp_path / f"x_{fmt}" / "tracker.yaml").read_text())
        assert spec["format"] == fmt and spec["source"] == {"checkpoint": str(ckpt)}
        assert spec["net"]["stride"] == 8 and spec["tracker"]["_target_"] == TRACKER["_target_"]
        tracker = siamlightning.load_tracker(tmp_path / f"x_{fmt}")
        tracker.init(frames[0], box)
        got = [tracker.track(f).box for f in frames[1:]]
        np.testing.assert_allclose(got, want, atol=0.01, rtol=0)
    bad = _cli(f"ckpt={ckpt}", "format=tflite", "out=y", cwd=tmp_path)
    assert bad.returncode == 1 and "error: format=tflite is not one of" in bad.stderr
    again = _cli(f"ckpt={ckpt}", "out=x_onnx", cwd=tmp_path)
    assert again.returncode == 1 and "pass overwrite=true" in again.stderr


@pytest.mark.slow
def test_cli_exports_pysot_weights(tmp_path):
    torch.manual_seed(0)
    torch.save(build_pysot_model("siamrpn_r50_l234_dwxcorr").state_dict(), tmp_path / "model.pth")
    out = _cli("ckpt=siamrpn_r50_l234_dwxcorr", "weights=model.pth", "out=r50", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    spec = yaml.safe_load((tmp_path / "r50" / "tracker.yaml").read_text())
    assert spec["source"]["config"] == "siamrpn_r50_l234_dwxcorr"
    assert spec["kernels"]["count"] == 6 and spec["tracker"]["crop_convention"] == "pysot"
    tracker = siamlightning.load_tracker(tmp_path / "r50")
    assert type(tracker).__name__ == "SiamRPNTracker" and tracker.net.anchor_num == 5
