"""`load_tracker`: an inference tracker from a training checkpoint or from pysot weights.

``load_tracker("path/last.ckpt")`` rebuilds network and tracker from a checkpoint of a
siamlightning LightningModule (its ``siamlightning`` entry: net and tracker configs, written by
the module itself, whoever ran the Trainer; names that moved since are read through
`siamlightning.tracking.moved_names`); ``load_tracker("siamrpn_r50_l234_dwxcorr",
weights="model.pth")`` builds the pysot config's network
(`siamlightning.models.pysot_weights.build_pysot_net`), loads the pysot weights into it and
wraps it in the tracker of ``tracker=<config>`` (the config's published TRACK values, composed
by Hydra) with ``crop_convention="pysot"``, so that its boxes equal pysot's own tracker's.
``siammask_r50_l3`` gives a `SiamMaskTracker`, whose results also carry a polygon and a mask.

foolwood/SiamMask's models load the same way: ``load_tracker("siammask_davis" | "siammask_vot" |
"siammask_vot_ld", weights="SiamMask_DAVIS.pth")`` builds the siammask_r50_l3 network with
foolwood's neck crop rule (`siamlightning.models.siammask_weights.build_foolwood_net`), maps the
file's keys (foolwood's or pysot's layout) and uses the ``config_davis`` / ``config_vot`` /
``config_vot18`` TRACK values with ``crop_convention="siammask"`` (foolwood's ``tools/test.py``),
so that boxes and masks equal foolwood's own ``siamese_track``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from siamlightning.configs import EXPORT_KEY, compose, config_dir
from siamlightning.errors import DataError
from siamlightning.tracking.base import Tracker, check_net_kind
from siamlightning.tracking.checkpoint_file import read_checkpoint
from siamlightning.tracking.moved_names import upgrade_config


def _pysot_builders() -> dict[str, Any]:
    """pysot config names and foolwood/SiamMask's (the siammask_r50_l3 net) -> net builders."""
    from siamlightning.models.pysot_weights import PYSOT_CONFIGS
    from siamlightning.models.siammask_weights import FOOLWOOD_CONFIGS, build_foolwood_net

    return {**PYSOT_CONFIGS, **dict.fromkeys(FOOLWOOD_CONFIGS, build_foolwood_net)}


def _is_foolwood(config_name: str) -> bool:
    from siamlightning.models.siammask_weights import FOOLWOOD_CONFIGS

    return config_name in FOOLWOOD_CONFIGS


def _yaml_name(config_name: str) -> str:
    """The tracker yaml of a pysot config: its own, or the one it shares (`SHARED_YAML`)."""
    from siamlightning.models.pysot_weights import SHARED_YAML

    return SHARED_YAML.get(config_name, config_name)


def _tracker_yaml(config_name: str) -> Path:
    return config_dir() / "tracker" / f"{_yaml_name(config_name)}.yaml"


def pysot_config_names() -> list[str]:
    """pysot configs `load_tracker` can build: a network layout and a tracker yaml exist."""
    return sorted(n for n in _pysot_builders() if _tracker_yaml(n).is_file())


def _check_pysot_name(config_name: str) -> None:
    if config_name in _pysot_builders() and config_name not in pysot_config_names():
        raise ValueError(
            f"pysot config {config_name!r} has no tracker yet (no conf/tracker/{config_name}"
            f".yaml); known: {pysot_config_names()}"
        )
    if config_name not in pysot_config_names():
        raise ValueError(
            f"unknown pysot config {config_name!r}; known: {pysot_config_names()} "
            "(or pass a siamlightning training checkpoint without weights=)"
        )


def pysot_tracker_config(config_name: str) -> dict[str, Any]:
    """The tracker config (``_target_`` + published TRACK values) of a pysot config name.

    ``crop_convention`` is ``"pysot"`` (pysot's crop window, centre and clipping range: the
    weights were trained on pysot's crops), ``"siammask"`` for foolwood/SiamMask's configs (its
    ``tools/test.py``); the yaml's own value (``"exact"``) is for networks trained here with
    that tracker config.
    """
    _check_pysot_name(config_name)
    tracker = compose("eval", [f"tracker={_yaml_name(config_name)}"]).tracker
    cfg = OmegaConf.to_container(tracker, resolve=True)
    cfg["crop_convention"] = "siammask" if _is_foolwood(config_name) else "pysot"
    return cfg  # type: ignore[return-value]


def build_pysot_model(config_name: str) -> torch.nn.Module:
    """A randomly initialised network laid out as pysot's ``config_name`` (one with a tracker)."""
    _check_pysot_name(config_name)
    return _pysot_builders()[config_name]()


