"""What the registry hands out: registered models, their versions and the audit trail."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["AuditEvent", "ModelVersion", "ModelVersionStatus", "RegisteredModel"]


class ModelVersionStatus:
    """A version is ``ready`` to use until someone archives it; ``@latest`` skips archived ones."""

    READY = "ready"
    ARCHIVED = "archived"
    ALL = (READY, ARCHIVED)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    description: str | None
    latest_version: int
    created_ms: int
    updated_ms: int
    aliases: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelVersion:
    """One registered version, with what it came from: its run, metrics and dataset versions."""

    name: str
    version: int
    run_id: str
    artifact_path: str
    flavor: str
    status: str
    description: str | None
    created_by: str | None
    created_ms: int
    updated_ms: int
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    metrics: dict[str, float | None] = field(default_factory=dict)
    datasets: tuple[str, ...] = ()  # "name:version" of the run's input dataset versions

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def source(self) -> str:
        """Where the files live: the run artifact the version points at."""
        return f"runs:/{self.run_id}/{self.artifact_path}"

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "aliases": list(self.aliases),
            "datasets": list(self.datasets),
            "uri": self.uri,
            "source": self.source,
        }


@dataclass(frozen=True)
class AuditEvent:
    """One change: who did what to which model or version, when and why."""

    model: str
    version: int | None
    action: str
    detail: dict[str, Any]
    reason: str | None
    user: str | None
    at_ms: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
