"""What a run records about where it ran: code version, interpreter, packages, host."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
from importlib import metadata
from typing import Any

from shipyard.core.user import current_user

__all__ = ["capture_environment"]

_KEY_PACKAGES = (
    "shipyard",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "scipy",
    "lightgbm",
    "xgboost",
    "torch",
    "transformers",
    "ray",
)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _packages() -> dict[str, str]:
    found = {}
    for name in _KEY_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


@functools.cache
def capture_environment() -> dict[str, Any]:
    """Describe this process once; the answer cannot change during a process's life."""
    commit = _git("rev-parse", "HEAD")
    dirty = None if commit is None else bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "python_version": platform.python_version(),
        "packages": _packages(),
        "host": socket.gethostname(),
        "user": current_user(),
    }
