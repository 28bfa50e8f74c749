"""Shared plumbing of the Hydra entry points: environment defaults, config groups, errors."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from siamlightning.errors import SiamLightningError

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # .../siamlightning
# errors about the user's input or configuration: one line, no traceback
USER_ERRORS: tuple[type[BaseException], ...] = (
    SiamLightningError,
    FileNotFoundError,
    PermissionError,
)


def setup_environment() -> None:
    """Quiet, offline-safe defaults for this CLI process and those it starts (DDP ranks,
    DataLoader workers): no albumentations update check, a silent W&B. Each entry point's
    ``main`` calls it; importing a module never changes the environment."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("WANDB_SILENT", "true")


def instantiate_group(node: Any) -> list[Any]:
    """Instantiate every ``_target_`` entry of a config group node (loggers, callbacks)."""
    if not node:
        return []
    from hydra.utils import instantiate

    return [instantiate(v) for v in node.values() if v is not None and "_target_" in v]


def _raised_on_purpose(exc: BaseException) -> bool:
    """A ValueError from a ``raise`` statement in this package (a check), not from a bug."""
    if not isinstance(exc, ValueError) or exc.__traceback__ is None:
        return False
    last = traceback.extract_tb(exc.__traceback__)[-1]
    ours = Path(last.filename).resolve().is_relative_to(PACKAGE_DIR)
    return ours and (last.line or "").lstrip().startswith("raise ")


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, USER_ERRORS) or _raised_on_purpose(exc):
        return True
    # Lightning's own configuration checks (trainer.devices=0, ...)
    return type(exc).__name__ == "MisconfigurationException"


def user_error(exc: BaseException) -> BaseException | None:
    """The error to report in one line (``exc`` or what Hydra's instantiate wrapped), or None."""
    from hydra.errors import InstantiationException

    while exc is not None:
        if _is_user_error(exc):
            return exc
        exc = exc.__cause__ if isinstance(exc, InstantiationException) else None
    return None


def in_multirun() -> bool:
    """True inside a job of ``-m`` (a sweep), where the sweeper owns what outlives a job."""
    from siamlightning.configs import multirun_job

    return multirun_job() is not None


def report_errors(task: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap a Hydra task: a user error ends the process with ``error: <message>``, exit code 1.

    User errors are `USER_ERRORS`, Lightning's ``MisconfigurationException`` and ValueErrors a
    check of this package raised; with ``HYDRA_FULL_ERROR=1`` they propagate with the full
    trace. Any other exception is a bug and keeps its traceback (Hydra's, with its hint). In a
    job of ``-m`` the user error is printed and raised on, so the sweeper records the job as
    failed instead of the whole sweep ending.
    """

    @functools.wraps(task)
    def wrapper(cfg: Any) -> Any:
        try:
            return task(cfg)
        except Exception as exc:
            err = user_error(exc)
            if err is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {err}", file=sys.stderr, flush=True)
            if in_multirun():  # the sweeper records the job as failed and goes on
                raise
            raise SystemExit(1) from None

    return wrapper
