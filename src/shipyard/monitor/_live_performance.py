"""The performance section of a monitor run: realized from the labels that arrived, estimated
from calibrated confidence where they have not, both beside the model's held-out figures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput
from shipyard.monitor._feedback import join_feedback
from shipyard.monitor._performance import PerformanceReport, compare_with_reference

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.monitor._calibration import Calibration
    from shipyard.monitor._reference import Reference
    from shipyard.monitor._window import LoggedWindow

__all__ = ["performance_section"]

_CLASSIFIERS = ("binary", "multiclass")


def performance_section(
    ref: Reference, logged: LoggedWindow, deployment: str
) -> tuple[pd.Series[Any] | None, dict[str, Any] | None]:
    """The labels that arrived for the window's rows, and the performance dict of the result."""
    from shipyard.core.config import resolve_settings
    from shipyard.monitor._estimate import estimate_performance
    from shipyard.monitor._performance import realized_performance
    from shipyard.serve import read_feedback

    if ref.task is None:
        return None, None
    feedback = read_feedback(resolve_settings().artifacts, deployment, since=logged.since)
    joined = join_feedback(logged.log, feedback)
    labels = joined["label"].dropna()
    freq = _frequency(joined["ts"])
    section: dict[str, Any] = {
        "task": ref.task,
        "reference": dict(ref.metrics),
        "realized": None,
        "estimated": None,
        "calibration": None,
        "drops": {},
        "windows": [],
    }
    realized = estimated = None
    if len(labels):
        realized = realized_performance(joined, ref.task, freq=freq)
        section["realized"] = _summary(realized)
        section["drops"].update(_drops(realized, ref.metrics, ""))
    with_proba = joined[joined["proba"].notna().to_numpy()]
    if ref.task in _CLASSIFIERS and len(with_proba):
        calibration = _calibration(ref)
        if calibration is not None:
            section["calibration"] = calibration.to_dict()
        # Rows logged without probabilities (sampled out of proba logging) cannot be estimated.
        estimated = estimate_performance(with_proba, ref.task, calibration=calibration, freq=freq)
        section["estimated"] = _summary(estimated)
        section["drops"].update(_drops(estimated, ref.metrics, "estimated_"))
    section["windows"] = _windows(realized, estimated)
    return labels, section


def _calibration(ref: Reference) -> Calibration | None:
    """Fitted on the model's held-out predictions, when the training logged them."""
    from shipyard.monitor._calibration import fit_calibration

    held_out, classes = ref.held_out, ref.classes
    if held_out is None or classes is None:
        return None
    columns = [f"proba_{label}" for label in classes]
    if not all(column in held_out for column in columns) or "actual" not in held_out:
        return None
    try:
        return fit_calibration(
            held_out[columns].to_numpy(), held_out["actual"].to_numpy(), classes=list(classes)
        )
    except InvalidInput:  # too few rows, or one outcome only: estimate uncalibrated
        return None


def _summary(report: PerformanceReport) -> dict[str, Any]:
    from shipyard.evaluation._records import json_number

    return {
        **{name: json_number(value) for name, value in report.metrics.items()},
        "n_labeled": report.n_labeled,
        "label_coverage": json_number(report.label_coverage),
    }


def _drops(report: PerformanceReport, reference: dict[str, float], prefix: str) -> dict[str, Any]:
    from shipyard.evaluation._records import HIGHER_IS_BETTER

    now = {k: v for k, v in report.metrics.items() if k in HIGHER_IS_BETTER}
    then = {k: v for k, v in reference.items() if k in now}
    if not then:
        return {}
    return {f"{prefix}{key}": value for key, value in compare_with_reference(now, then).items()}


def _windows(
    realized: PerformanceReport | None, estimated: PerformanceReport | None
) -> list[dict[str, Any]]:
    by_start: dict[str, dict[str, Any]] = {}
    for kind, report in (("realized", realized), ("estimated", estimated)):
        for window in [] if report is None else report.windows:
            entry = by_start.setdefault(
                window.start.isoformat(),
                {"start": window.start.isoformat(), "realized": None, "estimated": None},
            )
            entry[kind] = window.to_dict()["metrics"] or None
    return [by_start[key] for key in sorted(by_start)]


def _frequency(ts: pd.Series[Any]) -> str:
    """Windows of a sensible width for the span the rows cover."""
    if ts.empty:
        return "1h"
    span = (ts.max() - ts.min()).total_seconds()
    if span <= 2 * 3600:
        return "10min"
    return "1h" if span <= 2 * 86_400 else "1D"
