"""Every config composes and instantiates exactly as the CLI does."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from siamlightning.configs import compose, config_dir
from siamlightning.lit.siamfc import SiamFCModule
from siamlightning.lit.siammask_refine import SiamMaskRefineModule
from siamlightning.lit.siamrpn import SiamRPNModule
from siamlightning.models.anchors import score_map_size
from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
from siamlightning.models.siamfc import SiamFCNet
from siamlightning.models.siamfc_targets import siamfc_labels
from siamlightning.tracking.load import build_pysot_model

CONF = config_dir()


def test_config_dir_is_the_checkout_conf():
    assert (CONF / "train.yaml").is_file()


EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
TRACKERS = sorted(p.stem for p in (CONF / "tracker").glob("*.yaml"))


# net + tracker + geometry configs (JSON) already checked by the test below
_AGREED: set[str] = set()


def _track_once(tracker) -> np.ndarray:
    """init + one track on a textured 320x240 frame (the tracker checks its score-map size)."""
    image = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    tracker.init(image, [140.0, 100.0, 40.0, 30.0])
    box = tracker.track(image).box
    assert box.shape == (4,) and np.isfinite(box).all()
    return box


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_builds_agreeing_data_model_and_tracker(experiment):
    cfg = compose("train", [f"experiment={experiment}", "logger=csv"])
    geometry = cfg.geometry
    dm = instantiate(cfg.data)
    assert dm.batch_size == cfg.data.batch_size > 0
    # the data crops are the family's training geometry
    assert dm.pair_kwargs == {
        "exemplar_size": geometry.exemplar_size,
        "search_size": geometry.train_search_size,
        "context_amount": geometry.context_amount,
        "masks": cfg.data.masks,
    }
    z_size, x_size = geometry.exemplar_size, geometry.train_search_size
    module = instantiate(cfg.model).eval()
    # a recipe and its *_synthetic smoke test share net, tracker and geometry: check those once
    key = json.dumps(
        OmegaConf.to_container(OmegaConf.masked_copy(cfg, ["tracker", "geometry"]), resolve=True)
        | {"net": OmegaConf.to_container(cfg.model.net, resolve=True)},
        sort_keys=True,
    )
    if key in _AGREED:
        return
    tracker = instantiate(cfg.tracker, net=module.net, precision="fp32")
    # the tracker crops what the data crops, at the family's tracking search size
    assert (tracker.exemplar_size, tracker.context_amount) == (z_size, geometry.context_amount)
    assert tracker.search_size == geometry.track_search_size
    # a training batch of the data's crop sizes gives the score map the module's targets expect
    z = torch.full((1, 3, z_size, z_size), 128, dtype=torch.uint8)
    x = torch.full((1, 3, x_size, x_size), 128, dtype=torch.uint8)
    stride = module.net.stride
    with torch.no_grad():
        out = module(z, x)
    if isinstance(module, SiamFCModule):
        r = (x_size - z_size) // stride + 1
        assert out.shape == (1, 1, r, r)
        box = torch.tensor([[x_size / 2 - 10, x_size / 2 - 10, 20.0, 20.0]])
        labels = siamfc_labels(box, r, x_size, stride, module.r_pos)
        assert labels.shape == out.shape and labels[0, 0, r // 2, r // 2] == 1
    else:
        assert isinstance(module, SiamRPNModule)  # SiamMaskModule too: out = SiamMaskOutput
        cls, loc = out[:2]
        # SiamMask's refine stage trains at 143 with the neck crop [4:-4] of the 17-wide search
        # map: no extra cells (config.json base_size 0, 3x3); it tracks at 255 as the base
        base = 0 if isinstance(module, SiamMaskRefineModule) else tracker.base_size
        s = score_map_size(search_size=x_size, exemplar_size=z_size, stride=stride, base_size=base)
        a = module.net.anchor_num
        assert cls.shape == (1, 2 * a, s, s) and loc.shape == (1, 4 * a, s, s)
        assert module.anchors(x_size, s, cls.device).shape == (4, a, s, s)
    _track_once(tracker)
    _AGREED.add(key)


@pytest.mark.parametrize("name", TRACKERS)
def test_every_tracker_preset_tracks_with_its_network(name):
    cfg = compose("eval", [f"tracker={name}"])
    assert cfg.tracker.exemplar_size == cfg.geometry.exemplar_size
    assert cfg.tracker.search_size == cfg.geometry.track_search_size
    if name in EXPERIMENTS:  # an experiment's tracker already tracked with its net above
        return
    if name.startswith("siamfc"):
        net = SiamFCNet(backbone=SiamFCAlexNet(width=0.25))
    else:  # pysot's and foolwood/SiamMask's configs
        net = build_pysot_model(name)
    tracker = instantiate(cfg.tracker, net=net, precision="fp32")
    assert (tracker.exemplar_size, tracker.search_size) == (127, cfg.geometry.track_search_size)
    _track_once(tracker)


@pytest.mark.parametrize("trainer", sorted(p.stem for p in (CONF / "trainer").glob("*.yaml")))
def test_every_trainer_preset_composes(trainer):
    cfg = compose("train", [f"trainer={trainer}"])
    assert cfg.trainer.use_distributed_sampler is False


@pytest.mark.parametrize("name", ["eval", "track", "prep"])
def test_other_apps_compose(name):
    assert compose(name) is not None


def test_unknown_key_is_a_clear_error():
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        compose("train", ["trainer.no_such_key=3"])


def test_unknown_data_source_key_names_the_key():
    cfg = compose("train", ["data.train_sources=[{name: synthetic, wieght: 2}]"])
    with pytest.raises(Exception, match="wieght"):
        instantiate(cfg.data)


def test_tracker_presets_build(tmp_path: Path):
    for t in sorted(p.stem for p in (CONF / "tracker").glob("siamfc*.yaml")):
        cfg = compose("train", [f"tracker={t}"])
        tracker = instantiate(cfg.tracker, net=SiamFCNet(backbone=SiamFCAlexNet(width=0.25)))
        assert len(tracker.scale_factors) == cfg.tracker.scale_num
