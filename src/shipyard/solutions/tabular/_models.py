"""The models ``train_tabular`` knows by name, and how each is built around the features.

LightGBM is fitted on the prepared frame directly (it reads ``category`` columns natively), so
it is logged in LightGBM's own text format. Every other model sits behind a scikit-learn
``ColumnTransformer`` (median-impute and scale numbers, one-hot encode text) inside one
``Pipeline``, so the logged model takes the caller's raw columns.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import InvalidInput
from shipyard.solutions.tabular._features import Features
from shipyard.solutions.tabular._task import Task

__all__ = ["LIGHTGBM", "ModelChoice", "build_estimator", "choose_model", "search_space"]

LIGHTGBM = "lightgbm"
# Threads pay off only on larger tables: on a few thousand rows OpenMP threads mostly wait on
# each other, and on a busy machine one thread was 10x faster than two (LightGBM, wine data).
_THREADED_ROWS = 20_000
_MAX_THREADS = 4
_MAX_ONE_HOT = 50  # per column; rarer categories share one "infrequent" column

# name: (classifier, regressor, defaults); a None side does not exist for that task.
_SKLEARN: dict[str, tuple[str | None, str | None, dict[str, Any]]] = {
    "logistic_regression": ("sklearn.linear_model:LogisticRegression", None, {"max_iter": 2000}),
    "linear_regression": (None, "sklearn.linear_model:LinearRegression", {}),
    "ridge": (None, "sklearn.linear_model:Ridge", {}),
    "random_forest": (
        "sklearn.ensemble:RandomForestClassifier",
        "sklearn.ensemble:RandomForestRegressor",
        {"n_jobs": 1},  # set by threads() when built
    ),
    "extra_trees": (
        "sklearn.ensemble:ExtraTreesClassifier",
        "sklearn.ensemble:ExtraTreesRegressor",
        {"n_jobs": 1},  # set by threads() when built
    ),
    "hist_gradient_boosting": (
        "sklearn.ensemble:HistGradientBoostingClassifier",
        "sklearn.ensemble:HistGradientBoostingRegressor",
        {},
    ),
}


@dataclass(frozen=True)
class ModelChoice:
    """What to train: a model known by name, or a caller's estimator (cloned before fitting)."""

    name: str
    lightgbm: bool  # native LightGBM on the prepared frame; else a scikit-learn pipeline
    estimator: Any = None  # the caller's instance, if they passed one

    @property
    def builtin(self) -> bool:
        """Built by name, with Shipyard's defaults (and search space for tuning)."""
        return self.estimator is None


def choose_model(model: Any, task: Task) -> ModelChoice:
    """Check ``model`` (a name or an estimator instance) against the task."""
    if isinstance(model, str):
        key = model.strip().lower().replace("-", "_")
        if key == LIGHTGBM:
            return ModelChoice(LIGHTGBM, lightgbm=True)
        spec = _SKLEARN.get(key)
        if spec is None:
            raise InvalidInput(
                f"Unknown model {model!r}.",
                hint=f"Use one of: {', '.join(_names(task))}, or pass an estimator instance.",
            )
        if spec[0 if task != "regression" else 1] is None:
            raise InvalidInput(
                f"Model {model!r} does not do {task} prediction.",
                hint=f"For {task}, use one of: {', '.join(_names(task))}.",
            )
        return ModelChoice(key, lightgbm=False)
    return _check_instance(model, task)


def _names(task: Task) -> list[str]:
    side = 0 if task != "regression" else 1
    return [LIGHTGBM] + [name for name, spec in _SKLEARN.items() if spec[side] is not None]


def _check_instance(model: Any, task: Task) -> ModelChoice:
    from sklearn.base import is_classifier, is_regressor

    kind = type(model).__name__
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        raise InvalidInput(
            f"model must be a model name or a scikit-learn-style estimator; got a {kind}.",
            hint=f"Use one of: {', '.join(_names(task))}, or e.g. RandomForestClassifier().",
        )
    wanted = "regressor" if task == "regression" else "classifier"
    if not (is_regressor(model) if task == "regression" else is_classifier(model)):
        raise InvalidInput(
            f"The {kind} is not a {wanted}, and the target asks for {task} prediction.",
            hint=f"Pass a {wanted}, or set task= to what you mean.",
        )
    if task != "regression" and not hasattr(model, "predict_proba"):
        raise InvalidInput(
            f"The {kind} has no predict_proba; ROC, log loss and calibration need probabilities.",
            hint="Use a probabilistic classifier, or wrap it in CalibratedClassifierCV.",
        )
    lightgbm = type(model).__module__.startswith("lightgbm")
    return ModelChoice(kind, lightgbm=lightgbm, estimator=model)


