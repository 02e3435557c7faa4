"""Holding rows out: stratified for classes, by time when a time column orders the rows,
random otherwise; always seeded, so a run can be repeated."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipyard.core.errors import InvalidInput
from shipyard.solutions.tabular._task import Task

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

__all__ = ["MIN_TEST_ROWS", "Split", "holdout", "split_rows", "time_values"]

MIN_TEST_ROWS = 5
# Below this many training rows a validation split is too small to steer anything: LightGBM
# keeps its default tree count and tuning is refused.
_MIN_HOLDOUT_ROWS = 50


@dataclass(frozen=True)
class Split:
    """Row positions (``iloc``) of the two sides, and how they were chosen."""

    train: npt.NDArray[np.intp]
    test: npt.NDArray[np.intp]
    method: str  # "stratified", "time" or "random"


def split_rows(
    y: pd.Series,
    task: Task,
    *,
    test_size: float,
    seed: int,
    times: pd.Series | None = None,
) -> Split:
    """Split the rows of ``y``: the latest ``test_size`` share by ``times`` when given (ties
    keep their input order), else a seeded random share, stratified by class for classifiers.
    """
    import numpy as np

    n = len(y)
    n_test = math.ceil(n * test_size)
    if n_test < MIN_TEST_ROWS or n - n_test < MIN_TEST_ROWS:
        raise InvalidInput(
            f"test_size={test_size} splits {n} rows into {n - n_test} for training and {n_test} "
            f"for testing; each side needs at least {MIN_TEST_ROWS}.",
            hint="Choose a test_size that leaves enough rows on both sides, or add rows.",
        )
    if times is not None:
        order = np.argsort(time_values(times), kind="stable")
        split = Split(np.sort(order[: n - n_test]), np.sort(order[n - n_test :]), "time")
        if task != "regression":
            _require_known_classes(y, split)
        return split
    from sklearn.model_selection import train_test_split

    stratify = None
    if task != "regression":
        classes = y.nunique()
        if min(n_test, n - n_test) < classes:
            side = "test" if n_test < classes else "training"
            raise InvalidInput(
                f"test_size={test_size} leaves {min(n_test, n - n_test)} rows for {side}, too "
                f"few to hold each of the {classes} classes.",
                hint=f"{'Raise' if side == 'test' else 'Lower'} test_size, or add rows.",
            )
        stratify = y.to_numpy()
    train, test = train_test_split(
        np.arange(n), test_size=n_test, random_state=seed, stratify=stratify
    )
    method = "random" if stratify is None else "stratified"
    return Split(np.sort(train), np.sort(test), method)


def holdout(
    y: pd.Series, task: Task, *, seed: int, times: pd.Series | None = None, share: float = 0.2
) -> Split | None:
    """A validation split of training rows (early stopping, tuning); None when too few rows."""
    if len(y) < _MIN_HOLDOUT_ROWS:
        return None
    try:
        return split_rows(y, task, test_size=share, seed=seed, times=times)
    except InvalidInput:
        return None


def time_values(column: pd.Series) -> npt.NDArray[np.generic]:
    """A time column as sortable values: numbers and datetimes as they are, ISO 8601 text parsed."""
    import pandas as pd

    if column.isna().any():
        raise InvalidInput(
            f"The time column {column.name!r} has {int(column.isna().sum())} missing values.",
            hint="Fill them in or drop those rows: every row needs a time to be split by it.",
        )
    dtype = column.dtype
    try:
        if not (
            pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)
        ):
            column = pd.to_datetime(column, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(
            f"The time column {column.name!r} holds {dtype} values that are not dates: {exc}.",
            hint="Use datetimes, numbers, or text in ISO 8601 form (2024-05-31T12:00).",
        ) from None
    values: npt.NDArray[np.generic] = column.to_numpy()
    return values


def _require_known_classes(y: pd.Series, split: Split) -> None:
    seen = set(y.iloc[split.train].unique().tolist())
    new = sorted({v for v in y.iloc[split.test].unique().tolist() if v not in seen}, key=str)
    if new:
        raise InvalidInput(
            f"Classes {new} of {y.name!r} occur only in the latest rows, which the time split "
            "holds out for testing; the model could never learn them.",
            hint="Lower test_size, or split without time_column.",
        )
