"""Where a workspace lives and what it is configured to use.

Resolution order for the workspace root: ``SHIPYARD_HOME``, else the nearest folder at or above
the current one holding ``shipyard.toml``, else the current folder (its ``.shipyard/`` is created
on first use). ``SHIPYARD_DB_URL`` and ``SHIPYARD_ARTIFACTS`` override what ``shipyard.toml`` says.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shipyard.core.errors import ConfigError

__all__ = ["CONFIG_FILE", "STATE_DIR", "Settings", "resolve_settings", "write_default_config"]

CONFIG_FILE = "shipyard.toml"
STATE_DIR = ".shipyard"

_DEFAULT_TOML = """\
# Shipyard workspace. Environment variables SHIPYARD_DB_URL and SHIPYARD_ARTIFACTS override these.
[store]
# SQLite inside the workspace by default; a team uses e.g. "postgresql+psycopg://user@host/db".
db_url = "sqlite:///.shipyard/shipyard.db"
# A folder (relative to this file) or an object store URL: s3://bucket/prefix, gs://…, az://…
artifacts = ".shipyard/artifacts"
"""


class _StoreSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    db_url: str = f"sqlite:///{STATE_DIR}/shipyard.db"
    artifacts: str = f"{STATE_DIR}/artifacts"

    @field_validator("db_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql")):
            raise ValueError(
                f"db_url must start with 'sqlite://' or 'postgresql+psycopg://', got {value!r}"
            )
        from sqlalchemy.engine import make_url

        try:
            url = make_url(value)
        except Exception as exc:
            raise ValueError(f"db_url {value!r} is not a valid URL: {exc}") from None
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            raise ValueError("db_url must name a SQLite file; an in-memory database is per thread")
        return value


class _ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: _StoreSection = _StoreSection()
    # Read by the gate policy (shipyard.evaluation), which validates its own rules.
    gates: dict[str, Any] = Field(default_factory=dict)
    # Read by shipyard.monitor (windows, alert rules, sinks, retraining), which validates it.
    monitor: dict[str, Any] = Field(default_factory=dict)


class Settings(BaseModel):
    """The resolved settings of one workspace: absolute paths and URLs, ready to open."""

    model_config = ConfigDict(frozen=True)

    root: Path
    db_url: str
    artifacts: str
    gates: dict[str, Any] = Field(default_factory=dict)
    monitor: dict[str, Any] = Field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR


def _find_root(start: Path | None) -> Path:
    home = os.environ.get("SHIPYARD_HOME")
    if start is None and home:
        return Path(home).expanduser().resolve()
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return start


def _read_config(root: Path) -> _ConfigFile:
    path = root / CONFIG_FILE
    if not path.is_file():
        return _ConfigFile()
    try:
        return _ConfigFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}.", hint="Fix the syntax.") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"{path} has invalid settings: {problems}.",
            hint="Allowed sections: [store] (db_url, artifacts), [gates], [monitor].",
        ) from None


def _absolute_sqlite(url: str, root: Path) -> str:
    """Make a relative ``sqlite:///rel/path`` URL point inside the workspace root."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite://" or url.startswith("sqlite:////"):
        return url
    path = url[len(prefix) :]
    if path == ":memory:" or Path(path).is_absolute():
        return url
    return prefix + str(root / path)


def _absolute_artifacts(location: str, root: Path) -> str:
    if "://" in location:
        return location.rstrip("/")
    return str((root / Path(location).expanduser()).resolve())


def resolve_settings(start: Path | None = None) -> Settings:
    """Resolve the settings of the workspace at or above ``start``.

    Without ``start``, ``SHIPYARD_HOME`` names the workspace, else the current folder is searched.
    """
    root = _find_root(start)
    config = _read_config(root)
    store = config.store
    db_url = os.environ.get("SHIPYARD_DB_URL") or store.db_url
    artifacts = os.environ.get("SHIPYARD_ARTIFACTS") or store.artifacts
    try:
        _StoreSection(db_url=db_url, artifacts=artifacts)
    except ValidationError as exc:
        raise ConfigError(
            f"SHIPYARD_DB_URL is invalid: {exc.errors()[0]['msg']}.",
            hint="Use sqlite:///path/to.db or postgresql+psycopg://user@host:5432/db.",
        ) from None
    return Settings(
        root=root,
        db_url=_absolute_sqlite(db_url, root),
        artifacts=_absolute_artifacts(artifacts, root),
        gates=config.gates,
        monitor=config.monitor,
    )


def write_default_config(root: Path) -> Path:
    """Create ``shipyard.toml`` and ``.shipyard/`` in ``root`` unless they already exist."""
    root.mkdir(parents=True, exist_ok=True)
    (root / STATE_DIR).mkdir(exist_ok=True)
    path = root / CONFIG_FILE
    if not path.exists():
        path.write_text(_DEFAULT_TOML, encoding="utf-8")
    return path
