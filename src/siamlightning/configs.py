"""Where the Hydra config tree lives, and composing it outside a Hydra app (ground floor)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

__all__ = ["EXPORT_KEY", "compose", "config_dir", "multirun_group", "multirun_job", "sweep_group"]

#: the checkpoint entry holding the net and tracker configs a module exports (`lit` writes it,
#: `tracking.load` reads it)
EXPORT_KEY = "siamlightning"


def config_dir() -> Path:
    """The Hydra config tree: ``siamlightning/conf`` in a wheel, else ``<checkout>/conf``."""
    here = Path(__file__).resolve().parent  # .../siamlightning
    for cand in (here / "conf", here.parent.parent / "conf"):
        if (cand / "train.yaml").is_file():
            return cand
    raise FileNotFoundError(
        f"siamlightning config tree not found (looked in {here / 'conf'} and "
        f"{here.parent.parent / 'conf'}); reinstall the package"
    )


def compose(config_name: str, overrides: Iterable[str] = ()) -> DictConfig:
    """``conf/<config_name>.yaml`` composed with ``overrides`` as its app would (no run dir)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def sweep_group(sweep_dir: str | Path) -> str:
    """The W&B group of a sweep's runs: its folder's last three parts (``multirun/train/<date>``,
    ``tracker_search/<benchmark>/<checkpoint>``)."""
    return "/".join(Path(sweep_dir).resolve().parts[-3:])


def multirun_job() -> DictConfig | None:
    """This job's Hydra config node when it is one job of a multirun (``-m``), else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    return hc if hc.mode == RunMode.MULTIRUN else None


def multirun_group() -> str | None:
    """`sweep_group` of this Hydra multirun job's sweep folder, None outside a multirun:
    ``${siamlightning_wandb_group:}`` in ``conf/logger/wandb.yaml``."""
    hc = multirun_job()
    return None if hc is None else sweep_group(hc.sweep.dir)


OmegaConf.register_new_resolver("siamlightning_wandb_group", multirun_group, replace=True)
