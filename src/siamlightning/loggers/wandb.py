"""A W&B logger that goes offline by itself when there are no credentials or no network."""

from __future__ import annotations

import logging
import netrc
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger

from siamlightning.loggers.resume import wandb_run_id

log = logging.getLogger(__name__)


def _has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or ""
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def _server_reachable(timeout: float = 3.0) -> bool:
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_mode(mode: str) -> str:
    """``auto`` -> ``online`` with credentials and a reachable server, else ``offline``."""
    env = os.environ.get("WANDB_MODE")
    if mode == "auto" and env in ("offline", "dryrun", "disabled", "online"):
        return "offline" if env == "dryrun" else env
    if mode not in ("auto", "online", "offline", "disabled"):
        raise ValueError(f"wandb mode must be auto, online, offline or disabled, got {mode!r}")
    if mode != "auto":
        return mode
    if not _has_credentials():
        log.info("W&B: no credentials found, logging offline (sync later with `wandb sync`)")
        return "offline"
    if not _server_reachable():
        log.info("W&B: server unreachable, logging offline (sync later with `wandb sync`)")
        return "offline"
    return "online"


def make_wandb_logger(
    *,
    project: str = "siamlightning",
    entity: str | None = None,
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    mode: str = "auto",
    save_dir: str = ".",
    log_model: bool = False,
    **kwargs: Any,
) -> WandbLogger:
    """Build a `WandbLogger` whose mode is resolved up front (see `resolve_mode`).

    The run id is kept in ``<save_dir>/wandb_run_id.txt``: a run resumed in the same folder
    (``ckpt_path=<run>/checkpoints/last.ckpt``) continues the same W&B run (``resume="allow"``).
    """
    resolved = resolve_mode(mode)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    if resolved != "disabled" and "id" not in kwargs:
        kwargs.update(id=wandb_run_id(save_dir), resume="allow")  # new id, or the folder's
    os.environ["WANDB_MODE"] = resolved
    os.environ.setdefault("WANDB_SILENT", "true")
    return WandbLogger(
        project=project,
        entity=entity,
        name=name,
        group=group,
        tags=list(tags or []),
        save_dir=save_dir,
        log_model=log_model,
        mode=resolved,
        **kwargs,
    )
