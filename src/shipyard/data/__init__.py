"""Dataset versions: content-hashed Parquet with a schema and a profile, lineage, validation."""

from shipyard.data._api import (
    dataset_service,
    get_dataset,
    list_datasets,
    load_dataset,
    log_dataset,
    resolve_dataset,
    validate,
)
from shipyard.data._columns import ColumnSchema, DatasetSchema
from shipyard.data._profile import DatasetProfile
from shipyard.data._validate import Problem, ValidationReport
from shipyard.data._versions import DatasetService, DatasetSummary, DatasetVersion

__all__ = [
    "ColumnSchema",
    "DatasetProfile",
    "DatasetSchema",
    "DatasetService",
    "DatasetSummary",
    "DatasetVersion",
    "Problem",
    "ValidationReport",
    "dataset_service",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "log_dataset",
    "resolve_dataset",
    "validate",
]
