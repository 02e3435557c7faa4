"""Which features the model leans on, measured on the test rows.

- LightGBM: exact TreeSHAP from LightGBM itself (``pred_contrib=True``), in raw-score units
  (log-odds for binary models, target units for regression).
- Other models, when the optional ``shap`` package is installed: SHAP values from shap's fast
  exact explainers (tree and linear models), computed on the pipeline's encoded columns and
  summed back onto the caller's columns (SHAP values add up, so a one-hot group's sum is its
  column's share).
- Otherwise, or when shap has no such explainer for the model: permutation importance (how
  much the test score drops when a column is shuffled), which the artifact says plainly.

Every method reports one non-negative number per caller column, largest first.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.solutions.tabular._task import Task

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

__all__ = ["Importance", "explain"]

_MAX_ROWS = 1000  # explained rows: mean |SHAP| settles long before this
_BACKGROUND = 100
_RAW_UNITS: dict[Task, str] = {
    "binary": "mean |SHAP| (log-odds)",
    "multiclass": "mean |SHAP| (raw class scores, summed over classes)",
    "regression": "mean |SHAP| (target units)",
}


@dataclass(frozen=True)
class Importance:
    method: str  # "lightgbm_tree_shap", "shap" or "permutation"
    values: dict[str, float]  # feature -> mean |SHAP| (or mean score drop), largest first
    unit: str
    note: str
    rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "unit": self.unit,
            "note": self.note,
            "rows": self.rows,
            "features": [{"feature": k, "importance": v} for k, v in self.values.items()],
        }


def explain(
    estimator: Any, lightgbm: bool, x: pd.DataFrame, y: pd.Series, task: Task, seed: int
) -> Importance:
    """Feature importance of a fitted ``estimator`` on (a sample of) the test rows ``x``."""
    if len(x) > _MAX_ROWS:
        x = x.sample(_MAX_ROWS, random_state=seed)
        y = y.loc[x.index]
    if lightgbm:
        return _lightgbm_shap(estimator, x, task)
    reason = _shap_unavailable()
    if reason is None:
        try:
            return _shap(estimator, x, task)
        except Exception as exc:  # shap has no fast exact explainer for every model
            reason = f"shap could not explain this model: {exc}"
    return _permutation(estimator, x, y, task, seed, reason)


def _ranked(names: list[str], values: npt.NDArray[np.float64]) -> dict[str, float]:
    pairs = sorted(zip(names, values.tolist(), strict=True), key=lambda p: -p[1])
    return {name: float(value) for name, value in pairs}


def _mean_abs(contrib: npt.NDArray[np.float64], task: Task) -> npt.NDArray[np.float64]:
    """Mean |SHAP| per feature of (rows, features[, classes]) values; classes are summed, as
    shap's own bar chart stacks them."""
    import numpy as np

    if contrib.ndim == 3 and task == "binary":
        contrib = contrib[:, :, -1]  # both columns carry the same information, mirrored
    magnitude: npt.NDArray[np.float64] = np.abs(contrib).mean(axis=0)
    return magnitude.sum(axis=1) if magnitude.ndim == 2 else magnitude


def _lightgbm_shap(estimator: Any, x: pd.DataFrame, task: Task) -> Importance:
    import numpy as np

    contrib = np.asarray(estimator.predict(x, pred_contrib=True), dtype="float64")
    width = x.shape[1] + 1  # one column per feature, then the expected value
    contrib = contrib.reshape(len(x), -1, width).transpose(0, 2, 1)[:, :-1, :]
    values = _mean_abs(contrib if contrib.shape[2] > 1 else contrib[:, :, 0], task)
    unit = _RAW_UNITS[task]
    note = "Exact TreeSHAP from LightGBM (pred_contrib=True)."
    return Importance("lightgbm_tree_shap", _ranked(list(x.columns), values), unit, note, len(x))


def _shap_unavailable() -> str | None:
    import importlib.util

    if importlib.util.find_spec("shap") is None:
        return "the optional package shap is not installed"
    return None


def _shap(pipeline: Any, x: pd.DataFrame, task: Task) -> Importance:
    """SHAP of the pipeline's last step on its encoded input, summed back per caller column."""
    import numpy as np

    with warnings.catch_warnings():  # shap's import trips deprecations in newer matplotlib
        warnings.simplefilter("ignore")
        import shap

    prepare, model = pipeline[:-1], pipeline[-1]
    encoded = np.asarray(prepare.transform(x), dtype="float64")
    background = encoded[: min(_BACKGROUND, len(encoded))]
    explainer = shap.Explainer(model, background)
    if type(explainer).__name__ not in ("TreeExplainer", "LinearExplainer"):
        raise TypeError(f"only the slow {type(explainer).__name__} fits it")
    contrib = np.asarray(explainer(encoded).values, dtype="float64")
    owners = [x.columns[i] for i in _owners(pipeline)]
    if len(owners) != encoded.shape[1]:
        raise ValueError("the encoded columns do not map back onto the input columns")
    per_encoded = _mean_abs(contrib, task)
    totals = {name: 0.0 for name in x.columns}
    for owner, value in zip(owners, per_encoded.tolist(), strict=True):
        totals[owner] += value
    names = list(totals)
    note = f"shap {type(explainer).__name__}; one-hot columns summed into their source column."
    ranked = _ranked(names, np.array([totals[n] for n in names]))
    return Importance("shap", ranked, "mean |SHAP|", note, len(x))


def _owners(pipeline: Any) -> list[int]:
    """The input column (position) behind each encoded column of the ColumnTransformer."""
    transformer = pipeline.named_steps["prepare"]
    owners: list[int] = []
    for name, step, selected in transformer.transformers_:
        if name == "remainder" or step == "drop":
            continue
        if name == "categorical":
            sizes = [len(c) for c in step.categories_]
            if getattr(step, "infrequent_categories_", None) is not None:
                sizes = [
                    len(c) - len(inf) + 1 if inf is not None else len(c)
                    for c, inf in zip(step.categories_, step.infrequent_categories_, strict=True)
                ]
            for column, size in zip(selected, sizes, strict=True):
                owners.extend([column] * size)
        else:
            owners.extend(selected)
    return owners


def _permutation(
    estimator: Any, x: pd.DataFrame, y: pd.Series, task: Task, seed: int, reason: str
) -> Importance:
    import numpy as np
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import log_loss, make_scorer

    if task == "regression":
        name, scorer = "r2", "r2"
    else:  # the labels keep log loss defined when a sample lacks a class
        name = "neg_log_loss"
        scorer = make_scorer(
            log_loss,
            greater_is_better=False,
            response_method="predict_proba",
            labels=estimator.classes_,
        )
    result = permutation_importance(estimator, x, y, scoring=scorer, n_repeats=5, random_state=seed)

    drops = np.clip(np.asarray(result.importances_mean, dtype="float64"), 0.0, None)
    note = (
        f"Permutation importance, not SHAP ({reason}): the mean drop in test {name} over 5 "
        "shuffles of each column; 0 means no measurable effect."
    )
    return Importance(
        "permutation", _ranked(list(x.columns), drops), f"mean drop in {name}", note, len(x)
    )
