"""One monitor run: production data against the model's reference, judged, stored and alerted.

``monitor("churn", window="1h")`` reads the last hour of the ``churn`` deployment's inference
log, compares its inputs with the training data's profile (drift and data quality), its
predictions with the held-out predictions (prediction drift), joins the labels that arrived
(performance, target drift) and estimates performance where labels have not arrived yet. The
workspace's alert rules are judged on the numbers, the run is stored as a tracking run of the
``monitor`` experiment with an HTML report, alerts go to the configured sinks, and a matching
retrain policy starts retraining.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.monitor._drift import DriftReport, FeatureDrift, detect_drift
from shipyard.monitor._quality import check_quality
from shipyard.monitor._reference import Reference, model_reference
from shipyard.monitor._result import MonitorResult
from shipyard.monitor._window import LoggedWindow, Window, read_window

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.monitor._config import MonitorConfig
    from shipyard.registry import ModelVersion, RegistryService

__all__ = ["monitor"]


def monitor(
    target: str,
    *,
    window: str | timedelta | None = None,
    last_requests: int | None = None,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    current: Any = None,
    reference: Any = None,
    deployment: str | None = None,
    config: MonitorConfig | None = None,
    store: bool = True,
    notify: bool = True,
    retrain: bool = True,
) -> MonitorResult:
    """Monitor a deployment (its name) or a model (``models:/NAME@ALIAS``) and return what
    was found.

    The current data is a window of the inference log — ``window`` (``"1h"``; default: the
    workspace's ``[monitor] window``), ``last_requests`` or ``since``/``until`` — or ``current``
    (a dataset ref or a DataFrame). The reference is the model version's training dataset
    profile unless ``reference`` names a dataset version or gives a DataFrame.
    ``store=False`` keeps the run out of the workspace, ``notify=False`` sends no alert and
    ``retrain=False`` never retrains.
    """
    from shipyard.monitor._config import workspace_monitor_config
    from shipyard.registry import registry_service

    started, clock = datetime.now(UTC), time.perf_counter()
    config = config or workspace_monitor_config()
    if window is None and last_requests is None and since is None and current is None:
        if config.last_requests is None:
            window = config.window
        else:
            last_requests = config.last_requests
    span = Window.parse(window, last_requests=last_requests, since=since, until=until)
    registry = registry_service()
    version, logged, deployment = _current_side(registry, target, deployment, span, current)
    ref = model_reference(registry, version, reference)
    if current is not None:
        target_kind, frame = "dataset", _frame_of(current)
    else:
        assert logged is not None
        target_kind = "model" if target.startswith("models:/") else "deployment"
        frame = logged.inputs.to_pandas()

    result = MonitorResult(
        target=target,
        target_kind=target_kind,
        model={"name": version.name, "version": version.version, "uri": version.uri},
        reference=ref.to_dict(),
        window=_window_dict(span, logged, current, len(frame)),
        started_at=started.isoformat(timespec="seconds"),
    )
    if len(frame) == 0:
        result.notes.append(f"No predictions were logged for {deployment!r} in the window.")
    else:
        _measure(result, ref, frame, logged, deployment, config)
    _judge(result, config)
    result.duration_s = round(time.perf_counter() - clock, 3)
    if store:
        from shipyard.monitor._store import store_result

        store_result(result, config, notify=notify, retrain=retrain)
    return result


def _current_side(
    registry: RegistryService,
    target: str,
    deployment: str | None,
    span: Window,
    current: Any,
) -> tuple[ModelVersion, LoggedWindow | None, str]:
    """The model version watched, the logged window (unless ``current`` replaces it) and the
    deployment's name."""
    from shipyard.core.config import resolve_settings

    if not isinstance(target, str) or not target:
        raise InvalidInput(f"target must be a deployment name or a models:/ URI, got {target!r}.")
    version = registry.resolve(target) if target.startswith("models:/") else None
    deployment = deployment or (version.name if version is not None else target)
    logged = None
    if current is None:
        pinned = None if version is None else (version.name, version.version)
        logged = read_window(resolve_settings().artifacts, deployment, span, model=pinned)
        if version is None and logged.model_name is not None:
            assert logged.model_version is not None
            version = registry.get_version(logged.model_name, logged.model_version)
    if version is None:
        try:
            version = registry.resolve(f"models:/{target}@champion")
        except NotFound:
            raise NotFound(
                f"{target!r} has logged no predictions in the window, and no model named "
                f"{target!r} has a champion.",
                hint="Name a deployment that serves traffic, or a model as models:/NAME@ALIAS; "
                "widen the window with --window 7d.",
            ) from None
    return version, logged, deployment


def _measure(
    result: MonitorResult,
    ref: Reference,
    frame: pd.DataFrame,
    logged: LoggedWindow | None,
    deployment: str,
    config: MonitorConfig,
) -> None:
    columns = [c for c in ref.inputs if c in frame.columns]
    if not columns:
        raise InvalidInput(
            f"The current data has none of the model's inputs ({', '.join(ref.inputs[:8])}).",
            hint="Monitor the data the model is given.",
        )
    missing = [c for c in ref.inputs if c not in frame.columns]
    if missing:
        result.notes.append(f"Inputs missing from the current data: {', '.join(missing)}.")
    result.drift = detect_drift(
        ref.drift_reference,
        frame,
        columns=columns,
        methods={c: m for c, m in config.methods.items() if c in columns},
        thresholds={c: t for c, t in config.thresholds.items() if c in columns},
    )
    if ref.schema is not None:
        import pyarrow as pa

        inputs = logged.inputs if logged is not None else pa.Table.from_pandas(frame[columns])
        result.quality = check_quality(inputs, ref.schema, ref.profile, columns)
    if logged is None:
        return
    predictions = logged.log.column("prediction").to_pandas()
    result.prediction_drift = _series_drift(ref, ref_column="predicted", current=predictions)
    from shipyard.monitor._live_performance import performance_section

    labels, performance = performance_section(ref, logged, deployment)
    result.performance = performance
    if labels is not None and len(labels):
        result.target_drift = _series_drift(ref, ref_column="actual", current=labels)


def _series_drift(
    ref: Reference, *, ref_column: str, current: pd.Series[Any]
) -> FeatureDrift | None:
    """Drift of one column of the held-out predictions (``predicted`` or ``actual``) against
    the same quantity in production; class labels compare as categories."""
    import pandas as pd

    held_out = ref.held_out
    if held_out is None or ref_column not in held_out or not len(current.dropna()):
        return None
    name = "prediction" if ref_column == "predicted" else "target"
    reference_values, current_values = held_out[ref_column], current.reset_index(drop=True)
    categorical: list[str] = []
    if ref.task in ("binary", "multiclass"):
        reference_values = reference_values.astype(str)
        current_values = current_values.astype(str)
        categorical = [name]
    else:
        reference_values = pd.to_numeric(reference_values, errors="coerce")
        current_values = pd.to_numeric(current_values, errors="coerce")
    report: DriftReport = detect_drift(
        pd.DataFrame({name: reference_values}),
        pd.DataFrame({name: current_values}),
        categorical=categorical,
    )
    return report.features[0]


def _judge(result: MonitorResult, config: MonitorConfig) -> None:
    from shipyard.monitor._alerts import evaluate_rules

    result.alerts, result.not_measured = evaluate_rules(config.alerts, result.values())


def _frame_of(current: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(current, str):
        from shipyard.data import load_dataset, resolve_dataset

        found = resolve_dataset(current)
        return load_dataset(found.name, found.version)
    if isinstance(current, pd.DataFrame):
        return current
    raise InvalidInput(
        f"current must be a dataset ref (e.g. 'churn:4') or a DataFrame, "
        f"got {type(current).__name__}."
    )


def _window_dict(
    span: Window, logged: LoggedWindow | None, current: Any, rows: int
) -> dict[str, Any]:
    if current is not None:
        label = current if isinstance(current, str) else "a DataFrame"
        return {"spec": f"dataset {label}", "since": None, "until": None, "rows": rows}
    assert logged is not None
    return {
        "spec": span.describe(),
        "since": None if logged.since is None else logged.since.isoformat(timespec="seconds"),
        "until": logged.until.isoformat(timespec="seconds"),
        "rows": logged.num_rows,
    }
