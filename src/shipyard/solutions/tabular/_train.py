"""Fitting the chosen model: optional tuning on a validation split, early stopping for the
default LightGBM, then one final fit on every training row."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.solutions.tabular._features import Features
from shipyard.solutions.tabular._models import (
    ModelChoice,
    build_estimator,
    search_space,
)
from shipyard.solutions.tabular._split import Split
from shipyard.solutions.tabular._task import Task

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Trained", "train_model", "validation_loss"]

_MAX_TREES = 2000  # the early-stopping ceiling; the validation loss picks the actual count
_PATIENCE = 50


@dataclass(frozen=True)
class Trained:
    """The fitted estimator and the hyperparameters chosen on the validation split (tuned
    ones, and LightGBM's tree count), over the model's defaults."""

    estimator: Any
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Setup:
    choice: ModelChoice
    task: Task
    features: Features
    seed: int


def train_model(
    choice: ModelChoice,
    task: Task,
    features: Features,
    x: pd.DataFrame,
    y: pd.Series,
    *,
    validation: Split | None,
    seed: int,
    tune_trials: int = 0,
) -> Trained:
    """Fit ``choice`` on the training rows ``x``/``y``.

    ``validation`` (positions into ``x``) is where tuning scores its trials and where the
    default LightGBM finds its number of trees; without it LightGBM keeps its default count.
    """
    setup = _Setup(choice, task, features, seed)
    params: dict[str, Any] = {}
    codes = _label_codes(y, task)
    if tune_trials:
        params.update(_tune(setup, x, codes, validation, tune_trials))
    if choice.builtin and choice.lightgbm and validation is not None:
        inner = _fit(setup, x, codes, validation, params)
        params["n_estimators"] = max(1, int(inner.best_iteration_ or _MAX_TREES))
    estimator = build_estimator(
        choice, task, features, seed=seed, n_train=len(x), params=params
    ).fit(x, y)
    return Trained(estimator, params)


def _label_codes(y: pd.Series, task: Task) -> pd.Series:
    """Class labels as 0..k-1 for the fits on a validation split.

    LightGBM 4.7 does not label-encode ``eval_y`` as it does ``y``, so string classes break
    early stopping; on codes, encoding or not is the same. Only the final fit sees the labels.
    """
    if task == "regression":
        return y
    import numpy as np
    import pandas as pd

    _, codes = np.unique(y.to_numpy(), return_inverse=True)
    return pd.Series(codes, index=y.index, name=y.name)


def _fit(
    setup: _Setup, x: pd.DataFrame, y: pd.Series, validation: Split, params: Mapping[str, Any]
) -> Any:
    """Fit on the validation split's training side; LightGBM stops early on its other side.

    For classifiers ``y`` holds the codes from :func:`_label_codes`.
    """
    x_fit, y_fit = x.iloc[validation.train], y.iloc[validation.train]
    x_val, y_val = x.iloc[validation.test], y.iloc[validation.test]
    early = setup.choice.builtin and setup.choice.lightgbm
    overrides = {**params, "n_estimators": _MAX_TREES} if early else params
    estimator = build_estimator(
        setup.choice,
        setup.task,
        setup.features,
        seed=setup.seed,
        n_train=len(x_fit),
        params=overrides,
    )
    if not early:
        return estimator.fit(x_fit, y_fit)
    import lightgbm

    stop = [lightgbm.early_stopping(_PATIENCE, verbose=False)]
    # Newer LightGBM takes eval_X/eval_y and warns about eval_set; older only has eval_set.
    if "eval_X" in inspect.signature(estimator.fit).parameters:
        return estimator.fit(x_fit, y_fit, eval_X=x_val, eval_y=y_val, callbacks=stop)
    return estimator.fit(x_fit, y_fit, eval_set=[(x_val, y_val)], callbacks=stop)


def validation_loss(estimator: Any, task: Task, x: pd.DataFrame, y: pd.Series) -> float:
    """What tuning minimises: log loss for classifiers (a proper score: it rewards calibrated
    probabilities, not only ranking), RMSE for regressors."""
    from sklearn.metrics import log_loss, root_mean_squared_error

    if task == "regression":
        return float(root_mean_squared_error(y, estimator.predict(x)))
    return float(log_loss(y, estimator.predict_proba(x), labels=estimator.classes_))


def _tune(
    setup: _Setup, x: pd.DataFrame, y: pd.Series, validation: Split | None, trials: int
) -> dict[str, Any]:
    from shipyard.tuning import tune

    space = search_space(setup.choice, setup.task)
    # train_tabular checks both before its run starts, so a user never meets these.
    assert space is not None and validation is not None

    x_val, y_val = x.iloc[validation.test], y.iloc[validation.test]

    def objective(params: Mapping[str, Any]) -> float:
        fitted = _fit(setup, x, y, validation, _plain(params))
        return validation_loss(fitted, setup.task, x_val, y_val)

    result = tune(
        objective,
        space=space,
        n_trials=trials,
        direction="minimize",
        executor="local",
        workers=1,
        seed=setup.seed,
        name=f"tune-{setup.choice.name}",
    )
    return _plain(result.best_params)


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """numpy scalars as Python numbers: estimators and params logging both want them."""
    return {key: value.item() if hasattr(value, "item") else value for key, value in params.items()}
