"""Reading small annotation text files with errors that name the file."""

from __future__ import annotations

from pathlib import Path

from siamlightning.errors import DataError

__all__ = ["read_lines"]


def read_lines(path: str | Path, what: str = "file") -> list[str]:
    """A text file's lines (UTF-8, BOM dropped, trailing blank lines removed); `DataError` naming
    the file when it is missing or unreadable (``what``: how the message names it)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise DataError(f"{what} does not exist", path=p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {what} ({exc})", path=p) from None
    while lines and not lines[-1].strip():
        lines.pop()
    return lines
