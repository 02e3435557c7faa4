"""A model's performance in production: realized once labels arrive, and how far it fell.

:func:`realized_performance` scores the labelled rows of :func:`join_feedback`'s frame with the
evaluation's own :func:`~shipyard.evaluation._metrics.point_metrics`, so production numbers and
the numbers a model was gated on are the same functions of the same arrays. Per time window of
the prediction's ``ts`` it reports how many rows were labelled: with delayed labels a recent
window's metrics rest on few rows, and its coverage says so. Before labels arrive,
:func:`~shipyard.monitor._estimate.estimate_performance` fills the same report with expected
values. :func:`compare_with_reference` turns either into drops for alert rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from shipyard.core.errors import InvalidInput
from shipyard.evaluation._metrics import MIN_AUC_ROWS, point_metrics
from shipyard.evaluation._records import HIGHER_IS_BETTER, json_number
from shipyard.monitor._logged import (
    as_numbers,
    as_text,
    check_task,
    classifier_outputs,
    performance_frame,
    window_positions,
)

__all__ = [
    "PerformanceReport",
    "ReportKind",
    "WindowPerformance",
    "compare_with_reference",
    "realized_performance",
]

ReportKind = Literal["realized", "estimated"]
Array = npt.NDArray[Any]


@dataclass(frozen=True)
class WindowPerformance:
    """The metrics of one time window, starting at ``start`` (UTC)."""

    start: pd.Timestamp
    n_rows: int
    n_labeled: int
    metrics: dict[str, float]

    @property
    def label_coverage(self) -> float:
        return self.n_labeled / self.n_rows if self.n_rows else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "n_rows": self.n_rows,
            "n_labeled": self.n_labeled,
            "label_coverage": json_number(self.label_coverage),
            "metrics": {name: json_number(value) for name, value in self.metrics.items()},
        }


@dataclass(frozen=True)
class PerformanceReport:
    """Metrics over all rows and per window: ``realized`` from labels (labelled rows only) or
    ``estimated`` from probabilities (every row)."""

    kind: ReportKind
    task: str
    n_rows: int
    n_labeled: int
    metrics: dict[str, float]
    freq: str | None = None
    windows: list[WindowPerformance] = field(default_factory=list)

    @property
    def label_coverage(self) -> float:
        return self.n_labeled / self.n_rows if self.n_rows else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; NaN and infinite numbers become ``None``."""
        return {
            "kind": self.kind,
            "task": self.task,
            "n_rows": self.n_rows,
            "n_labeled": self.n_labeled,
            "label_coverage": json_number(self.label_coverage),
            "metrics": {name: json_number(value) for name, value in self.metrics.items()},
            "freq": self.freq,
            "windows": [window.to_dict() for window in self.windows],
        }


def realized_performance(
    joined: pd.DataFrame | pa.Table, task: str, *, freq: str | None = None
) -> PerformanceReport:
    """The ``task``'s metrics (``"binary"``, ``"multiclass"``, ``"regression"``) on the rows
    that have a label, overall and, with ``freq`` (``"1h"``, ``"1D"``), per window.

    Binary scores are the logged probability of ``classes[1]``, predictions the logged ones
    (the threshold production used). A window without labels has no metrics; one under
    ``MIN_AUC_ROWS`` labelled rows has no ROC or PR AUC.
    """
    check_task(task)
    frame = performance_frame(joined)
    if "label" not in frame.columns:
        raise InvalidInput(
            "The rows have no label column.",
            hint="Join the labels first: join_feedback(log, feedback).",
        )
    labeled = frame["label"].notna().to_numpy()
    if not labeled.any():
        raise InvalidInput(
            f"None of the {len(frame)} rows has a label yet.",
            hint="Wait for feedback, or estimate a classifier's performance with "
            "estimate_performance.",
        )
    y_true, y_pred, y_score, classes = _metric_arrays(frame[labeled], task)
    label_index = np.cumsum(labeled) - 1  # a row's position among the labelled rows
    windows = []
    for start, positions in window_positions(frame["ts"], freq):
        rows = label_index[positions[labeled[positions]]]
        values = (
            point_metrics(
                task, y_true[rows], y_pred[rows], y_score[rows], classes, min_auc_rows=MIN_AUC_ROWS
            )
            if len(rows)
            else {}
        )
        windows.append(WindowPerformance(start, len(positions), len(rows), values))
    return PerformanceReport(
        kind="realized",
        task=task,
        n_rows=len(frame),
        n_labeled=int(labeled.sum()),
        metrics=point_metrics(task, y_true, y_pred, y_score, classes),
        freq=freq,
        windows=windows,
    )


