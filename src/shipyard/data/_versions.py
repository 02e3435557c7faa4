"""Dataset versions in the store: Parquet blobs keyed by content, with schema and profile rows.

The data's content digest decides the version: logging the same data again returns the version
that already holds it. New numbers come from a counter on the dataset's row, bumped by one
UPDATE in the write transaction, so concurrent writers never share a number.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.core.ids import new_id
from shipyard.core.names import check_entity_name
from shipyard.core.user import current_user
from shipyard.data._columns import DatasetSchema, infer_schema
from shipyard.data._frames import (
    content_digest,
    from_parquet_bytes,
    normalize,
    read_table,
    to_arrow,
    to_parquet_bytes,
)
from shipyard.data._profile import DatasetProfile, profile_table
from shipyard.store._schema import dataset_versions, datasets, run_inputs
from shipyard.tracking import TrackingService
from shipyard.tracking._sql import insert_for, now_ms, require_run

__all__ = ["DatasetService", "DatasetSummary", "DatasetVersion", "check_dataset_name"]

_CONTEXT = re.compile(r"^[\w\-.]{1,64}$")


def check_dataset_name(name: object) -> str:
    return check_entity_name("dataset", name)


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset: where its data is and what it looks like."""

    id: str
    name: str
    version: int
    content_digest: str
    blob_digest: str
    size_bytes: int
    num_rows: int
    num_columns: int
    schema: DatasetSchema
    profile: DatasetProfile
    source: str | None
    description: str | None
    run_id: str | None
    created_by: str | None
    created_ms: int

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.__dict__.items() if k not in ("schema", "profile")},
            "schema": self.schema.to_dict(),
            "profile": self.profile.to_dict(),
        }


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    latest_version: int
    num_rows: int
    num_columns: int
    updated_ms: int


class DatasetService:
    """Log, find and load dataset versions of one workspace."""

    def __init__(self, tracking: TrackingService) -> None:
        self.tracking = tracking

    def log(
        self,
        data: object,
        name: str,
        *,
        run_id: str | None = None,
        context: str = "training",
        description: str | None = None,
        storage_options: dict[str, Any] | None = None,
    ) -> DatasetVersion:
        name = check_dataset_name(name)
        context = _check_context(context)
        if run_id is not None:
            run_id = self.tracking.resolve_run_id(run_id)
        table, source = _read(data, storage_options)
        table = normalize(table)
        digest = content_digest(table)
        existing = self._by_digest(name, digest)
        if existing is None:
            blob = self.tracking.store.blobs.put_bytes(to_parquet_bytes(table))
            schema, profile = infer_schema(table), profile_table(table)
            row = {
                "content_digest": digest,
                "blob_digest": blob.digest,
                "blob_size": blob.size,
                "num_rows": table.num_rows,
                "num_columns": table.num_columns,
                "schema": schema.to_dict(),
                "profile": profile.to_dict(),
                "source": source,
                "description": description,
                "run_id": run_id,
                "created_by": current_user(),
            }
            version_id = self.tracking.store.db.write(lambda conn: _insert_version(conn, name, row))
        else:
            version_id = existing
        if run_id is not None:
            self.link_input(run_id, version_id, context)
        return self._get_by_id(version_id)

    def link_input(self, run_id: str, version_id: str, context: str) -> None:
        """Record that ``run_id`` used this dataset version (lineage); idempotent."""

        def work(conn: Connection) -> None:
            require_run(conn, run_id)
            stmt = insert_for(conn, run_inputs).values(
                run_id=run_id, dataset_version_id=version_id, context=context, created_ms=now_ms()
            )
            conn.execute(stmt.on_conflict_do_nothing())

        self.tracking.store.db.write(work)

    def get(self, name: str, version: int | None = None) -> DatasetVersion:
        """A version by number, or the newest one."""
        name = check_dataset_name(name)
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 1
        ):
            raise InvalidInput(
                f"A dataset version is a positive integer, got {version!r}.",
                hint=f"List versions with: shipyard datasets show {name}.",
            )

        def work(conn: Connection) -> str | None:
            dataset_id = _require_dataset(conn, name)
            query = sa.select(dataset_versions.c.id).where(
                dataset_versions.c.dataset_id == dataset_id
            )
            if version is None:
                query = query.order_by(dataset_versions.c.version.desc()).limit(1)
            else:
                query = query.where(dataset_versions.c.version == version)
            found = conn.execute(query).scalar()
            return None if found is None else str(found)

        version_id = self.tracking.store.db.read(work)
        if version_id is None:
            raise NotFound(
                f"Dataset {name!r} has no version {version}.",
                hint=f"List its versions with: shipyard datasets show {name}.",
            )
        return self._get_by_id(version_id)

    def load(self, dataset: DatasetVersion) -> pa.Table:
        """The version's data, read from its verified blob."""
        return from_parquet_bytes(self.tracking.store.blobs.get_bytes(dataset.blob_digest))

    def versions(self, name: str) -> list[DatasetVersion]:
        name = check_dataset_name(name)

        def work(conn: Connection) -> list[Any]:
            dataset_id = _require_dataset(conn, name)
            return list(
                conn.execute(
                    _version_query()
                    .where(dataset_versions.c.dataset_id == dataset_id)
                    .order_by(dataset_versions.c.version)
                )
            )

        return [_record(row) for row in self.tracking.store.db.read(work)]

    def summaries(self) -> list[DatasetSummary]:
        latest = (
            sa.select(
                dataset_versions.c.dataset_id, sa.func.max(dataset_versions.c.version).label("v")
            )
            .group_by(dataset_versions.c.dataset_id)
            .subquery()
        )
        query = (
            sa.select(
                datasets.c.name,
                dataset_versions.c.version,
                dataset_versions.c.num_rows,
                dataset_versions.c.num_columns,
                dataset_versions.c.created_ms,
            )
            .join(latest, latest.c.dataset_id == datasets.c.id)
            .join(
                dataset_versions,
                (dataset_versions.c.dataset_id == datasets.c.id)
                & (dataset_versions.c.version == latest.c.v),
            )
            .order_by(datasets.c.name)
        )
        rows = self.tracking.store.db.read(lambda conn: conn.execute(query).all())
        return [DatasetSummary(*row) for row in rows]

    def run_inputs(self, run_id: str) -> list[tuple[DatasetVersion, str]]:
        """The dataset versions a run used, with the context it gave (e.g. ``training``)."""
        run_id = self.tracking.resolve_run_id(run_id)
        query = (
            _version_query()
            .add_columns(run_inputs.c.context)
            .join(run_inputs, run_inputs.c.dataset_version_id == dataset_versions.c.id)
            .where(run_inputs.c.run_id == run_id)
            .order_by(datasets.c.name, dataset_versions.c.version)
        )
        rows = self.tracking.store.db.read(lambda conn: conn.execute(query).all())
        return [(_record(row), row.context) for row in rows]

    def _by_digest(self, name: str, digest: str) -> str | None:
        query = (
            sa.select(dataset_versions.c.id)
            .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
            .where(datasets.c.name == name, dataset_versions.c.content_digest == digest)
        )
        found = self.tracking.store.db.read(lambda conn: conn.execute(query).scalar())
        return None if found is None else str(found)

    def _get_by_id(self, version_id: str) -> DatasetVersion:
        query = _version_query().where(dataset_versions.c.id == version_id)
        return _record(self.tracking.store.db.read(lambda conn: conn.execute(query).one()))


