"""Plain, immutable views of stored tracking data, as returned to callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ArtifactRecord", "ExperimentRecord", "MetricPoint", "RunPage", "RunRecord", "RunStatus"]


class RunStatus:
    """The states a run moves through; a run ends in exactly one of the last three."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    ENDED = (FINISHED, FAILED, KILLED)


@dataclass(frozen=True)
class ExperimentRecord:
    id: int
    name: str
    created_ms: int
    run_count: int = 0


@dataclass(frozen=True)
class RunRecord:
    """One run with its params, latest metric values and tags."""

    id: str
    experiment: str
    name: str
    status: str
    start_ms: int
    end_ms: int | None
    parent_id: str | None = None
    error: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        return None if self.end_ms is None else (self.end_ms - self.start_ms) / 1000

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, as the CLI's ``--json`` prints it."""
        return {
            "id": self.id,
            "experiment": self.experiment,
            "name": self.name,
            "status": self.status,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "parent_id": self.parent_id,
            "error": self.error,
            "params": self.params,
            "metrics": self.metrics,
            "tags": self.tags,
            "environment": self.environment,
        }


@dataclass(frozen=True)
class RunPage:
    """One page of search results; pass ``next_page_token`` to get the next one."""

    runs: list[RunRecord]
    next_page_token: str | None


@dataclass(frozen=True)
class MetricPoint:
    step: int
    value: float
    timestamp_ms: int


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    digest: str
    size: int
    created_ms: int