def load_pysot_net(
    config_name: str, weights: str | Path | Mapping
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """pysot config name + pysot ``model.pth`` (or its state dict) -> (net, tracker config).

    SiamMask configs (``siammask_r50_l3`` and foolwood's) read foolwood's layout or pysot's.
    """
    from siamlightning.models.pysot_weights import load_pysot_state_dict
    from siamlightning.models.siammask_weights import load_siammask_weights

    tracker_cfg = pysot_tracker_config(config_name)
    if isinstance(weights, str | Path):
        weights = Path(weights).expanduser()
        if not weights.is_file():
            raise FileNotFoundError(f"pysot weights {weights} do not exist")
    net = build_pysot_model(config_name)
    if config_name == "siammask_r50_l3" or _is_foolwood(config_name):
        load_siammask_weights(net, weights, config_name)
    else:
        load_pysot_state_dict(net, weights, config_name)
    return net.eval(), tracker_cfg


def build_tracker(net: torch.nn.Module, tracker_cfg: dict[str, Any], **overrides: Any) -> Tracker:
    """Instantiate a tracker config (``_target_`` + hyper-parameters) around ``net``."""
    cfg = OmegaConf.merge(OmegaConf.create(tracker_cfg), OmegaConf.create(overrides))
    if "_target_" in cfg:
        check_net_kind(net, get_class(cfg._target_))
    return instantiate(cfg, net=net)


def _describe(ckpt: Any) -> str:
    """What a loaded file holds instead of our checkpoint, in a few words."""
    if not isinstance(ckpt, Mapping):
        return f"it holds a {type(ckpt).__name__}"
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return f"it holds a bare state_dict of {len(ckpt)} tensors, e.g. {next(iter(ckpt))!r}"
    return f"its keys are {sorted(map(str, ckpt))[:8]}"


def load_net(source: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Read a Lightning checkpoint written by `siamlightning-train`: (network, export config)."""
    path = Path(source).expanduser()
    ckpt = read_checkpoint(path)
    export = ckpt.get(EXPORT_KEY) if isinstance(ckpt, dict) else None
    if not export or "net" not in export:
        raise DataError(
            f"is not a siamlightning checkpoint: no {EXPORT_KEY!r} export config "
            f"({_describe(ckpt)}); for pysot weights use load_tracker('<config>', "
            f"weights='{path}') with a config of {pysot_config_names()}",
            path=path,
        )
    export = upgrade_config(export)
    net = instantiate(OmegaConf.create(export["net"]))
    state = {k[4:]: v for k, v in ckpt["state_dict"].items() if k.startswith("net.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not match the network: missing {missing}, unexpected {unexpected}"
        )
    return net.eval(), export


def load_exported_net(
    directory: str | Path, *, threads: int | None = None
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """An export directory (``siamlightning-export``) -> (`ExportedNet` running its graphs,
    tracker config); ``threads``: onnxruntime intra-op threads (default all cores)."""
    from siamlightning.tracking.exported import ExportedNet, read_spec

    spec = read_spec(directory)
    return ExportedNet(directory=directory, spec=spec, threads=threads), dict(spec["tracker"])


def load_exported_tracker(
    directory: Path, *, threads: int | None = None, **overrides: Any
) -> Tracker:
    """An export directory -> its tracker config's tracker around an `ExportedNet`."""
    net, tracker_cfg = load_exported_net(directory, threads=threads)
    return build_tracker(net, tracker_cfg, **overrides)


def load_tracker(
    source: str | Path,
    *,
    weights: str | Path | Mapping[str, torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
    **overrides: Any,
) -> Tracker:
    """A ready `Tracker` from a siamlightning checkpoint, or from pysot weights.

    Args:
        source: a Lightning checkpoint written by a siamlightning module (``last.ckpt``), a
            directory written by ``siamlightning-export`` (its ``tracker.yaml`` and graphs; see
            `load_exported_tracker`), or, with ``weights``, a pysot or foolwood/SiamMask config
            name (`pysot_config_names`).
        weights: pysot ``model.pth`` or foolwood ``SiamMask_*.pth`` (path or state dict) for
            the config named by ``source``;
            ``None`` for a siamlightning checkpoint.
        device: where the network runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``); default: the
            stored tracker config's (``cpu``).
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``; default: the stored config's.
        overrides: other tracking hyper-parameters of the tracker's constructor
            (e.g. ``window_influence=0.3``).
    """
    if device is not None:
        overrides["device"] = str(device)
    if precision is not None:
        overrides["precision"] = precision
    if weights is not None:
        net, tracker_cfg = load_pysot_net(str(source), weights)
        return build_tracker(net, tracker_cfg, **overrides)
    from siamlightning.tracking.exported import is_export_dir

    if is_export_dir(source):  # another directory: read_checkpoint says it is not a file
        return load_exported_tracker(Path(source).expanduser(), **overrides)
    if str(source) in _pysot_builders() and not Path(source).exists():
        raise ValueError(f"pysot config {str(source)!r} needs weights=<pysot model.pth>")
    net, export = load_net(source)
    return build_tracker(net, export["tracker"], **overrides)
