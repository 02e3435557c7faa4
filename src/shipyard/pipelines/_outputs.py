"""Step outputs in the artifact store: files of a materializer, named by content."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from shipyard.pipelines._materializers import get_materializer, materializer_for
from shipyard.store import BlobStore
from shipyard.tracking import TrackingService

__all__ = ["StoredOutput", "store_output"]


@dataclass(frozen=True)
class StoredOutput:
    """Where one output lives (blob digests per file) and the hash of its content."""

    materializer: str
    content_hash: str
    files: dict[str, str] = field(default_factory=dict)

    def load(self, blobs: BlobStore) -> Any:
        """The value, rebuilt from verified blobs."""
        return get_materializer(self.materializer).load(
            lambda name: blobs.get_bytes(self.files[name])
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "materializer": self.materializer,
            "content_hash": self.content_hash,
            "files": self.files,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredOutput:
        return cls(data["materializer"], data["content_hash"], dict(data["files"]))


def store_output(
    service: TrackingService, run_id: str, name: str, value: Any, step: str
) -> StoredOutput:
    """Materialize ``value`` as artifacts ``outputs/<name>/…`` of the step's run."""
    materializer = materializer_for(value, step)
    digests = {
        file: service.log_artifact_bytes(run_id, f"outputs/{name}/{file}", data).digest
        for file, data in materializer.save(value).items()
    }
    identity = json.dumps({"materializer": materializer.name, "files": digests}, sort_keys=True)
    return StoredOutput(materializer.name, hashlib.sha256(identity.encode()).hexdigest(), digests)
