"""XGBoost models in XGBoost's JSON format: scikit-learn-API models and raw Boosters.

Everything loads back as an ``xgboost.Booster``. Predictions use ``inplace_predict`` (no DMatrix
copy) limited to the best iteration when early stopping recorded one, as the scikit-learn API
does; classifiers map class indices back to the original ``classes_``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from shipyard.models._flavor import Flavor, built_on, distribution_versions

__all__ = ["XGBoostFlavor"]

_FILE = "model.json"


class XGBoostFlavor(Flavor):
    """``XGBClassifier``/``XGBRegressor``/``XGBRanker`` and ``xgboost.Booster``."""

    name: ClassVar[str] = "xgboost"

    def handles(self, model: object) -> bool:
        return built_on(model, "xgboost")

    def save(
        self, model: Any, files: dict[str, bytes], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        booster = model.get_booster() if hasattr(model, "get_booster") else model
        files[_FILE] = bytes(booster.save_raw("json"))
        names = {cls.__name__ for cls in type(model).__mro__}
        model_type = "booster"
        for kind in ("Classifier", "Regressor", "Ranker"):
            if f"XGB{kind}" in names or f"XGBRF{kind}" in names:
                model_type = kind.lower()
        objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
        meta: dict[str, Any] = {
            "format": "json",
            "file": _FILE,
            "model_type": model_type,
            "objective": objective,
        }
        if model_type == "classifier":
            meta["classes"] = np.asarray(model.classes_).tolist()
        return meta

    def load(self, read: Callable[[str], bytes], meta: Mapping[str, Any]) -> Any:
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(bytearray(read(meta.get("file", _FILE))))
        return booster

    def predict(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        raw = self._raw(model, inputs)
        if meta.get("model_type") != "classifier":
            return raw
        if raw.ndim == 2:
            index = np.argmax(raw, axis=1)
        elif meta.get("objective") == "multi:softmax":
            index = raw.astype(np.int64)
        else:
            index = (raw > 0.5).astype(np.int64)
        return np.asarray(meta["classes"])[index]

    def predict_proba(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        if meta.get("model_type") != "classifier" or meta.get("objective") == "multi:softmax":
            return super().predict_proba(model, inputs, meta)
        raw = self._raw(model, inputs)
        return np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw

    def _raw(self, model: Any, inputs: Any) -> Any:
        best = model.attr("best_iteration")
        iterations = (0, int(best) + 1) if best is not None else (0, 0)
        return np.asarray(model.inplace_predict(inputs, iteration_range=iterations))

    def library_versions(self) -> dict[str, str]:
        return distribution_versions(["xgboost", "numpy"])
