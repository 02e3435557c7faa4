"""What evaluations and comparisons hand out: plain frozen records that round-trip through JSON.

No numpy at import time: ``shipyard.evaluation`` is imported by the CLI, and the arrays these
records carry only exist once a model has been evaluated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "EVALUATION_FILE",
    "HIGHER_IS_BETTER",
    "NAN",
    "PREDICTIONS_FILE",
    "PRIMARY_METRIC",
    "SLICE_PREFIX",
    "TASKS",
    "TASK_METRICS",
    "Comparison",
    "Evaluation",
    "MetricDelta",
    "SliceDelta",
    "Verdict",
    "json_number",
    "predictions_arrays",
    "predictions_parquet",
]

EVALUATION_FILE = "evaluation/evaluation.json"
PREDICTIONS_FILE = "evaluation/predictions.parquet"
SLICE_PREFIX = "slice:"  # predictions.parquet: the slice label column of each slice column

TASKS = ("binary", "multiclass", "regression")

TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1", "precision", "recall"),
    "multiclass": ("accuracy", "macro_f1", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}

# The metric a comparison ranks slices by and a summary names first.
PRIMARY_METRIC: dict[str, str] = {
    "binary": "roc_auc",
    "multiclass": "accuracy",
    "regression": "rmse",
}

# Which way is up, so that a delta can be called better or worse.
HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "pr_auc": True,
    "accuracy": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "macro_f1": True,
    "r2": True,
    "log_loss": False,
    "brier": False,
    "rmse": False,
    "mae": False,
}


class Verdict(StrEnum):
    """What a paired bootstrap says about a challenger's metric against the champion's."""

    BETTER = "better"
    WORSE = "worse"
    NO_DIFFERENCE = "no significant difference"


def json_number(value: float | None) -> float | None:
    """``value`` as strict JSON allows it: NaN and infinities become null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


# One NaN object: tuples compare items by identity first, so records holding it compare equal.
NAN = float("nan")


def _number(value: Any) -> float:
    return NAN if value is None else float(value)


