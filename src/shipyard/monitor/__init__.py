"""Monitoring: is production data still the data the model was trained on?

:func:`detect_drift` compares a current data set with a reference one feature by feature —
numeric: Kolmogorov-Smirnov, PSI, normalized Wasserstein, Jensen-Shannon; categorical:
chi-square, PSI, Jensen-Shannon — and returns a :class:`DriftReport` whose share of drifted
features gives the dataset verdict.

Names load on first use (PEP 562): ``import shipyard`` never pays for pandas or scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
_WHERE = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.monitor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
