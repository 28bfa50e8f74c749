"""foolwood/SiamMask weight files: the key map both ways, loading, the errors, the presets.

``data/foolwood_siammask_keys.txt`` is foolwood's own ``Custom().state_dict()`` (keys and
shapes, dumped from its code at a2b3ce3); files here are written in that layout by our reverse
map. The full comparison against foolwood's model and tracker code is
``scripts/compare/foolwood_siammask_parity.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from siamlightning.models.pysot_weights import build_pysot_net
from siamlightning.models.siammask_weights import (
    ANCHORS,
    FOOLWOOD_CONFIGS,
    foolwood_key,
    load_siammask_weights,
    ours_key,
    to_foolwood_state_dict,
)
from siamlightning.tracking.load import load_tracker, pysot_config_names, pysot_tracker_config
from siamlightning.tracking.siammask import SiamMaskTracker

KEYS = Path(__file__).parent / "data" / "foolwood_siammask_keys.txt"
# spec siammask-and-vos §2: seg_thr, penalty_k, window_influence, lr of config_{davis,vot,vot18}
PUBLISHED = {
    "siammask_davis": (0.35, 0.04, 0.40, 1.0),
    "siammask_vot": (0.30, 0.04, 0.42, 0.25),
    "siammask_vot_ld": (0.15, 0.10, 0.41, 0.32),
}


def _foolwood_keys() -> dict[str, tuple[int, ...]]:
    rows = [r.split("\t") for r in KEYS.read_text().splitlines() if not r.startswith("#")]
    return {k: tuple(json.loads(shape)) for k, shape in rows}


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_pysot_net("siammask_r50_l3").eval()


def _foolwood_file(net, *, module=True, batches=True) -> dict[str, torch.Tensor]:
    """foolwood's layout (DataParallel ``module.`` prefix unless ``module=False``)."""
    state = to_foolwood_state_dict(net.state_dict())
    prefix = "module." if module else ""
    return {
        prefix + k: v for k, v in state.items() if batches or not k.endswith("num_batches_tracked")
    }


def test_reverse_map_gives_foolwoods_keys_and_shapes(net):
    ours = net.state_dict()
    theirs = {k: tuple(v.shape) for k, v in to_foolwood_state_dict(ours).items()}
    assert theirs == _foolwood_keys() and len(theirs) == 356
    assert list(theirs) == list(_foolwood_keys())  # same order too: a 1:1 rename
    assert all(ours_key(foolwood_key(k)) == k for k in ours)
    assert foolwood_key("neck.downsample.downsample.1.running_var") == (
        "features.downsample.downsample.1.running_var"
    )
    assert ours_key("mask_model.mask.head.3.weight") == "mask_head.head.3.weight"
    assert ours_key("features.layer1.0.conv1.weight") is None  # a backbone-only file's key
    with pytest.raises(ValueError, match="no foolwood/SiamMask name"):
        foolwood_key("head.0.weight")


def test_presets_have_foolwoods_published_values():
    assert set(FOOLWOOD_CONFIGS) <= set(pysot_config_names())
    for name, (thr, k, wi, lr) in PUBLISHED.items():
        cfg = pysot_tracker_config(name)
        got = (cfg["mask_threshold"], cfg["penalty_k"], cfg["window_influence"], cfg["lr"])
        assert got == (thr, k, wi, lr), name
        assert cfg["crop_convention"] == "siammask" and cfg["_target_"].endswith("SiamMaskTracker")
        assert (cfg["search_size"], cfg["base_size"], cfg["exemplar_size"]) == (255, 8, 127)
    assert pysot_tracker_config("siammask_r50_l3")["crop_convention"] == "pysot"


def test_foolwood_file_round_trip_through_load_tracker(net, tmp_path):
    """foolwood's checkpoint layout (train_siammask_refine.py saves model.module.state_dict(),
    no ``module.``), without num_batches_tracked (files of torch < 0.4.1)."""
    anchors = ANCHORS | {"round_dight": 0}
    state = _foolwood_file(net, module=False, batches=False)
    ckpt = {"epoch": 20, "arch": "Custom", "state_dict": state, "best_acc": 0}
    path = tmp_path / "SiamMask_DAVIS.pth"
    torch.save(ckpt | {"anchor_cfg": anchors}, path)
    t = load_tracker("siammask_davis", weights=path)
    assert isinstance(t, SiamMaskTracker) and t.crop_convention == "siammask"
    neck = t.net.neck.downsample  # foolwood's ResDownS rule: [4:-4] below 20 px
    assert neck.crop_margin == 4 and neck(torch.zeros(1, 1024, 17, 17)).shape[-1] == 9
    assert (t.mask_threshold, t.penalty_k, t.window_influence, t.lr) == PUBLISHED["siammask_davis"]
    loaded = t.net.state_dict()
    for k, v in net.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(loaded[k], v), k
    # a bare DataParallel foolwood dict (module.) and pysot's layout load as well
    other = build_pysot_net("siammask_r50_l3")
    assert load_siammask_weights(other, _foolwood_file(net)) == "foolwood"
    assert load_siammask_weights(other, dict(net.state_dict()), "siammask_vot_ld") == "pysot"
    assert torch.equal(other.state_dict()["refine_head.post2.bias"], net.refine_head.post2.bias)


def test_bad_keys_are_named_in_the_files_names(net, tmp_path):
    state = to_foolwood_state_dict(net.state_dict())
    del state["refine_model.post2.bias"]
    state["rpn_model.cls.extra.weight"] = torch.zeros(1)
    state["tracker.window"] = torch.zeros(1)  # outside foolwood's five prefixes
    state["mask_model.mask.head.3.weight"] = torch.zeros(3, 256, 1, 1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    target = build_pysot_net("siammask_r50_l3")
    before = target.refine_head.post2.bias.clone()
    with pytest.raises(ValueError) as err:
        load_siammask_weights(target, path, "siammask_vot")
    msg = str(err.value)
    assert str(path) in msg and "foolwood/SiamMask config 'siammask_vot' (foolwood keys)" in msg
    assert "1 missing keys (refine_model: 1): refine_model.post2.bias" in msg
    assert "2 unexpected keys (rpn_model: 1, tracker: 1): rpn_model.cls.extra.weight" in msg
    assert "mask_model.mask.head.3.weight (3, 256, 1, 1) (ours (3969, 256, 1, 1))" in msg
    assert torch.equal(target.refine_head.post2.bias, before)  # nothing loaded
    with pytest.raises(ValueError, match=r"(?s)siammask_davis.*refine_model\.post2\.bias"):
        load_tracker("siammask_davis", weights=path)


def test_other_anchors_are_refused(net, tmp_path):
    path = tmp_path / "SiamMask_other.pth"
    anchors = {"stride": 8, "ratios": [0.5, 1, 2], "scales": [8]}
    torch.save({"state_dict": _foolwood_file(net), "anchor_cfg": anchors}, path)
    with pytest.raises(ValueError, match=r"SiamMask_other\.pth: anchor_cfg .*ratios"):
        load_siammask_weights(build_pysot_net("siammask_r50_l3"), path)
