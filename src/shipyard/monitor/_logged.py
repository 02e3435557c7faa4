"""Logged rows as the arrays performance needs: classes, probabilities, predictions, labels and
time windows.

The log keeps classes in the type the model gave them and feedback keeps labels in the type the
caller sent, so a classifier's labels, predictions and classes are compared as **text**, each
cast by Arrow the same way: ``1`` and ``1.0`` both read ``"1"``, booleans read ``"true"`` and
``"false"``, strings stay as they are. A label sent as ``"1"`` therefore matches class ``1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.core.errors import InvalidInput

__all__ = [
    "TASKS",
    "Classified",
    "as_numbers",
    "as_text",
    "check_task",
    "classifier_outputs",
    "performance_frame",
    "window_positions",
]

Array = npt.NDArray[Any]
TASKS = ("binary", "multiclass", "regression")
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


def check_task(task: str) -> None:
    if task not in TASKS:
        raise InvalidInput(
            f"Unknown task {task!r}.", hint=f"Use one of {', '.join(map(repr, TASKS))}."
        )


def performance_frame(data: pa.Table | pd.DataFrame) -> pd.DataFrame:
    """``data`` (an inference log table or :func:`join_feedback`'s frame) as a DataFrame with
    ``ts`` and ``prediction``, rows of one role only: primary and shadow rows share request ids,
    and mixing them would count every request twice."""
    if isinstance(data, pa.Table):
        names = [name for name in data.column_names if name != "inputs"]
        data = data.select(names).to_pandas()
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(
            f"Expected a pyarrow Table or a pandas DataFrame, got {type(data).__name__}.",
            hint="Pass the inference log, or join_feedback(log, feedback).",
        )
    missing = [name for name in ("ts", "prediction") if name not in data.columns]
    if missing:
        raise InvalidInput(
            f"The rows have no {', '.join(missing)} column.",
            hint="Pass rows of the inference log (read_inference_log), joined or not.",
        )
    if not pd.api.types.is_datetime64_any_dtype(data["ts"]) or data["ts"].isna().any():
        raise InvalidInput(f"Column ts must hold timestamps on every row ({data['ts'].dtype}).")
    if "role" in data.columns and data["role"].nunique() > 1:
        raise InvalidInput(
            f"The rows mix roles {sorted(data['role'].dropna().unique().tolist())}.",
            hint="Measure one role at a time, e.g. rows[rows.role == 'primary'].",
        )
    return data


def window_positions(ts: pd.Series[Any], freq: str | None) -> list[tuple[pd.Timestamp, Array]]:
    """The positions of the rows in each window of ``freq`` (``"1h"``, ``"15min"``, ``"1D"``),
    oldest first, windows starting at ``ts`` floored to ``freq``; windows without rows are
    left out."""
    if freq is None or len(ts) == 0:
        return []
    try:
        starts = ts.dt.floor(freq)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"freq={freq!r} is not a fixed pandas frequency ({exc}).",
            hint="Use one such as '15min', '1h' or '1D'.",
        ) from exc
    codes, uniques = pd.factorize(starts, sort=True)
    order = np.argsort(codes, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(codes))[:-1])
    return list(zip(uniques, groups, strict=True))


def as_text(values: pd.Series[Any] | Array | pa.Array | pa.ChunkedArray, what: str) -> Array:
    """``values`` as an object array of strings (nulls as None), cast by Arrow."""
    try:
        array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
        return np.asarray(array.cast(pa.string()).to_numpy(zero_copy_only=False), dtype=object)
    except _ARROW_ERRORS as exc:
        raise InvalidInput(
            f"The {what} cannot be compared as class labels ({exc}).",
            hint="A classifier needs one scalar label per row: a string, number or boolean.",
        ) from exc


def as_numbers(values: pd.Series[Any], what: str) -> Array:
    """``values`` as float64, for regression."""
    try:
        numbers = np.asarray(values.to_numpy(), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Regression needs numeric {what} ({exc}).",
            hint="Use task='binary' or 'multiclass' for a classifier.",
        ) from exc
    if numbers.ndim != 1:
        raise InvalidInput(f"Regression needs one numeric {what[:-1]} per row.")
    return numbers


@dataclass(frozen=True)
class Classified:
    """A classifier's logged outputs: class labels (text), each row's predicted class (text)
    and its probabilities, one column per class."""

    classes: list[str]
    predicted: Array
    proba: Array


def classifier_outputs(frame: pd.DataFrame, task: str) -> Classified:
    """The logged classes, predictions and probabilities of ``frame``'s rows, checked: every row
    has them, the classes are the same on every row, and each prediction is one of them."""
    if len(frame) == 0:
        raise InvalidInput("There are no rows to measure.")
    for name in ("proba", "classes"):
        n_missing = int(frame[name].isna().sum()) if name in frame.columns else len(frame)
        if n_missing:
            raise InvalidInput(
                f"{n_missing} of {len(frame)} rows have no logged {name}.",
                hint="Performance of a classifier needs the probabilities the server logs for "
                "models with predict_proba; measure a regressor with task='regression'.",
            )
    classes = _matrix(frame["classes"], "classes")
    text = as_text(pc.list_flatten(classes), "classes")
    if len(text) < 2 * len(frame):
        raise InvalidInput("A classifier needs at least two logged classes.")
    text = text.reshape(len(frame), -1)
    if not (text == text[0]).all():
        raise InvalidInput(
            "The logged classes differ between rows.",
            hint="Measure rows of one model version at a time.",
        )
    names = text[0].tolist()
    if task == "binary" and len(names) != 2:
        raise InvalidInput(
            f"task='binary' needs two classes; the model logged {len(names)}: {names}.",
            hint="Use task='multiclass'.",
        )
    proba = _matrix(frame["proba"], "proba")
    values = pc.list_flatten(proba).to_numpy(zero_copy_only=False).astype(np.float64)
    if values.size != len(frame) * len(names):
        raise InvalidInput(f"The logged probabilities do not have {len(names)} values per row.")
    if not ((values >= 0) & (values <= 1)).all():  # NaN fails too
        raise InvalidInput("The logged probabilities must lie in [0, 1], without NaN.")
    predicted = as_text(frame["prediction"], "predictions")
    unknown = ~np.isin(predicted, names)
    if unknown.any():
        raise InvalidInput(
            f"{int(unknown.sum())} predictions are not among the classes {names}, "
            f"e.g. {predicted[unknown][0]!r}.",
            hint="Measure a classifier whose predictions are its class labels.",
        )
    return Classified(names, predicted, values.reshape(len(frame), len(names)))


def _matrix(column: pd.Series[Any], name: str) -> pa.Array:
    """A list column with the same number of values on every row."""
    try:
        array = pa.array(column, from_pandas=True)
    except _ARROW_ERRORS as exc:
        raise InvalidInput(f"Column {name} is not a list per row ({exc}).") from exc
    if not pa.types.is_list(array.type) and not pa.types.is_large_list(array.type):
        raise InvalidInput(f"Column {name} holds {array.type}, not a list per row.")
    lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
    if len(lengths) and (lengths != lengths[0]).any():
        raise InvalidInput(f"Column {name} has lists of different lengths.")
    return array
