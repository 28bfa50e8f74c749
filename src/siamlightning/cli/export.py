"""``siamlightning-export``: a tracker's network as graphs + ``tracker.yaml`` in ``out=DIR``.

``siamlightning-export ckpt=last.ckpt out=exported/siamfc`` (format onnx, torchscript or
export); pysot / foolwood weights: ``ckpt=siamrpn_r50_l234_dwxcorr weights=model.pth``. After
writing, the graphs are run against PyTorch on random crops (`check_export`) and the largest
difference is printed; a difference beyond ``rtol`` fails. ``load_tracker(DIR)`` tracks with
the result.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import get_original_cwd
from omegaconf import DictConfig, OmegaConf

from siamlightning.cli.common import report_errors, setup_environment
from siamlightning.configs import config_dir
from siamlightning.errors import ConfigError
from siamlightning.export import check_export, export_tracker
from siamlightning.export.writer import EXPORTERS, check_out_dir
from siamlightning.tracking.exported import FORMATS
from siamlightning.tracking.load import load_net, load_pysot_net


def _path(value: Any, base: Path) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else base / p


def load_source(cfg: DictConfig, base: Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(net, tracker config, source record) of ``ckpt`` (+ ``weights``)."""
    if cfg.get("weights") is not None:
        weights = _path(cfg.weights, base)
        net, tracker = load_pysot_net(str(cfg.ckpt), weights)
        return net, tracker, {"config": str(cfg.ckpt), "weights": str(weights)}
    ckpt = _path(cfg.ckpt, base)
    if not ckpt.is_file():
        raise FileNotFoundError(f"checkpoint ckpt={ckpt} does not exist")
    net, export = load_net(ckpt)
    return net, dict(export["tracker"]), {"checkpoint": str(ckpt)}


def run(cfg: DictConfig, base: Path | None = None) -> Path:
    """Export, check, print the figures; return the export directory. Relative paths are
    taken from ``base`` (default: the directory the command was started in)."""
    base = Path(get_original_cwd()) if base is None else base
    fmt = str(cfg.format)
    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt} is not one of {list(FORMATS)}")
    if str(cfg.exporter) not in EXPORTERS:
        raise ConfigError(f"exporter={cfg.exporter} is not one of {list(EXPORTERS)}")
    out = _path(cfg.out, base)
    if out.is_dir() and any(out.iterdir()) and not cfg.overwrite:
        check_out_dir(out, False)  # the error, before any loading
    net, tracker, source = load_source(cfg, base)
    tracker.update(OmegaConf.to_container(cfg.tracker_overrides, resolve=True))
    sizes = cfg.get("search_sizes")
    start = time.perf_counter()
    meta = export_tracker(
        net,
        tracker,
        out,
        fmt=fmt,
        sizes=None if sizes is None else [int(s) for s in sizes],
        opset=int(cfg.opset),
        exporter=str(cfg.exporter),
        source=source,
        overwrite=bool(cfg.overwrite),
    )
    files = [meta["files"]["template"], *meta["files"]["track"].values()]
    files += list(meta["files"].get("mask", {}).values())
    print(f"exported {fmt} in {time.perf_counter() - start:.1f} s: {out} ({', '.join(files)})")
    if cfg.check:
        result = check_export(out, net, rtol=float(cfg.rtol))
        worst = max(result.max_abs_diff, key=result.max_abs_diff.get)
        print(
            f"check against PyTorch (batch 1 and 3): max |{fmt} - torch| "
            f"{result.max_abs_diff[worst]:.3g} ({worst}, |max| "
            f"{result.max_abs_value[worst]:.3g}); relative {result.worst_relative():.2g}",
            flush=True,
        )
    return out


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="export")
@report_errors
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    setup_environment()
    run(cfg)


if __name__ == "__main__":
    main()