def _read(data: object, storage_options: dict[str, Any] | None) -> tuple[pa.Table, str | None]:
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        local = "://" not in path
        source = str(Path(path).resolve()) if local else path
        return read_table(path, storage_options), source
    return to_arrow(data), type(data).__module__.split(".")[0] + "." + type(data).__name__


def _check_context(context: object) -> str:
    if isinstance(context, str) and _CONTEXT.fullmatch(context):
        return context
    raise InvalidInput(
        f"Invalid dataset context {context!r}.",
        hint="Use a short word such as 'training', 'validation' or 'evaluation'.",
    )


def _insert_version(conn: Connection, name: str, row: dict[str, Any]) -> str:
    now = now_ms()
    if row["run_id"] is not None:
        require_run(conn, row["run_id"])
    stmt = insert_for(conn, datasets).values(name=name, created_ms=now)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=[datasets.c.name]))
    # Lock the dataset's row before looking for the digest: on PostgreSQL a writer that stored
    # the same data meanwhile has then committed, and its version is visible to the next query.
    dataset_id = conn.execute(
        sa.select(datasets.c.id).where(datasets.c.name == name).with_for_update()
    ).scalar_one()
    raced = conn.execute(
        sa.select(dataset_versions.c.id).where(
            dataset_versions.c.dataset_id == dataset_id,
            dataset_versions.c.content_digest == row["content_digest"],
        )
    ).scalar()
    if raced is not None:  # another writer stored the same data while we profiled it
        return str(raced)
    conn.execute(
        sa.update(datasets)
        .where(datasets.c.id == dataset_id)
        .values(latest_version=datasets.c.latest_version + 1)
    )
    version = conn.execute(
        sa.select(datasets.c.latest_version).where(datasets.c.id == dataset_id)
    ).scalar_one()
    version_id = new_id()
    conn.execute(
        dataset_versions.insert().values(
            id=version_id, dataset_id=dataset_id, version=version, created_ms=now, **row
        )
    )
    return version_id


def _require_dataset(conn: Connection, name: str) -> int:
    found = conn.execute(sa.select(datasets.c.id).where(datasets.c.name == name)).scalar()
    if found is None:
        raise NotFound(
            f"No dataset named {name!r}.",
            hint="List them with: shipyard datasets list; log one with sy.log_dataset(df, name).",
        )
    return int(found)


def _version_query() -> sa.Select[Any]:
    return sa.select(dataset_versions, datasets.c.name.label("dataset_name")).join(
        datasets, datasets.c.id == dataset_versions.c.dataset_id
    )


def _record(row: Any) -> DatasetVersion:
    return DatasetVersion(
        id=row.id,
        name=row.dataset_name,
        version=row.version,
        content_digest=row.content_digest,
        blob_digest=row.blob_digest,
        size_bytes=row.blob_size,
        num_rows=row.num_rows,
        num_columns=row.num_columns,
        schema=DatasetSchema.from_dict(row.schema),
        profile=DatasetProfile.from_dict(row.profile),
        source=row.source,
        description=row.description,
        run_id=row.run_id,
        created_by=row.created_by,
        created_ms=row.created_ms,
    )
