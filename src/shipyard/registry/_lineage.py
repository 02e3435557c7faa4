"""What a model version came from: its run's final metrics and the dataset versions it read."""

from __future__ import annotations

import math

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.store._schema import dataset_versions, datasets, latest_metrics, run_inputs

__all__ = ["version_datasets", "version_metrics"]


def version_metrics(conn: Connection, run_id: str) -> dict[str, float | None]:
    rows = conn.execute(
        sa.select(latest_metrics.c.key, latest_metrics.c.value)
        .where(latest_metrics.c.run_id == run_id)
        .order_by(latest_metrics.c.key)
    )
    return {key: (None if value is None or math.isnan(value) else value) for key, value in rows}


def version_datasets(conn: Connection, run_id: str) -> list[str]:
    """``name:version`` of every dataset version the run logged or loaded as an input."""
    rows = conn.execute(
        sa.select(datasets.c.name, dataset_versions.c.version)
        .join(dataset_versions, dataset_versions.c.dataset_id == datasets.c.id)
        .join(run_inputs, run_inputs.c.dataset_version_id == dataset_versions.c.id)
        .where(run_inputs.c.run_id == run_id)
        .order_by(datasets.c.name, dataset_versions.c.version)
    )
    return [f"{name}:{version}" for name, version in rows]