def _metric_arrays(rows: pd.DataFrame, task: str) -> tuple[Array, Array, Array, list[str] | None]:
    """(y_true, y_pred, y_score, classes) as :func:`point_metrics` takes them."""
    if task == "regression":
        y_true = as_numbers(rows["label"], "labels")
        y_pred = as_numbers(rows["prediction"], "predictions")
        if not (np.isfinite(y_true).all() and np.isfinite(y_pred).all()):
            raise InvalidInput("Regression labels and predictions must be finite numbers.")
        return y_true, y_pred, y_pred, None
    outputs = classifier_outputs(rows, task)
    y_true = as_text(rows["label"], "labels")
    unknown = ~np.isin(y_true, outputs.classes)
    if unknown.any():
        raise InvalidInput(
            f"{int(unknown.sum())} labels are not among the model's classes {outputs.classes}, "
            f"e.g. {y_true[unknown][0]!r}.",
            hint="Labels are compared with the classes as text; send them as the model's "
            "classes are written.",
        )
    if task == "binary":
        return y_true, outputs.predicted, outputs.proba[:, 1], outputs.classes
    # scikit-learn's log loss takes probability columns in sorted label order.
    order = np.argsort(outputs.classes)
    return y_true, outputs.predicted, outputs.proba[:, order], sorted(outputs.classes)


class _HasMetrics(Protocol):
    @property
    def metrics(self) -> Mapping[str, float]: ...


def compare_with_reference(
    current: Mapping[str, float | None] | _HasMetrics,
    reference: Mapping[str, float | None] | _HasMetrics,
    *,
    higher_is_better: Mapping[str, bool] | None = None,
) -> dict[str, float | None]:
    """``{metric}_drop`` for each metric both have: positive when ``current`` is worse (a fall
    of a higher-is-better metric, a rise of log loss, Brier, RMSE or MAE), so that alert rules
    read ``roc_auc_drop > 0.05`` whatever the metric. ``None`` where either value is missing.

    Either side is a metrics mapping or a report with ``metrics``; ``higher_is_better`` names
    the direction of metrics the evaluation does not know.
    """
    now, then = _metrics_of(current, "current"), _metrics_of(reference, "reference")
    directions = {**HIGHER_IS_BETTER, **(higher_is_better or {})}
    shared = [name for name in then if name in now]
    if not shared:
        raise InvalidInput(
            f"No metric in common: current has {sorted(now)}, reference {sorted(then)}.",
            hint="Compare reports of the same task.",
        )
    unknown = [name for name in shared if name not in directions]
    if unknown:
        raise InvalidInput(
            f"Unknown direction for {unknown}.",
            hint="Pass higher_is_better={name: True or False} for them.",
        )
    out: dict[str, float | None] = {}
    for name in shared:
        a, b = now[name], then[name]
        if a is None or b is None:
            out[f"{name}_drop"] = None
        else:
            out[f"{name}_drop"] = json_number(b - a if directions[name] else a - b)
    return out


def _metrics_of(
    value: Mapping[str, float | None] | _HasMetrics, what: str
) -> Mapping[str, float | None]:
    metrics = value if isinstance(value, Mapping) else getattr(value, "metrics", None)
    if not isinstance(metrics, Mapping):
        raise InvalidInput(
            f"The {what} metrics must be a mapping or a report, got {type(value).__name__}."
        )
    return metrics
