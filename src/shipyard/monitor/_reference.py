"""The reference side of a monitor run, found from the model version's lineage.

By default the reference is the profile of the dataset version the model was trained on — stored
when the dataset was logged, so a monitor run never reloads the training data. What the model said
on its held-out rows (``evaluation/predictions.parquet``, logged by the tabular solution) is the
reference for prediction drift and the set the confidence calibration is checked on; the
version's ``test.*`` metrics are the performance it is compared with.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.data import DatasetSchema, DatasetVersion
    from shipyard.data._profile import DatasetProfile
    from shipyard.registry import ModelVersion, RegistryService

__all__ = ["HELD_OUT_PREDICTIONS", "Reference", "model_reference", "task_of"]

HELD_OUT_PREDICTIONS = "evaluation/predictions.parquet"
_TEST_PREFIX = "test."


@dataclass(frozen=True)
class Reference:
    """What production is compared with: a profile (or data), the model's inputs and target,
    its held-out predictions and metrics."""

    kind: str  # "profile" or "data"
    ref: str | None  # "dataset:version", when it is a dataset version
    schema: DatasetSchema | None
    profile: DatasetProfile | None
    data: pd.DataFrame | None
    inputs: tuple[str, ...]  # the model's input columns the reference has
    target: str | None
    task: str | None  # binary, multiclass, regression; None when unknown
    classes: tuple[str, ...] | None
    held_out: pd.DataFrame | None  # actual, predicted, proba_<class> of the held-out rows
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def drift_reference(self) -> Any:
        return self.profile if self.kind == "profile" else self.data

    def to_dict(self) -> dict[str, Any]:
        rows = None
        if self.profile is not None:
            rows = self.profile.num_rows
        elif self.data is not None:
            rows = len(self.data)
        return {"kind": self.kind, "ref": self.ref, "rows": rows, "target": self.target}


def task_of(meta: dict[str, Any]) -> tuple[str | None, tuple[str, ...] | None]:
    """The task and class labels (as text) a logged model's metadata tells."""
    flavor_meta = meta.get("flavor_meta") or {}
    classes = flavor_meta.get("classes")
    if classes:
        labels = tuple(str(c) for c in classes)
        return ("binary" if len(labels) == 2 else "multiclass"), labels
    return ("regression" if "classes" in flavor_meta else None), None


def model_reference(
    registry: RegistryService, version: ModelVersion, override: Any = None
) -> Reference:
    """The reference of ``version``: ``override`` (a dataset ref such as ``churn:3``, a
    :class:`~shipyard.data.DatasetVersion` or a DataFrame) or else its training dataset."""
    from shipyard.models._ref import MODEL_META_FILE

    meta = json.loads(
        registry.tracking.get_artifact(version.run_id, f"{version.artifact_path}/{MODEL_META_FILE}")
    )
    inputs = [c["name"] for c in meta.get("signature", {}).get("inputs", {}).get("columns", ())]
    task, classes = task_of(meta)
    metrics = {
        key[len(_TEST_PREFIX) :]: value
        for key, value in version.metrics.items()
        if key.startswith(_TEST_PREFIX) and value is not None
    }
    held_out = _held_out(registry, version)

    if override is not None and not isinstance(override, str) and hasattr(override, "columns"):
        frame = override
        present = tuple(c for c in inputs if c in frame.columns) or tuple(map(str, frame.columns))
        target = _target(inputs, [str(c) for c in frame.columns])
        return Reference(
            "data", None, None, None, frame, present, target, task, classes, held_out, metrics
        )
    dataset = _dataset_of(version, override)
    names = list(dataset.schema.names)
    present = tuple(c for c in inputs if c in names) if inputs else tuple(names)
    if not present:
        raise InvalidInput(
            f"The reference {dataset.ref} has none of the inputs of {version.uri} "
            f"({', '.join(inputs[:8])}).",
            hint="Pass the dataset the model was trained on with --reference NAME:VERSION.",
        )
    return Reference(
        "profile",
        dataset.ref,
        dataset.schema,
        dataset.profile,
        None,
        present,
        _target(inputs, names),
        task,
        classes,
        held_out,
        metrics,
    )


def _dataset_of(version: ModelVersion, override: Any) -> DatasetVersion:
    from shipyard.data import DatasetVersion, resolve_dataset

    if isinstance(override, DatasetVersion):
        return override
    if isinstance(override, str):
        return resolve_dataset(override)
    if override is not None:
        raise InvalidInput(
            f"A reference is a dataset ref, a dataset version or a DataFrame, "
            f"got {type(override).__name__}.",
            hint="For example reference='churn:3'.",
        )
    if not version.datasets:
        raise NotFound(
            f"{version.uri} has no training dataset in its lineage, so there is no reference.",
            hint="Log the training data with run.log_dataset(...), or pass --reference "
            "NAME:VERSION.",
        )
    # A run may read several dataset versions; the training one is logged first by convention
    # of the tabular solution, and is the only one in the common case.
    return resolve_dataset(version.datasets[0])


def _target(inputs: list[str], columns: list[str]) -> str | None:
    left = [c for c in columns if c not in inputs]
    return left[0] if inputs and len(left) == 1 else None


def _held_out(registry: RegistryService, version: ModelVersion) -> pd.DataFrame | None:
    import pandas as pd

    try:
        data = registry.tracking.get_artifact(version.run_id, HELD_OUT_PREDICTIONS)
    except NotFound:
        return None
    return pd.read_parquet(io.BytesIO(data))
