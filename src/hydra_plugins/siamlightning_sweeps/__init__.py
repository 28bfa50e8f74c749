"""Hydra plugins of siamlightning (Hydra loads plugins only from the ``hydra_plugins``
namespace): `TrackerSearchSweeper`, the sweeper of ``hydra/sweeper=tracker_search``."""

from hydra_plugins.siamlightning_sweeps.tracker_search import TrackerSearchSweeper

__all__ = ["TrackerSearchSweeper"]
