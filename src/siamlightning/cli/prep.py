"""``siamlightning-prep``: write datasets in official layouts; check a dataset's files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from siamlightning.cli.common import config_dir, setup_environment

setup_environment()

import hydra  # noqa: E402
import numpy as np  # noqa: E402
from hydra.utils import get_original_cwd  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from tqdm import tqdm  # noqa: E402

from siamlightning.data import open_dataset  # noqa: E402
from siamlightning.data.writers import write_got10k, write_otb  # noqa: E402
from siamlightning.errors import DataError  # noqa: E402

COMMANDS = ("write", "check")


def _abs(p: Any, base: Path) -> Path | None:
    if p is None:
        return None
    q = Path(str(p)).expanduser()
    return q if q.is_absolute() else base / q


def check(index: Any) -> dict[str, Any]:
    """Decode every frame of every sequence; report unreadable frames and bad boxes."""
    report: dict[str, Any] = {
        "sequences": len(index),
        "frames": 0,
        "unreadable": [],
        "bad_boxes": 0,
        "absent": 0,
    }
    for seq in tqdm(index, desc="checking", unit="seq"):
        report["frames"] += len(seq)
        report["absent"] += int(seq.absent.sum())
        with np.errstate(invalid="ignore"):
            bad = ~seq.absent & ((seq.boxes[:, 2] <= 0) | (seq.boxes[:, 3] <= 0))
        report["bad_boxes"] += int(bad.sum())
        for i in range(len(seq)):
            try:
                seq.read_frame(i)
            except DataError as exc:
                report["unreadable"].append(str(exc))
    return report


def run(cfg: DictConfig) -> Any:
    """Dispatch ``cfg.command``."""
    base = Path(get_original_cwd())
    if cfg.command not in COMMANDS:
        raise ValueError(f"unknown prep command {cfg.command!r}; use one of {', '.join(COMMANDS)}")
    options = (
        OmegaConf.to_container(cfg.options, resolve=True) if cfg.dataset == "synthetic" else {}
    )
    index = open_dataset(cfg.dataset, _abs(cfg.root, base), cfg.split, **(options or {}))
    if cfg.command == "check":
        report = check(index)
        print(
            f"{cfg.dataset}: {report['sequences']} sequences, {report['frames']} frames, "
            f"{report['absent']} absent, {report['bad_boxes']} zero/negative boxes, "
            f"{len(report['unreadable'])} unreadable frames"
        )
        for line in report["unreadable"][:50]:
            print("  " + line)
        return report
    out = _abs(cfg.out, base)
    if out is None:
        raise ValueError("write needs out=<folder>")
    if cfg.layout == "otb":
        path = write_otb(index, out, jpeg_quality=cfg.jpeg_quality)
    elif cfg.layout == "got10k":
        path = write_got10k(index, out, split=cfg.got10k_split)
    else:
        raise ValueError(f"unknown layout {cfg.layout!r}; use otb or got10k")
    print(
        f"wrote {len(index)} sequences ({index.num_frames} frames) in {cfg.layout} layout to {path}"
    )
    return path


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="prep")
def _hydra_main(cfg: DictConfig) -> None:
    run(cfg)


def main() -> None:
    """Entry point: a leading bare word is the command (``siamlightning-prep check ...``)."""
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        sys.argv[1] = f"command={sys.argv[1]}"
    _hydra_main()


if __name__ == "__main__":
    main()
