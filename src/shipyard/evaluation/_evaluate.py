"""``sy.evaluate``: score a model on labelled rows, and keep the result as a tracked run.

The model and the data may be named (``models:/churn@champion``, ``"churn-test@latest"``) or
handed over (a ``LoadedModel``, a DataFrame); either way the evaluation records what exactly
it scored (the resolved version, the data's content digest), so two evaluations can later be
compared row for row.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.evaluation._records import (
    EVALUATION_FILE,
    NAN,
    PREDICTIONS_FILE,
    TASKS,
    Evaluation,
    predictions_arrays,
    predictions_parquet,
)

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

    from shipyard.data import DatasetVersion
    from shipyard.models import LoadedModel

__all__ = ["evaluate", "load_evaluation"]

_DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
_MB = 1_000_000


@dataclass(frozen=True)
class _Model:
    """A model ready to predict, and where it came from (when it came from the store)."""

    loaded: LoadedModel
    uri: str
    name: str | None = None
    version: int | None = None
    run_id: str | None = None
    path: str | None = None


def evaluate(
    model: Any,
    data: Any,
    target: str,
    *,
    slices: tuple[str, ...] | list[str] = (),
    threshold: float = 0.5,
    task: str | None = None,
    log: bool = True,
    latency: bool = True,
) -> Evaluation:
    """Score ``model`` on ``data`` against its ``target`` column: metrics, slices, speed, size.

    ``model`` is a URI (``models:/churn/7``, ``models:/churn@champion``, ``runs:/RUN/PATH``),
    a registered ``ModelVersion`` or a ``LoadedModel``. ``data`` is a DataFrame, a CSV/Parquet
    path, a ``DatasetVersion`` or a dataset reference (``"churn"``, ``"churn:3"``,
    ``"churn@latest"``). The task is the model's (a classifier with two classes is binary)
    unless given. With ``log``, the evaluation is a run (a child of the active one, else in
    the ``evaluations`` experiment) from which ``load_evaluation`` rebuilds it.
    """
    import numpy as np

    from shipyard.data._frames import content_digest, normalize, to_arrow
    from shipyard.evaluation._metrics import (
        measure_latency,
        point_metrics,
        predict_rows,
        slice_labels,
        slice_metrics,
    )

    _check_options(task, threshold, slices)
    source = _open_model(model)
    frame, version = read_data(data)
    y_true = _target(frame, target)
    _check_slices(frame, slices)
    features = frame.drop(columns=[target])
    task, classes, y_true, y_pred, y_score = predict_rows(
        source.loaded, features, y_true, task, threshold
    )
    if version is not None:
        digest = version.content_digest  # the same digest the frame itself would hash to
    else:
        digest = content_digest(normalize(to_arrow(frame)))
    labels = {column: slice_labels(frame[column]) for column in slices}
    evaluation = Evaluation(
        model_uri=source.uri,
        model_name=source.name,
        model_version=source.version,
        dataset_ref=None if version is None else version.ref,
        data_digest=digest,
        task=task,
        n_rows=len(frame),
        metrics=point_metrics(task, y_true, y_pred, y_score, classes),
        slices={
            column: slice_metrics(task, y_true, y_pred, y_score, classes, *labels[column])
            for column in slices
        },
        latency=measure_latency(source.loaded.predict, features) if latency else {},
        size_mb=_size_mb(source),
        classes=classes,
        threshold=float(threshold) if task == "binary" else None,
        y_true=y_true,
        y_pred=y_pred,
        y_score=np.asarray(y_score, dtype=np.float64),
        slice_values={column: values for column, (values, _) in labels.items()},
    )
    return _log(evaluation, version) if log else evaluation


def _check_options(task: object, threshold: object, slices: object) -> None:
    if task is not None and task not in TASKS:
        raise InvalidInput(
            f"Unknown task {task!r}.", hint=f"Use one of {list(TASKS)}, or None to infer it."
        )
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise InvalidInput(f"threshold must be a number, got {type(threshold).__name__}.")
    if not 0 < threshold < 1:
        raise InvalidInput(
            f"threshold must lie strictly between 0 and 1, got {threshold}.",
            hint="It is the positive-class probability from which a row is labelled positive.",
        )
    if not isinstance(slices, (list, tuple)) or not all(isinstance(c, str) for c in slices):
        raise InvalidInput(
            f"slices must be a list of column names, got {slices!r}.",
            hint="For example: slices=['plan', 'age'].",
        )


def _open_model(model: Any) -> _Model:
    from shipyard.models import LoadedModel, ModelRef
    from shipyard.registry import ModelVersion, load_model, parse_model_uri, registry_service
    from shipyard.registry._uris import RunModelUri

    if isinstance(model, LoadedModel):
        return _Model(model, f"memory:{model.flavor}")
    if isinstance(model, ModelRef):
        model = model.uri
    if isinstance(model, str):
        parsed = parse_model_uri(model)
        if isinstance(parsed, RunModelUri):
            service = registry_service().tracking
            run_id = service.resolve_run_id(parsed.run_id)
            loaded = load_model(f"runs:/{run_id}/{parsed.artifact_path}")
            uri = f"runs:/{run_id}/{parsed.artifact_path}"
            return _Model(loaded, uri, run_id=run_id, path=parsed.artifact_path)
        model = registry_service().resolve(parsed)  # an alias is pinned to its version now
    if isinstance(model, ModelVersion):
        return _Model(
            load_model(model),
            model.uri,
            name=model.name,
            version=model.version,
            run_id=model.run_id,
            path=model.artifact_path,
        )
    raise InvalidInput(
        f"Cannot evaluate a {type(model).__name__}.",
        hint="Pass a model URI (models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN/PATH), "
        "a ModelVersion or a LoadedModel from sy.load_model.",
    )


def read_data(data: Any) -> tuple[pd.DataFrame, DatasetVersion | None]:
    """The rows to score as pandas, and the dataset version they are, when they are one."""
    from shipyard.data import DatasetVersion, dataset_service, resolve_dataset
    from shipyard.data._frames import read_table, to_arrow, to_pandas

    if isinstance(data, str) and not is_data_path(data):
        data = resolve_dataset(data)
    if isinstance(data, DatasetVersion):
        return to_pandas(dataset_service().load(data)), data
    if isinstance(data, (str, os.PathLike)):
        return to_pandas(read_table(os.fspath(data))), None
    if type(data).__name__ == "DataFrame" and type(data).__module__.startswith("pandas"):
        return data.reset_index(drop=True), None
    return to_pandas(to_arrow(data)), None


def is_data_path(text: str) -> bool:
    lowered = text.lower()
    return (
        lowered.endswith(_DATA_SUFFIXES)
        or any(mark in text for mark in ("/", "\\", "://"))
        or os.path.exists(text)
    )


def _target(frame: pd.DataFrame, target: object) -> npt.NDArray[Any]:
    if not isinstance(target, str) or target not in frame.columns:
        raise InvalidInput(
            f"The data has no target column {target!r}.",
            hint=f"Name one of its columns: {_columns(frame)}.",
        )
    if not len(frame):
        raise InvalidInput("The data has no rows to evaluate on.")
    column = frame[target]
    missing = int(column.isna().sum())
    if missing:
        raise InvalidInput(
            f"The target column {target!r} has {missing} missing value(s).",
            hint="Drop the unlabelled rows before evaluating.",
        )
    values: npt.NDArray[Any] = column.to_numpy()
    return values


def _check_slices(frame: pd.DataFrame, slices: tuple[str, ...] | list[str]) -> None:
    missing = [column for column in slices if column not in frame.columns]
    if missing:
        raise InvalidInput(
            f"Cannot slice by {missing}: the data has no such column(s).",
            hint=f"Name some of its columns: {_columns(frame)}.",
        )


def _columns(frame: pd.DataFrame, shown: int = 12) -> str:
    names = [str(name) for name in frame.columns]
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _size_mb(source: _Model) -> float:
    """Megabytes (10^6 bytes) of the model's stored files; NaN for a model given in memory."""
    if source.run_id is None:
        return NAN
    from shipyard.tracking import tracking_service

    prefix = f"{source.path}/"
    records = tracking_service().list_artifacts(source.run_id)
    return sum(r.size for r in records if r.name.startswith(prefix)) / _MB


