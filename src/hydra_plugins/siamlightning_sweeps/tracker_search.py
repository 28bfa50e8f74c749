"""`TrackerSearchSweeper`: Optuna searches of tracking hyper-parameters (`siamlightning.sweeps`).

The optional dependencies (``pip install 'siamlightning[sweep]'``) are imported when the sweeper
is built, so that Hydra's plugin scan works without them.
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class TrackerSearchSweeper(Sweeper):
    """Hydra's Sweeper interface around `siamlightning.sweeps.search.TrackerSearch`."""

    def __init__(self, **kwargs: Any) -> None:
        try:
            from siamlightning.sweeps.search import TrackerSearch
        except ImportError as exc:
            raise ImportError(
                f"hydra/sweeper=tracker_search needs the sweep extra ({exc}): "
                "pip install 'siamlightning[sweep]'"
            ) from exc
        self.search = TrackerSearch(**kwargs)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        """Build the launcher (see `TrackerSearch.setup`)."""
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> Any:
        """Run the trials (see `TrackerSearch.sweep`)."""
        return self.search.sweep(arguments)
