"""Exported graphs (onnxruntime) track the real Crossing sequence as PyTorch does (fp32).

Boxes within 0.01 px, scores within 1e-5, SiamMask masks within 1e-3; the graphs take batch 1
(tracking) and 3 (`check_export`). SiamFC (the quick-start net) and SiamRPN alex run in CI;
r50, mobilev2, LT (lost mode forced: the 831 search runs) and SiamMask are slow.
"""

from __future__ import annotations

import pytest
import torch
from export_helpers import assert_same_tracks, crossing, export_parity
from hydra.utils import instantiate
from omegaconf import OmegaConf

from siamlightning.configs import compose
from siamlightning.tracking.load import build_pysot_model, load_pysot_net, pysot_tracker_config

pytest.importorskip("onnxruntime")


def _pysot(name: str, tmp_path):
    """A random-weight pysot layout, saved and loaded as pysot weights are."""
    torch.manual_seed(0)
    state = build_pysot_model(name).state_dict()
    torch.save(state, tmp_path / "model.pth")
    return load_pysot_net(name, tmp_path / "model.pth")


def test_siamfc_quickstart_net_tracks_as_pytorch(tmp_path, real_data):
    cfg = compose("train", ["experiment=quickstart"])
    torch.manual_seed(0)
    net = instantiate(cfg.model.net).eval()
    tracker = OmegaConf.to_container(cfg.tracker, resolve=True)
    frames, box = crossing(real_data, 8)
    res = export_parity(net, tracker, tmp_path / "siamfc", frames, box)
    assert_same_tracks(res)
    assert res["check"].worst_relative() < 1e-5
    assert type(res["tracker"]).__name__ == "SiamFCTracker"
    assert res["tracker"].net.output_kind == "response"


def test_siamrpn_alex_tracks_as_pytorch(tmp_path, real_data):
    net, tracker = _pysot("siamrpn_alex_dwxcorr", tmp_path)
    frames, box = crossing(real_data, 8)
    res = export_parity(net, tracker, tmp_path / "alex", frames, box)
    assert_same_tracks(res)
    assert res["check"].worst_relative() < 1e-5
    # the tracker moved: parity is not two trackers standing still
    assert abs(res["eager"]["boxes"][-1] - box).max() > 0.5


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["siamrpn_r50_l234_dwxcorr", "siamrpn_mobilev2_l234_dwxcorr", "siammask_r50_l3"]
)
def test_pysot_layouts_track_as_pytorch(name, tmp_path, real_data):
    net, tracker = _pysot(name, tmp_path)
    frames, box = crossing(real_data, 20)
    res = export_parity(net, tracker, tmp_path / name, frames, box)
    assert_same_tracks(res)
    assert res["check"].worst_relative() < 1e-5
    if name.startswith("siammask"):
        assert res["exported"]["masks"].shape == (19, 240, 360)


@pytest.mark.slow
def test_lt_tracker_in_lost_mode_tracks_as_pytorch(tmp_path, real_data):
    net, tracker = _pysot("siamrpn_r50_l234_dwxcorr_lt", tmp_path)
    tracker["confidence_low"] = tracker["confidence_high"] = 1.0  # lost from frame 1 on: 831
    frames, box = crossing(real_data, 5)
    res = export_parity(net, tracker, tmp_path / "lt", frames, box)
    assert sorted(res["tracker"].net.spec["files"]["track"]) == [255, 831]
    assert res["tracker"].lost
    assert_same_tracks(res)


@pytest.mark.slow
def test_siammask_without_refine_head_exports_the_head_rows(tmp_path, real_data):
    """SiamMask's base stage (refine_head null): the mask graph returns MaskCorr's 63 x 63 row."""
    torch.manual_seed(0)
    net = instantiate(compose("train", ["experiment=siammask_base"]).model.net).eval()
    assert net.refine_head is None
    tracker = pysot_tracker_config("siammask_r50_l3")
    frames, box = crossing(real_data, 10)
    res = export_parity(net, tracker, tmp_path / "base", frames, box)
    assert res["tracker"].net.mask_size == 63 and not res["tracker"].net.has_refine
    assert res["tracker"].net.spec["inputs"]["mask"] == ["corr", "cells"]
    assert "mask" in res["check"].max_abs_diff
    assert_same_tracks(res)
