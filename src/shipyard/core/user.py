"""Who is acting: recorded on runs, dataset versions and every registry change."""

from __future__ import annotations

import getpass
import os

__all__ = ["current_user"]


def current_user() -> str | None:
    """``SHIPYARD_USER`` when set (CI jobs, services), else the operating-system user."""
    explicit = os.environ.get("SHIPYARD_USER", "").strip()
    if explicit:
        return explicit[:256]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
