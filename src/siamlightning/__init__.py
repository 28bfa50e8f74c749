"""siamlightning: Siamese visual object trackers on PyTorch Lightning and Hydra."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from siamlightning.tracking.base import Tracker

__version__ = "0.1.0"

__all__ = ["__version__", "load_tracker"]


def load_tracker(
    source: str | Path,
    *,
    weights: str | Path | Mapping[str, Any] | None = None,
    device: str | None = None,
    precision: str | None = None,
    **overrides: Any,
) -> Tracker:
    """A ready `Tracker` from a siamlightning checkpoint, or a pysot config name with
    ``weights=<model.pth>``; see `siamlightning.tracking.load.load_tracker` for the arguments."""
    from siamlightning.tracking.load import load_tracker as _load

    return _load(source, weights=weights, device=device, precision=precision, **overrides)
