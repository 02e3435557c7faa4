"""Foundation storage: the metadata database and the content-addressed artifact store."""

from shipyard.store._blobs import BlobRef, BlobStore
from shipyard.store._db import Database
from shipyard.store._migrate import head_revision, upgrade
from shipyard.store._names import safe_destination, validate_artifact_name
from shipyard.store._store import Store

__all__ = [
    "BlobRef",
    "BlobStore",
    "Database",
    "Store",
    "head_revision",
    "safe_destination",
    "upgrade",
    "validate_artifact_name",
]
