"""A workspace's two stores, opened together: metadata database and artifact blobs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from shipyard.store._blobs import BlobStore
from shipyard.store._db import Database
from shipyard.store._migrate import upgrade

if TYPE_CHECKING:
    from shipyard.core.config import Settings

__all__ = ["Store"]


class Store:
    """The metadata database and the blob store of one workspace."""

    def __init__(self, db_url: str, artifacts: str) -> None:
        self.db = Database(db_url)
        self.blobs = BlobStore(artifacts)

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """Open the workspace described by ``settings``, creating and migrating it if needed."""
        database = make_url(settings.db_url).database
        if settings.db_url.startswith("sqlite") and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        store = cls(settings.db_url, settings.artifacts)
        upgrade(store.db)
        return store

    def close(self) -> None:
        self.db.dispose()