def _log(evaluation: Evaluation, version: DatasetVersion | None) -> Evaluation:
    """Record the evaluation as a run: metrics, the JSON summary and the predictions."""
    import json
    import math
    from dataclasses import replace

    from shipyard.data import dataset_service
    from shipyard.tracking import active_run, start_run

    tags = {
        "shipyard.kind": "evaluation",
        "shipyard.model_uri": evaluation.model_uri,
        "shipyard.dataset": evaluation.dataset_ref or f"digest:{evaluation.data_digest[:12]}",
        "shipyard.data_digest": evaluation.data_digest,
        "shipyard.task": evaluation.task,
    }
    experiment = None if active_run() is not None else "evaluations"
    name = f"evaluate {evaluation.model_uri}"
    with start_run(experiment, name=name, tags=tags) as run:
        evaluation = replace(evaluation, run_id=run.id)
        metrics = {f"eval.{key}": value for key, value in evaluation.metrics.items()}
        metrics.update({f"latency.{key}": value for key, value in evaluation.latency.items()})
        if math.isfinite(evaluation.size_mb):
            metrics["size_mb"] = evaluation.size_mb
        run.log_metrics(metrics)
        summary = json.dumps(evaluation.to_dict(), indent=2, allow_nan=False)
        run.log_artifact(summary.encode(), EVALUATION_FILE)
        run.log_artifact(predictions_parquet(evaluation), PREDICTIONS_FILE)
        if version is not None:
            dataset_service().link_input(run.id, version.id, "evaluation")
    return evaluation


def load_evaluation(run_id: str) -> Evaluation:
    """The evaluation an ``evaluate`` run recorded, arrays included, ready to ``compare``."""
    import json

    from shipyard.tracking import tracking_service

    service = tracking_service()
    run_id = service.resolve_run_id(run_id)
    try:
        summary = json.loads(service.get_artifact(run_id, EVALUATION_FILE))
        predictions = service.get_artifact(run_id, PREDICTIONS_FILE)
    except NotFound:
        raise NotFound(
            f"Run {run_id} holds no evaluation.",
            hint="Pass the run of an evaluation: Evaluation.run_id, or a run tagged "
            "shipyard.kind=evaluation.",
        ) from None
    return Evaluation.from_dict(summary, **predictions_arrays(predictions))
