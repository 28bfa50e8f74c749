"""``siamlightning-prep <command>``: dataset preparation (see ``conf/prep.yaml``).

- ``write``: write a dataset in an official layout (e.g. synthetic data as GOT-10k).
- ``check``: read every frame and box of a dataset; print a report (``report=<file>`` also
  writes it as JSON); exit code 1 when a problem is found.
- ``index``: build (or refresh) the dataset's index cache and print what it cost.

A command is one function ``(cfg, base) -> result`` plus one `COMMANDS` entry; a result with a
false ``ok`` attribute makes the process exit with code 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.utils import get_original_cwd
from omegaconf import DictConfig, OmegaConf

from siamlightning.cli.common import report_errors, setup_environment
from siamlightning.configs import config_dir
from siamlightning.data import open_dataset
from siamlightning.errors import DataError


def _abs(p: Any, base: Path) -> Path | None:
    if p is None:
        return None
    q = Path(str(p)).expanduser()
    return q if q.is_absolute() else base / q


def _human(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def _options(cfg: DictConfig) -> dict[str, Any]:
    """Reader options: ``options`` for synthetic (its generator), ``reader_options`` otherwise."""
    key = "options" if cfg.dataset == "synthetic" else "reader_options"
    value = cfg.get(key)
    return {} if value is None else dict(OmegaConf.to_container(value, resolve=True))  # type: ignore[arg-type]


def write(cfg: DictConfig, base: Path) -> Path:
    """Write ``dataset`` in ``layout`` (otb, got10k, vot or lasot) under ``out``."""
    from siamlightning.data.tools.writers import write_got10k, write_lasot, write_otb, write_vot

    index = open_dataset(cfg.dataset, _abs(cfg.root, base), cfg.split, **_options(cfg))
    out = _abs(cfg.out, base)
    if out is None:
        raise ValueError("write needs out=<folder>")
    if cfg.layout == "otb":
        path = write_otb(index, out, jpeg_quality=cfg.jpeg_quality)
    elif cfg.layout == "got10k":
        path = write_got10k(index, out, split=cfg.got10k_split, jpeg_quality=cfg.jpeg_quality)
    elif cfg.layout == "vot":
        path = write_vot(index, out, jpeg_quality=cfg.jpeg_quality)
    elif cfg.layout == "lasot":
        path = write_lasot(index, out, jpeg_quality=cfg.jpeg_quality)
    else:
        raise ValueError(f"unknown layout {cfg.layout!r}; use otb, got10k, vot or lasot")
    n = index.num_frames
    print(f"wrote {len(index)} sequences ({n} frames) in {cfg.layout} layout to {path}")
    return path


def check(cfg: DictConfig, base: Path) -> Any:
    """Validate ``dataset`` read afresh from ``root`` (no cache): every reader problem (each
    with file:line), the sequences a tolerant load skips, then every frame and box of the
    sequences that load; print and save the report."""
    from siamlightning.data.tools.check import check_source

    workers = cfg.workers if cfg.workers is not None else min(8, os.cpu_count() or 1)
    report = check_source(
        cfg.dataset,
        _abs(cfg.root, base),
        cfg.split,
        options=_options(cfg),
        workers=workers,
        decode=cfg.decode,
        progress=cfg.progress,
        max_examples=cfg.max_examples,
    )
    print("\n".join(report.lines()), flush=True)
    path = _abs(cfg.report, base)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {**report.to_dict(), "root": str(_abs(cfg.root, base)), "split": cfg.split}
        path.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
        print(f"report written to {path}")
    return report


def index(cfg: DictConfig, base: Path) -> Any:
    """Build (``rebuild=true``: always) the index cache of ``dataset`` and time a fresh load."""
    from siamlightning.data.index.cache import load_cached
    from siamlightning.data.index.compact import CompactIndex
    from siamlightning.data.sources import check_options, reader

    module, options = reader(cfg.dataset), _options(cfg)
    check_options(cfg.dataset, module, options)
    root = _abs(cfg.root, base)
    if root is None or not root.exists():
        raise FileNotFoundError(f"index needs root=<the dataset's folder>; got {cfg.root!r}")
    directory = _abs(cfg.cache_dir, base)
    ix, info = load_cached(
        module,
        cfg.dataset,
        root,
        cfg.split,
        options,
        directory=directory,
        rebuild=cfg.rebuild,
    )
    if info.folder is None:
        raise DataError(f"{cfg.dataset} cannot be cached (see the warning above)", path=root)
    t0 = time.perf_counter()
    fresh = CompactIndex.open(info.folder)
    fresh.frame_table()
    load_s = time.perf_counter() - t0
    state = "up to date" if info.hit else f"built in {info.build_s:.2f} s"
    print(
        f"{cfg.dataset}: {len(ix)} sequences, {ix.num_frames} frames; cache {state}; "
        f"load {load_s * 1000:.1f} ms; {_human(info.disk_bytes)} on disk\n"
        f"cache: {info.folder}"
    )
    return info


class _CropSummary(dict):
    """`build_crop_cache`'s summary; ``ok`` is False when some crops failed (exit code 1)."""

    @property
    def ok(self) -> bool:
        """True when every crop was written or already there."""
        return not self.get("failed")


