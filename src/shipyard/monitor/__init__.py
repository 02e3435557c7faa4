"""Monitoring: is production data still the data the model was trained on?

:func:`detect_drift` compares a current data set with a reference one feature by feature —
numeric: Kolmogorov-Smirnov, PSI, normalized Wasserstein, Jensen-Shannon; categorical:
chi-square, PSI, Jensen-Shannon — and returns a :class:`DriftReport` whose share of drifted
features gives the dataset verdict.

Names load on first use (PEP 562): ``import shipyard`` never pays for pandas or scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.core.lazy import lazy_exports

if TYPE_CHECKING:
    from shipyard.monitor._drift import (
        DriftMethod,
        DriftReport,
        FeatureDrift,
        FeatureKind,
        detect_drift,
    )

__all__ = ["DriftMethod", "DriftReport", "FeatureDrift", "FeatureKind", "detect_drift"]

_HOMES = {
    "shipyard.monitor._drift": (
        "DriftMethod",
        "DriftReport",
        "FeatureDrift",
        "FeatureKind",
        "detect_drift",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
