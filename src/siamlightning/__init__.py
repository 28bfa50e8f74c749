"""siamlightning: Siamese visual object trackers on PyTorch Lightning and Hydra."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_tracker"]


def load_tracker(source, **overrides):
    """Load an inference `Tracker` from a checkpoint (see `siamlightning.tracking.load`)."""
    from siamlightning.tracking.load import load_tracker as _load

    return _load(source, **overrides)
