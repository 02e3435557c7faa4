"""The module-level dataset API: ``sy.log_dataset``, ``sy.load_dataset``, ``sy.validate``."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput
from shipyard.data._columns import DatasetSchema
from shipyard.data._frames import read_table, to_arrow, to_pandas
from shipyard.data._validate import ValidationReport, validate_table
from shipyard.data._versions import DatasetService, DatasetSummary, DatasetVersion
from shipyard.tracking import Run, active_run, tracking_service

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "dataset_service",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "log_dataset",
    "resolve_dataset",
    "validate",
]

_FORMATS = ("pandas", "arrow", "polars")


def dataset_service(workspace: str | os.PathLike[str] | None = None) -> DatasetService:
    return DatasetService(tracking_service(workspace))


def log_dataset(
    data: object,
    name: str,
    *,
    run: Run | str | None = None,
    context: str = "training",
    description: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> DatasetVersion:
    """Version a DataFrame, Arrow table or CSV/Parquet file (local or ``s3://…``) as ``name``.

    The same data logged twice is the same version. The run (default: the active one, if any)
    records the version as an input under ``context``.
    """
    run_id = _run_id(run)
    return dataset_service().log(
        data,
        name,
        run_id=run_id,
        context=context,
        description=description,
        storage_options=storage_options,
    )


def get_dataset(name: str, version: int | None = None) -> DatasetVersion:
    """A dataset version's record (schema, profile, digest) without reading its data."""
    return dataset_service().get(name, version)


_REF = re.compile(r"^(?P<name>[^:@/\\]+)(?:[:@](?P<version>\d+|latest))?$")


def resolve_dataset(ref: str) -> DatasetVersion:
    """The version a reference names: NAME or NAME@latest (newest), NAME:3 or NAME@3."""
    found = _REF.fullmatch(ref) if isinstance(ref, str) else None
    if found is None:
        raise InvalidInput(
            f"Cannot read {ref!r} as a dataset reference.",
            hint="Use NAME, NAME@latest, NAME:VERSION or NAME@VERSION.",
        )
    number = found["version"]
    return get_dataset(found["name"], None if number in (None, "latest") else int(number))


def list_datasets() -> list[DatasetSummary]:
    return dataset_service().summaries()


def load_dataset(
    name: str, version: int | None = None, *, format: str = "pandas", run: Run | str | None = None
) -> Any:
    """Read a dataset version (default: the newest) as pandas, Arrow or polars.

    Loading inside a run records the version as one of the run's inputs.
    """
    if format not in _FORMATS:
        raise InvalidInput(
            f"Unknown format {format!r}.", hint=f"Use one of: {', '.join(_FORMATS)}."
        )
    service = dataset_service()
    dataset = service.get(name, version)
    run_id = _run_id(run)
    if run_id is not None:
        service.link_input(service.tracking.resolve_run_id(run_id), dataset.id, "input")
    table = service.load(dataset)
    if format == "arrow":
        return table
    if format == "polars":
        import polars as pl

        return pl.from_arrow(table)
    return to_pandas(table)


def validate(
    data: object,
    against: DatasetVersion | DatasetSchema | str,
    *,
    version: int | None = None,
    null_rate_tolerance: float = 0.1,
) -> ValidationReport:
    """Check ``data`` against a dataset version (schema and profile) or a bare schema.

    ``against`` may be a dataset name (its newest version, or ``version``).
    """
    if isinstance(against, str):
        against = get_dataset(against, version)
    if isinstance(against, DatasetVersion):
        schema, profile = against.schema, against.profile
    elif isinstance(against, DatasetSchema):
        schema, profile = against, None
    else:
        raise InvalidInput(
            f"validate() checks against a dataset version, a schema or a dataset name, "
            f"got {type(against).__name__}.",
            hint="For example: sy.validate(df, against='churn').",
        )
    table = _as_table(data)
    return validate_table(table, schema, profile, null_rate_tolerance=null_rate_tolerance)


def _as_table(data: object) -> pa.Table:
    if isinstance(data, (str, os.PathLike)):
        return read_table(os.fspath(data))
    return to_arrow(data)


def _run_id(run: Run | str | None) -> str | None:
    if isinstance(run, Run):
        return run.id
    if run is None:
        current = active_run()
        return None if current is None else current.id
    return run
