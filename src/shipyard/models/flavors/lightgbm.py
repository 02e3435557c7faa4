"""LightGBM models in LightGBM's own text format: scikit-learn-API models and raw Boosters.

Everything loads back as a ``lightgbm.Booster``; for classifiers the original ``classes_`` are
kept in the metadata so predictions come back as the original labels, not class indices.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from shipyard.models._flavor import Flavor, built_on, distribution_versions

if TYPE_CHECKING:
    from shipyard.models._signature import Signature

__all__ = ["LightGBMFlavor"]

_FILE = "model.txt"


class LightGBMFlavor(Flavor):
    """``LGBMClassifier``/``LGBMRegressor``/``LGBMRanker`` and ``lightgbm.Booster``."""

    name: ClassVar[str] = "lightgbm"

    def handles(self, model: object) -> bool:
        return built_on(model, "lightgbm")

    def save(
        self, model: Any, files: dict[str, bytes], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        booster = model.booster_ if hasattr(model, "booster_") else model
        files[_FILE] = booster.model_to_string().encode()
        meta: dict[str, Any] = {"format": "text", "file": _FILE, "model_type": _model_type(model)}
        if meta["model_type"] == "classifier":
            meta["classes"] = np.asarray(model.classes_).tolist()
        return meta

    def load(self, read: Callable[[str], bytes], meta: Mapping[str, Any]) -> Any:
        import lightgbm

        return lightgbm.Booster(model_str=read(meta.get("file", _FILE)).decode())

    def predict(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        if meta.get("model_type") != "classifier":
            return _booster_predict(model, inputs)
        proba = self.predict_proba(model, inputs, meta)
        return np.asarray(meta["classes"])[np.argmax(proba, axis=1)]

    def predict_proba(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        if meta.get("model_type") != "classifier":
            return super().predict_proba(model, inputs, meta)
        return _two_columns(np.asarray(_booster_predict(model, inputs)))

    def to_onnx(self, model: Any, signature: Signature, example: Any) -> bytes | None:
        from shipyard.models._onnx import convert_lightgbm

        return convert_lightgbm(model, signature)

    def library_versions(self) -> dict[str, str]:
        return distribution_versions(["lightgbm", "numpy"])


_SMALL_BATCH = 1_000


def _booster_predict(model: Any, inputs: Any) -> Any:
    """Small batches on one thread: starting OpenMP's team costs more than it saves there, and
    on a busy machine its threads make the latency tail jump (milliseconds for one row)."""
    threads = 1 if len(inputs) < _SMALL_BATCH else 0  # 0: LightGBM's default
    return model.predict(inputs, num_threads=threads)


def _model_type(model: Any) -> str:
    names = {cls.__name__ for cls in type(model).__mro__}
    if "LGBMClassifier" in names:
        return "classifier"
    if "LGBMRegressor" in names:
        return "regressor"
    if "LGBMRanker" in names:
        return "ranker"
    return "booster"


def _two_columns(proba: Any) -> Any:
    """Binary boosters return P(class 1) only; classifiers report both columns."""
    return np.column_stack([1.0 - proba, proba]) if proba.ndim == 1 else proba