def crop(cfg: DictConfig, base: Path) -> Any:
    """Build (or complete: existing crops are kept) the 511-px crop cache of ``dataset`` in
    ``out``; the DataModule reads it with ``crop_cache: <out>`` on the source."""
    from siamlightning.data.tools.crop_cache import build_crop_cache

    out = _abs(cfg.out, base)
    if out is None:
        raise ValueError("crop needs out=<folder for the crop cache>")
    index = open_dataset(cfg.dataset, _abs(cfg.root, base), cfg.split, **_options(cfg))
    workers = cfg.workers if cfg.workers is not None else min(8, os.cpu_count() or 1)
    summary = _CropSummary(
        build_crop_cache(
            index,
            out,
            size=cfg.crop_size,
            exemplar_size=cfg.exemplar_size,
            context_amount=cfg.context_amount,
            workers=workers,
            quality=cfg.crop_quality,
            progress=cfg.progress,
        )
    )
    print(
        f"{cfg.dataset}: {summary['crops']} crops in {out} ({summary['written']} written, "
        f"{summary['existing']} already there, {summary['failed']} failed) "
        f"in {summary['seconds']:.1f} s"
    )
    for line in summary.get("failures", [])[:20]:
        print(f"  failed: {line}")
    return summary


COMMANDS: dict[str, Callable[[DictConfig, Path], Any]] = {
    "write": write,
    "check": check,
    "index": index,
    "crop": crop,
}


def run(cfg: DictConfig) -> Any:
    """Dispatch ``cfg.command`` (a `COMMANDS` key)."""
    if cfg.command not in COMMANDS:
        raise ValueError(f"unknown prep command {cfg.command!r}; use one of {', '.join(COMMANDS)}")
    return COMMANDS[cfg.command](cfg, Path(get_original_cwd()))


def exit_code(result: Any) -> int:
    """1 when ``result`` has a false ``ok`` attribute (a problem was found), else 0."""
    return 0 if getattr(result, "ok", True) else 1


def main() -> None:
    """Entry point: a leading bare word is the command (``siamlightning-prep check ...``).

    The process exits with the highest `exit_code` of its Hydra jobs (one job; several under
    ``--multirun``)."""
    setup_environment()
    if len(sys.argv) > 1 and sys.argv[1] in COMMANDS:
        sys.argv[1] = f"command={sys.argv[1]}"
    codes: list[int] = []

    @hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="prep")
    @report_errors
    def _hydra_main(cfg: DictConfig) -> None:
        codes.append(exit_code(run(cfg)))

    _hydra_main()
    sys.exit(max(codes, default=0))


if __name__ == "__main__":
    main()
