"""The outcome of one monitor run, and the flat numbers alert rules are judged on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from shipyard.monitor._drift import DriftReport, FeatureDrift
from shipyard.monitor._quality import QualityResult

__all__ = ["MonitorResult"]


@dataclass
class MonitorResult:
    """What a monitor run found: drift, data quality, performance, and the alerts they raised.

    ``id`` is the tracking run that stores it (``None`` when it was not stored); ``retrain``
    links the retraining the alerts started, if any.
    """

    target: str
    target_kind: str  # "deployment", "model" or "dataset"
    model: dict[str, Any] | None
    reference: dict[str, Any]
    window: dict[str, Any]
    started_at: str
    duration_s: float = 0.0
    drift: DriftReport | None = None
    prediction_drift: FeatureDrift | None = None
    target_drift: FeatureDrift | None = None
    quality: QualityResult | None = None
    performance: dict[str, Any] | None = None
    alerts: list[Any] = field(default_factory=list)  # monitor._alerts.Alert
    not_measured: list[str] = field(default_factory=list)  # rules with nothing to judge
    notes: list[str] = field(default_factory=list)
    retrain: dict[str, Any] | None = None
    id: str | None = None

    @property
    def status(self) -> str:
        return "alert" if self.alerts else "ok"

    @property
    def drifted_columns(self) -> list[str]:
        return [] if self.drift is None else self.drift.drifted_columns

    def values(self) -> dict[str, float]:
        """Every measured number by the name an alert rule uses (``drift_share``,
        ``missing_rate{age}``, ``roc_auc_drop`` …)."""
        values: dict[str, float] = {"rows": float(self.window.get("rows") or 0)}
        if self.drift is not None:
            values["drift_share"] = self.drift.drift_share
            values["drifted_features"] = float(len(self.drift.drifted_columns))
            values["dataset_drift"] = float(self.drift.dataset_drift)
            for one in self.drift.features:
                values[f"drift{{{one.column}}}"] = one.statistic
                values[f"drifted{{{one.column}}}"] = float(one.drifted)
        for name, feature in (
            ("prediction_drift", self.prediction_drift),
            ("target_drift", self.target_drift),
        ):
            if feature is not None:
                values[name] = feature.statistic
                values[name.replace("_drift", "_drifted")] = float(feature.drifted)
        if self.quality is not None:
            values.update(self.quality.values())
        for section in ("realized", "estimated"):
            prefix = "" if section == "realized" else "estimated_"
            for key, value in ((self.performance or {}).get(section) or {}).items():
                if isinstance(value, int | float) and key != "n_labeled":
                    values[f"{prefix}{key}"] = float(value)
        for key, value in ((self.performance or {}).get("drops") or {}).items():
            if value is not None:
                values[key] = float(value)
        return {key: value for key, value in values.items() if not math.isnan(value)}

    def to_dict(self) -> dict[str, Any]:
        def feature(f: FeatureDrift | None) -> dict[str, Any] | None:
            return None if f is None else f.to_dict()

        return {
            "id": self.id,
            "target": self.target,
            "target_kind": self.target_kind,
            "model": self.model,
            "reference": self.reference,
            "window": self.window,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "status": self.status,
            "drift": None if self.drift is None else self.drift.to_dict(),
            "prediction_drift": feature(self.prediction_drift),
            "target_drift": feature(self.target_drift),
            "quality": None if self.quality is None else self.quality.to_dict(),
            "performance": self.performance,
            "alerts": [alert.to_dict() for alert in self.alerts],
            "not_measured": list(self.not_measured),
            "notes": list(self.notes),
            "retrain": self.retrain,
        }