@dataclass(frozen=True)
class Evaluation:
    """One model scored on one set of rows: its metrics overall and per slice, its speed and size.

    The arrays (``y_true``, ``y_pred``, ``y_score``, ``slice_values``) stay in memory and in the
    evaluation run's ``predictions.parquet``; they are what ``compare`` resamples.
    ``y_score`` is the positive-class probability (binary), the class-probability matrix
    (multiclass) or the prediction (regression). A model handed over already loaded has no
    stored files: its ``model_uri`` is ``memory:<flavor>`` and its ``size_mb`` NaN.
    """

    model_uri: str
    model_name: str | None
    model_version: int | None
    dataset_ref: str | None
    data_digest: str
    task: str
    n_rows: int
    metrics: dict[str, float]
    slices: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    size_mb: float = NAN
    run_id: str | None = None
    classes: list[Any] | None = None
    threshold: float | None = None  # binary: the positive-class probability cut for labels
    y_true: npt.NDArray[Any] | None = field(default=None, repr=False, compare=False)
    y_pred: npt.NDArray[Any] | None = field(default=None, repr=False, compare=False)
    y_score: npt.NDArray[np.float64] | None = field(default=None, repr=False, compare=False)
    slice_values: dict[str, npt.NDArray[Any]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the arrays; NaN becomes null."""
        return {
            "model_uri": self.model_uri,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "dataset_ref": self.dataset_ref,
            "data_digest": self.data_digest,
            "task": self.task,
            "n_rows": self.n_rows,
            "metrics": {k: json_number(v) for k, v in self.metrics.items()},
            "slices": {
                column: {
                    value: {k: json_number(v) for k, v in values.items()}
                    for value, values in groups.items()
                }
                for column, groups in self.slices.items()
            },
            "latency": {k: json_number(v) for k, v in self.latency.items()},
            "size_mb": json_number(self.size_mb),
            "run_id": self.run_id,
            "classes": self.classes,
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], **arrays: Any) -> Evaluation:
        """The record ``to_dict`` wrote; ``arrays`` are the in-memory fields, when known."""
        return cls(
            model_uri=data["model_uri"],
            model_name=data.get("model_name"),
            model_version=data.get("model_version"),
            dataset_ref=data.get("dataset_ref"),
            data_digest=data["data_digest"],
            task=data["task"],
            n_rows=int(data["n_rows"]),
            metrics={k: _number(v) for k, v in data["metrics"].items()},
            slices={
                column: {
                    value: {k: _number(v) for k, v in values.items()}
                    for value, values in groups.items()
                }
                for column, groups in data.get("slices", {}).items()
            },
            latency={k: _number(v) for k, v in data.get("latency", {}).items()},
            size_mb=_number(data.get("size_mb")),
            run_id=data.get("run_id"),
            classes=data.get("classes"),
            threshold=data.get("threshold"),
            **arrays,
        )


@dataclass(frozen=True)
class MetricDelta:
    """One metric, champion against challenger: the delta, its bootstrap interval and verdict."""

    metric: str
    champion: float
    challenger: float
    delta: float  # challenger - champion
    ci_low: float
    ci_high: float
    higher_is_better: bool
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "champion": json_number(self.champion),
            "challenger": json_number(self.challenger),
            "delta": json_number(self.delta),
            "ci_low": json_number(self.ci_low),
            "ci_high": json_number(self.ci_high),
            "higher_is_better": self.higher_is_better,
            "verdict": self.verdict.value,
        }


@dataclass(frozen=True)
class SliceDelta:
    """The primary metric on one slice (``column`` = ``value``), champion against challenger."""

    column: str
    value: str
    metric: str
    champion: float
    challenger: float
    delta: float  # challenger - champion
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "value": self.value,
            "metric": self.metric,
            "champion": json_number(self.champion),
            "challenger": json_number(self.challenger),
            "delta": json_number(self.delta),
            "n": self.n,
        }


@dataclass(frozen=True)
class Comparison:
    """A challenger against the champion on the same rows: paired deltas, overall and per slice.

    ``worst_slice`` is the slice where the challenger's own primary metric is worst (lowest
    AUC or accuracy, highest RMSE): the first place to look before promoting it.
    """

    champion_uri: str
    challenger_uri: str
    task: str
    primary_metric: str
    deltas: dict[str, MetricDelta]
    slice_deltas: list[SliceDelta]
    worst_slice: SliceDelta | None
    n_resamples: int
    seed: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "champion_uri": self.champion_uri,
            "challenger_uri": self.challenger_uri,
            "task": self.task,
            "primary_metric": self.primary_metric,
            "deltas": {name: delta.to_dict() for name, delta in self.deltas.items()},
            "slice_deltas": [delta.to_dict() for delta in self.slice_deltas],
            "worst_slice": None if self.worst_slice is None else self.worst_slice.to_dict(),
            "n_resamples": self.n_resamples,
            "seed": self.seed,
            "confidence": self.confidence,
        }


def predictions_parquet(evaluation: Evaluation) -> bytes:
    """The evaluation's arrays as one Parquet file: ``y_true``, ``y_pred``, ``y_score`` (a
    fixed-size list per row for multiclass) and a ``slice:<column>`` label column per slice."""
    import numpy as np
    import pyarrow as pa

    from shipyard.data._frames import to_parquet_bytes

    score = np.asarray(evaluation.y_score, dtype=np.float64)
    if score.ndim == 2:
        score_column = pa.FixedSizeListArray.from_arrays(pa.array(score.ravel()), score.shape[1])
    else:
        score_column = pa.array(score)
    columns = {
        "y_true": pa.array(evaluation.y_true),
        "y_pred": pa.array(evaluation.y_pred),
        "y_score": score_column,
    }
    for column, labels in evaluation.slice_values.items():
        columns[f"{SLICE_PREFIX}{column}"] = pa.array(labels, type=pa.string())
    return to_parquet_bytes(pa.table(columns))


def predictions_arrays(data: bytes) -> dict[str, Any]:
    """The in-memory fields of an ``Evaluation`` from what ``predictions_parquet`` wrote."""
    import pyarrow as pa

    from shipyard.data._frames import from_parquet_bytes

    table = from_parquet_bytes(data)
    score = table.column("y_score").combine_chunks()
    if pa.types.is_fixed_size_list(score.type):
        y_score = score.flatten().to_numpy().reshape(len(score), score.type.list_size)
    else:
        y_score = score.to_numpy()
    return {
        "y_true": table.column("y_true").to_numpy(),
        "y_pred": table.column("y_pred").to_numpy(),
        "y_score": y_score,
        "slice_values": {
            name[len(SLICE_PREFIX) :]: table.column(name).to_numpy()
            for name in table.column_names
            if name.startswith(SLICE_PREFIX)
        },
    }
