"""Exceptions that name the file, the line and the value at fault."""

from __future__ import annotations

from pathlib import Path


class SiamLightningError(Exception):
    """Base class for every error this package raises on purpose."""


class DataError(SiamLightningError, ValueError):
    """Bad input data: a missing or unreadable file, a malformed annotation line, a bad box."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(where + message)
        self.path = None if path is None else str(path)
        self.line = line


class FrameReadError(DataError):
    """A frame that is missing or cannot be decoded."""


class IndexCacheError(DataError):
    """A saved dataset index (index cache folder) that is missing, partial, corrupt or of another
    format; the cache rebuilds it."""


class ConfigError(SiamLightningError, ValueError):
    """A configuration value that cannot work: a tracker of another family, an unusable path."""
