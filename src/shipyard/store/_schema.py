"""The metadata schema: one SQLAlchemy ``MetaData`` that Alembic migrations mirror.

Times are integer milliseconds since the epoch, so they compare and index the same on SQLite
and PostgreSQL. ``latest_metrics`` keeps the last value of each metric per run, which is what
search filters and orders on, so a search never scans the full metric history.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "artifacts",
    "dataset_versions",
    "datasets",
    "experiments",
    "latest_metrics",
    "metadata",
    "metric_chunks",
    "model_aliases",
    "model_events",
    "model_version_tags",
    "model_versions",
    "params",
    "registered_models",
    "run_inputs",
    "runs",
    "step_cache",
    "tags",
]

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", _BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("experiment_id", sa.BigInteger, sa.ForeignKey("experiments.id"), nullable=False),
    sa.Column("parent_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("start_ms", sa.BigInteger, nullable=False),
    sa.Column("end_ms", sa.BigInteger, nullable=True),
    sa.Column("user", sa.String(256), nullable=True),
    sa.Column("host", sa.String(256), nullable=True),
    sa.Column("git_commit", sa.String(64), nullable=True),
    sa.Column("git_dirty", sa.Boolean, nullable=True),
    sa.Column("python_version", sa.String(32), nullable=True),
    sa.Column("packages", sa.JSON, nullable=True),
    sa.Index(None, "experiment_id", "start_ms"),
    sa.Index(None, "parent_id"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index(None, "key", "run_id"),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index(None, "key", "run_id"),
)

# Metric history is stored in packed chunks, one row per (run, key) per writer flush: each
# holds little-endian int64 steps and timestamps and float64 values. Logging 100,000 values
# then costs a handful of rows instead of 100,000 index insertions.
metric_chunks = sa.Table(
    "metric_chunks",
    metadata,
    sa.Column("id", _BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("key", sa.String(256), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("steps", sa.LargeBinary, nullable=False),
    sa.Column("timestamps", sa.LargeBinary, nullable=False),
    sa.Column("values", sa.LargeBinary, nullable=False),
    sa.Index(None, "run_id", "key", "id"),
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float, nullable=True),  # NULL stores NaN
    sa.Index(None, "key", "value"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column("name", sa.String(1024), primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "digest"),
)

# Dataset versions. ``latest_version`` is a counter bumped with one UPDATE, so concurrent writers
# serialise on that row (on SQLite and PostgreSQL alike) and never hand out a number twice.
datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", _BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("dataset_id", sa.BigInteger, sa.ForeignKey("datasets.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("content_digest", sa.String(64), nullable=False),
    sa.Column("blob_digest", sa.String(64), nullable=False),
    sa.Column("blob_size", sa.BigInteger, nullable=False),
    sa.Column("num_rows", sa.BigInteger, nullable=False),
    sa.Column("num_columns", sa.Integer, nullable=False),
    sa.Column("schema", sa.JSON, nullable=False),
    sa.Column("profile", sa.JSON, nullable=False),
    sa.Column("source", sa.Text, nullable=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=True),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("dataset_id", "version"),
    sa.UniqueConstraint("dataset_id", "content_digest"),
)

# Lineage: the dataset versions a run read.
run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column(
        "dataset_version_id",
        sa.String(26),
        sa.ForeignKey("dataset_versions.id"),
        primary_key=True,
    ),
    sa.Column("context", sa.String(64), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "dataset_version_id"),
)

registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("id", _BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("latest_version", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.String(26), primary_key=True),
    sa.Column("model_id", sa.BigInteger, sa.ForeignKey("registered_models.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("artifact_path", sa.String(1024), nullable=False),
    sa.Column("flavor", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(256), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("model_id", "version"),
    sa.Index(None, "run_id"),
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    sa.Column("version_id", sa.String(26), sa.ForeignKey("model_versions.id"), primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model_id", sa.BigInteger, sa.ForeignKey("registered_models.id"), primary_key=True),
    sa.Column("alias", sa.String(256), primary_key=True),
    sa.Column("version_id", sa.String(26), sa.ForeignKey("model_versions.id"), nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

# The audit trail: one row per change to a model, its versions or aliases; never updated.
model_events = sa.Table(
    "model_events",
    metadata,
    sa.Column("id", _BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.BigInteger, sa.ForeignKey("registered_models.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("user", sa.String(256), nullable=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "model_id", "id"),
)

# Pipeline step cache: a key (hash of code, params and input contents) to the stored outputs of
# the step run that first computed it. Rows are only ever inserted.
step_cache = sa.Table(
    "step_cache",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("step", sa.String(256), nullable=False),
    sa.Column("run_id", sa.String(26), sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("outputs", sa.JSON, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)
