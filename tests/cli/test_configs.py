"""Every config composes and instantiates exactly as the CLI does."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.utils import instantiate

from siamlightning.configs import config_dir

CONF = config_dir()


def _compose(name, overrides=()):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))


def test_config_dir_is_the_checkout_conf():
    assert (CONF / "train.yaml").is_file()


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_composes_and_builds(experiment):
    cfg = _compose("train", [f"experiment={experiment}", "logger=csv"])
    module = instantiate(cfg.model)
    assert module.net is not None
    dm = instantiate(cfg.data)
    assert dm.batch_size > 0


@pytest.mark.parametrize("trainer", sorted(p.stem for p in (CONF / "trainer").glob("*.yaml")))
def test_every_trainer_preset_composes(trainer):
    cfg = _compose("train", [f"trainer={trainer}"])
    assert cfg.trainer.use_distributed_sampler is False


@pytest.mark.parametrize("name", ["eval", "track", "prep"])
def test_other_apps_compose(name):
    assert _compose(name) is not None


def test_unknown_key_is_a_clear_error():
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        _compose("train", ["trainer.no_such_key=3"])


def test_unknown_data_source_key_names_the_key():
    cfg = _compose("train", ["data.train_sources=[{name: synthetic, wieght: 2}]"])
    with pytest.raises(Exception, match="wieght"):
        instantiate(cfg.data)


def test_tracker_presets_build(tmp_path: Path):
    from siamlightning.models.backbones.siamfc_alexnet import SiamFCAlexNet
    from siamlightning.models.siamfc import SiamFCNet

    for t in sorted(p.stem for p in (CONF / "tracker").glob("siamfc*.yaml")):
        cfg = _compose("train", [f"tracker={t}"])
        tracker = instantiate(cfg.tracker, net=SiamFCNet(backbone=SiamFCAlexNet(width=0.25)))
        assert len(tracker.scale_factors) == cfg.tracker.scale_num
