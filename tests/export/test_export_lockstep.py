"""An exported tracker in batched evaluation: K sequences' crops in one onnxruntime call give the
boxes of PyTorch tracking them one by one (``siamlightning-eval ckpt=<export dir>``:
tests/cli/test_eval_layouts.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from siamlightning.data import open_dataset
from siamlightning.evaluation.ope import run_ope
from siamlightning.export import export_tracker
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.models.siamfc import SiamFCNet
from siamlightning.tracking.load import build_tracker, load_exported_net
from siamlightning.tracking.siamfc import SiamFCTracker

pytest.importorskip("onnxruntime")


def test_exported_net_tracks_sequences_in_lockstep(tmp_path):
    torch.manual_seed(0)
    net = SiamFCNet(backbone=SiamFCAlexNet(width=0.125)).eval()
    cfg = {"_target_": "siamlightning.tracking.siamfc.SiamFCTracker", "search_size": 199}
    export_tracker(net, cfg, tmp_path / "fc")
    index = open_dataset("synthetic", None, seed=31, num_sequences=3, length=5)
    eager = run_ope(lambda: SiamFCTracker(net=net, search_size=199), index, progress=False)
    graphs, tracker_cfg = load_exported_net(tmp_path / "fc", threads=1)  # as siamlightning-eval
    calls, forward = [], graphs.forward
    graphs.forward = lambda k, x: calls.append(x.shape[0]) or forward(k, x)
    factory = lambda: build_tracker(graphs, tracker_cfg)  # noqa: E731
    batched = run_ope(factory, index, progress=False, batch_sequences=3)
    assert max(calls) == 9  # 3 sequences x 3 scales in one onnxruntime call
    for name in index.names:
        np.testing.assert_allclose(batched[name].boxes, eager[name].boxes, atol=1e-2, rtol=0)
