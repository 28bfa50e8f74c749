"""Checkpoint files: say what a path is when it is not a readable torch checkpoint.

`check_checkpoint_file` looks at the path and the file's first bytes only (cheap enough to run
before a training run resumes); `read_checkpoint` also loads it, turning torch's low-level
errors ("PytorchStreamReader failed ...", "invalid load key") into one `DataError` naming the
path and what it is: missing, a directory, empty, truncated, a zip or a file of another kind.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch

from siamlightning.errors import DataError

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default (zip) format
PICKLE_MAGIC = 0x80  # torch.save(..., _use_new_zipfile_serialization=False): a pickle, protocol 2+


def _listing(names: list[str], limit: int = 4) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def check_checkpoint_file(source: str | Path) -> Path:
    """The checkpoint path, expanded, once it is an existing torch file; else a clear error."""
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.is_dir():
        found = sorted(str(p.relative_to(path)) for p in path.rglob("*.ckpt"))
        hint = f"; it holds {_listing(found)}" if found else ""
        raise DataError(f"is a directory, not a checkpoint file{hint}", path=path)
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        raise DataError("is not a checkpoint: the file is empty (0 bytes)", path=path)
    if head.startswith(ZIP_MAGIC):
        if not zipfile.is_zipfile(path):
            raise DataError(
                "is truncated or corrupt: a zip archive (torch.save format) without its end "
                f"record ({path.stat().st_size} bytes; an interrupted copy or save?)",
                path=path,
            )
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        if not any(n.endswith("/data.pkl") for n in names):
            raise DataError(
                f"is a zip archive but not a torch checkpoint (no data.pkl; holds "
                f"{_listing(names)})",
                path=path,
            )
    elif head[0] != PICKLE_MAGIC:
        raise DataError(
            f"is not a torch checkpoint (the file starts with {head[:12]!r}, neither a "
            "torch.save zip archive nor a pickle)",
            path=path,
        )
    return path


def read_checkpoint(source: str | Path) -> Any:
    """``torch.load`` a checkpoint on the CPU after `check_checkpoint_file`; errors name it."""
    path = check_checkpoint_file(source)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch's reader errors say nothing about the file
        raise DataError(
            f"is truncated or corrupt (torch.load failed: {type(e).__name__}: {e})", path=path
        ) from e