def lightgbm_defaults(n_train: int, seed: int) -> dict[str, Any]:
    """Shallow trees, row and column subsampling and mild L2: a good first model on most
    tables; small tables get smaller leaves so trees can still split."""
    return {
        "n_estimators": 300,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_child_samples": max(2, min(20, n_train // 10)),
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "random_state": seed,
        "n_jobs": threads(n_train),
        "verbose": -1,
    }


def threads(n_train: int) -> int:
    """How many threads a built-in model uses for ``n_train`` training rows."""
    if n_train < _THREADED_ROWS:
        return 1
    return max(1, min(_MAX_THREADS, os.cpu_count() or 1))


def thread_limit(n_train: int) -> Any:
    """A context that holds OpenMP to :func:`threads`: scikit-learn's HistGradientBoosting
    has no ``n_jobs`` and otherwise takes every core (10x slower on small tables)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads(n_train), user_api="openmp")


def build_estimator(
    choice: ModelChoice,
    task: Task,
    features: Features,
    *,
    seed: int,
    n_train: int,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """A fresh, unfitted estimator for ``choice``, with ``params`` over its defaults."""
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline

    params = dict(params or {})
    if choice.estimator is not None:
        estimator = clone(choice.estimator).set_params(**params)
        if choice.lightgbm or isinstance(estimator, Pipeline):
            return estimator  # LightGBM reads the prepared frame; a pipeline prepares its own
        return _pipeline(estimator, features)
    if choice.lightgbm:
        import lightgbm

        cls = lightgbm.LGBMRegressor if task == "regression" else lightgbm.LGBMClassifier
        return cls(**{**lightgbm_defaults(n_train, seed), **params})
    classifier, regressor, defaults = _SKLEARN[choice.name]
    path = regressor if task == "regression" else classifier
    assert path is not None  # choose_model refused the model for this task
    module, _, name = path.partition(":")
    if "n_jobs" in defaults:
        defaults = {**defaults, "n_jobs": threads(n_train)}
    estimator = getattr(importlib.import_module(module), name)(**defaults)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    return _pipeline(estimator.set_params(**params), features)


def _pipeline(estimator: Any, features: Features) -> Any:
    """``estimator`` behind the preprocessing, columns picked by position.

    Positions, not names: the logged model's signature always hands it the columns in
    training order, and skl2onnx can then convert the pipeline to one ONNX graph over a single
    numeric tensor (names would need one ONNX input per column).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    position = {name: i for i, name in enumerate(features.columns)}
    parts: list[tuple[str, Any, list[int]]] = []
    if features.numeric:
        numbers = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        parts.append(("numeric", numbers, [position[c] for c in features.numeric]))
    if features.categorical:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=_MAX_ONE_HOT,
            sparse_output=False,  # some estimators (HistGradientBoosting) refuse sparse input
        )
        parts.append(("categorical", encoder, [position[c] for c in features.categorical]))
    return Pipeline([("prepare", ColumnTransformer(parts)), ("model", estimator)])


def search_space(choice: ModelChoice, task: Task) -> dict[str, Any] | None:
    """The hyperparameters tuning explores for a model known by name; None: nothing to tune."""
    if not choice.builtin:
        return None
    from shipyard.tuning import integer, loguniform, uniform

    if choice.lightgbm:
        return {
            "learning_rate": loguniform(0.01, 0.3),
            "num_leaves": integer(4, 64),
            "min_child_samples": integer(2, 50),
            "colsample_bytree": uniform(0.4, 1.0),
            "reg_lambda": loguniform(1e-3, 10.0),
        }
    trees = {
        "min_samples_leaf": integer(1, 20),
        "max_features": uniform(0.2, 1.0),
    }
    spaces: dict[str, dict[str, Any]] = {
        "logistic_regression": {"C": loguniform(1e-3, 100.0)},
        "ridge": {"alpha": loguniform(1e-3, 100.0)},
        "random_forest": trees,
        "extra_trees": trees,
        "hist_gradient_boosting": {
            "learning_rate": loguniform(0.01, 0.3),
            "max_leaf_nodes": integer(4, 64),
            "l2_regularization": loguniform(1e-3, 10.0),
        },
    }
    return spaces.get(choice.name)
