"""Compose every experiment and tracker preset and print them resolved, as JSON.

Used to snapshot the composed configs before a config refactor and to diff them after it:

    python scripts/compare/compose_configs.py > tests/cli/data/composed_configs.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

# paths that depend on the machine or the run, fixed so that the snapshot is comparable
FIXED = ["paths.output_dir=/run", "paths.real_data=/real"]


def conf_dir() -> Path:
    """The checkout's ``conf/`` tree (this script lives in ``scripts/compare``)."""
    return Path(__file__).resolve().parents[2] / "conf"


def composed(config: str, overrides: list[str], conf: Path | None = None) -> dict[str, Any]:
    """One config composed with ``overrides`` and every interpolation resolved."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf or conf_dir()), version_base="1.3"):
        cfg = compose(config_name=config, overrides=[*overrides, *FIXED])
    return OmegaConf.to_container(cfg, resolve=True)


def all_composed(conf: Path | None = None) -> dict[str, dict[str, Any]]:
    """``train`` with each experiment and ``eval`` with each tracker preset, by label."""
    conf = conf or conf_dir()
    out = {}
    for exp in sorted(p.stem for p in (conf / "experiment").glob("*.yaml")):
        out[f"train experiment={exp}"] = composed("train", [f"experiment={exp}"], conf)
    for trk in sorted(p.stem for p in (conf / "tracker").glob("*.yaml")):
        out[f"eval tracker={trk}"] = composed("eval", [f"tracker={trk}"], conf)
    return out


if __name__ == "__main__":
    json.dump(all_composed(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
