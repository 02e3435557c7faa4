"""Monitoring: is production data still the data the model was trained on?

:func:`monitor` watches a deployment: a window of its inference log against the model's
training-data profile (drift, data quality), its held-out predictions (prediction drift) and
the labels that arrived (performance, estimated before they arrive); alert rules, sinks and a
retrain policy close the loop. :func:`detect_drift` compares a current data set with a
reference one feature by feature — numeric: Kolmogorov-Smirnov, PSI, normalized Wasserstein,
Jensen-Shannon; categorical: chi-square, PSI, Jensen-Shannon — and returns a
:class:`DriftReport` whose share of drifted features gives the dataset verdict.

Names load on first use (PEP 562): ``import shipyard`` never pays for pandas or scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.core.lazy import lazy_exports

if TYPE_CHECKING:
    from shipyard.monitor._calibration import (
        Calibration,
        expected_calibration_error,
        fit_calibration,
    )
    from shipyard.monitor._drift import (
        DriftMethod,
        DriftReport,
        FeatureDrift,
        FeatureKind,
        detect_drift,
    )
    from shipyard.monitor._estimate import estimate_performance
    from shipyard.monitor._feedback import join_feedback
    from shipyard.monitor._labeled import labeled_window
    from shipyard.monitor._monitor import monitor
    from shipyard.monitor._performance import (
        PerformanceReport,
        WindowPerformance,
        compare_with_reference,
        realized_performance,
    )
    from shipyard.monitor._result import MonitorResult
    from shipyard.monitor._store import (
        alert_count,
        latest_monitor_runs,
        list_monitor_runs,
        load_result,
    )

__all__ = [
    "Calibration",
    "DriftMethod",
    "DriftReport",
    "FeatureDrift",
    "FeatureKind",
    "MonitorResult",
    "PerformanceReport",
    "WindowPerformance",
    "alert_count",
    "compare_with_reference",
    "detect_drift",
    "estimate_performance",
    "expected_calibration_error",
    "fit_calibration",
    "join_feedback",
    "labeled_window",
    "latest_monitor_runs",
    "list_monitor_runs",
    "load_result",
    "monitor",
    "realized_performance",
]

_HOMES = {
    "shipyard.monitor._drift": (
        "DriftMethod",
        "DriftReport",
        "FeatureDrift",
        "FeatureKind",
        "detect_drift",
    ),
    "shipyard.monitor._calibration": (
        "Calibration",
        "expected_calibration_error",
        "fit_calibration",
    ),
    "shipyard.monitor._estimate": ("estimate_performance",),
    "shipyard.monitor._feedback": ("join_feedback",),
    "shipyard.monitor._labeled": ("labeled_window",),
    "shipyard.monitor._performance": (
        "PerformanceReport",
        "WindowPerformance",
        "compare_with_reference",
        "realized_performance",
    ),
    "shipyard.monitor._monitor": ("monitor",),
    "shipyard.monitor._result": ("MonitorResult",),
    "shipyard.monitor._store": (
        "alert_count",
        "latest_monitor_runs",
        "list_monitor_runs",
        "load_result",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
