"""Bring a metadata database to the newest schema, safely from many processes at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.core.errors import StoreError
from shipyard.store._db import Database

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

__all__ = ["HEAD", "head_revision", "upgrade"]

_SCRIPT_LOCATION = "shipyard.store:migrations"
# The newest migration; a test pins it to Alembic's head, so opening an up-to-date database
# never has to import Alembic.
HEAD = "0003"
_PG_LOCK_KEY = 0x5348_4950  # "SHIP": one advisory lock serialises migrations on PostgreSQL


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _SCRIPT_LOCATION)
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of Shipyard."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def _current_revision(conn: Connection) -> str | None:
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def upgrade(db: Database) -> None:
    """Migrate ``db`` to head. Concurrent callers wait for each other; only one migrates."""
    if db.read(_current_revision) == HEAD:
        return
    head = head_revision()

    def migrate(conn: Connection) -> None:
        # SQLite: this transaction began IMMEDIATE, so it already holds the write lock.
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        current = _current_revision(conn)
        if current == head:
            return
        if current is not None and current not in _known_revisions():
            raise StoreError(
                f"Database {db.safe_url} has schema revision {current!r}, newer than this "
                f"Shipyard knows (newest: {head!r}).",
                hint="Upgrade Shipyard: pip install -U shipyard.",
            )
        from alembic import command

        config = _config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")

    db.write(migrate)
